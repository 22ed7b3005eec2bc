/* AVR firmware (Arduino Uno / Mega): the core serving Modbus RTU on USART0. */
#include "internal.h"

#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <avr/sleep.h>

#include "app.h"
#include "mb_server.h"
#include "port.h"

#define AVR_UNIT 1u                  /* Modbus unit address */

static struct app avr_app;
static struct mb_server avr_server;

void port_fault(const char *message)
{
    /* Safe state: nothing runs any more, so no command changes; on a vehicle the actuator
       outputs would be set to throttle 0 here. The message goes out as text (a bug, not
       traffic), then the CPU sleeps with interrupts off: only a reset leaves this. */
    cli();
    avr_uart_write_polled(PSTR("\r\nskycrane-avr: fault: "), 1);
    avr_uart_write_polled(message, 0);
    avr_uart_write_polled(PSTR("\r\n"), 1);
    set_sleep_mode(SLEEP_MODE_PWR_DOWN);
    sleep_enable();
    for (;;)
        sleep_cpu();
}

int main(void)
{
    const uint8_t *rx;
    avr_timer_init();
    avr_uart_init();
    app_init(&avr_app);
    mb_server_init(&avr_server, AVR_UNIT, app_read, app_write, &avr_app);
    set_sleep_mode(SLEEP_MODE_IDLE);     /* USART and timers keep running */
    sei();
    for (;;) {
        uint8_t silence;
        uint32_t wait;
        uint8_t n = avr_uart_take(&rx, &silence);
        if (n > 0u) {
            mb_server_feed(&avr_server, rx, n);     /* straight from the ring: no copy */
            avr_uart_consume(n);
            continue;
        }
        if (silence) {
            /* 3.5 characters without a byte: the frame so far ends (nothing if it was whole).
               The silence is an event of the timer, in byte order: no clock is compared. */
            mb_server_idle(&avr_server);
            continue;
        }
        /* Real-time: a step (or the watchdog) that is due runs here; then the wait until
           the next one, on which the compare A alarm wakes the CPU. */
        wait = app_poll(&avr_app);
        if (wait == 0u)
            continue;
        /* Nothing to do until a byte, the silence alarm, the step alarm or a timer overflow
           interrupts. Checked with interrupts off, and `sei; sleep` runs the sleep before any
           pending interrupt: one that comes after the check (or an alarm that matches before
           the sleep) still wakes the CPU. */
        cli();
        if (!avr_uart_pending()) {
            if (wait != APP_POLL_IDLE)
                avr_timer_wake(wait);
            sleep_enable();
            sei();
            sleep_cpu();
            sleep_disable();
        }
        sei();
    }
}
