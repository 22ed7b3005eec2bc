/* Template port: main() and the loop every port runs (ports/avr/main.c, ports/stm32f4/main.c,
   and ports/host/main.c with poll() in place of the sleep). Copy to ports/<name>/main.c. */
#include "internal.h"

#include "app.h"
#include "mb_server.h"
#include "port.h"

/* Static, like everything else: the firmware has no heap. */
static struct app template_app;
static struct mb_server template_server;

int main(void)
{
    uint8_t chunk[TEMPLATE_CHUNK];
    uint32_t last_rx_us = 0u;
    int partial = 0;                    /* bytes fed since the last silence */
    /* The clock first: every step, the real-time schedule and read_tick_us read port_time_us. */
    template_timer_init();
    app_init(&template_app);
    mb_server_init(&template_server, TEMPLATE_UNIT, app_read, app_write, &template_app);
    /* The UART last: no byte arrives before the server can take it. */
    template_uart_init();
    for (;;) {
        uint32_t now, wait;
        uint16_t n = template_uart_read(chunk, sizeof(chunk));
        now = port_time_us();
        if (n > 0u) {
            /* Any amount, any split: the server frames the stream itself and answers each
               whole request through port_uart_write (lockstep: the control step runs here). */
            mb_server_feed(&template_server, chunk, n);
            last_rx_us = now;
            partial = 1;
            continue;                   /* drain the ring before anything else */
        }
        if (partial && now - last_rx_us >= TEMPLATE_IDLE_US) {
            /* 3.5 characters of silence: the frame so far ends; a partial one is dropped. */
            mb_server_idle(&template_server);
            partial = 0;
        }
        /* Real-time: runs a step or the watchdog that is due, then says how long until the
           next one (0: due again now; APP_POLL_IDLE: nothing scheduled). Every pass. */
        wait = app_poll(&template_app);
        if (wait == 0u)
            continue;
        /* Sleep no longer than app_poll said, nor past the silence deadline. */
        if (partial && TEMPLATE_IDLE_US - (now - last_rx_us) < wait)
            wait = TEMPLATE_IDLE_US - (now - last_rx_us);
        template_wait(wait);
    }
}
