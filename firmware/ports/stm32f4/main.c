/* STM32F4 firmware: the core serving Modbus RTU on the board's USART at 115200 baud. */
#include "internal.h"

#include "app.h"
#include "mb_server.h"
#include "port.h"

#define STM32_UNIT 1u

static struct app stm32_app;
static struct mb_server stm32_server;

/* The message of the fault that stopped the firmware, for a debugger. */
static const char *volatile stm32_fault_message;

// Send a text line on the USART (only after a fault: the host then sees garbage and timeouts)
static void stm32_say(const char *text)
{
    uint16_t n = 0u;
    while (text[n] != '\0' && n < 200u)
        n++;
    port_uart_write((const uint8_t *)text, n);
}

/* Safe state: interrupts off, nothing more received or answered, the reason on the line,
   then stop. The board drives no actuators; a lander would cut the engines here first. */
void port_fault(const char *message)
{
    (void)stm32_irq_save();
    stm32_fault_message = message;
    NVIC_ICER(BOARD_USART_IRQ / 32u) = 1u << (BOARD_USART_IRQ % 32u);
    SYST_CSR = 0u;
    stm32_say("\r\nskycrane fault: ");
    stm32_say(message);
    stm32_say("\r\n");
    for (;;)
        __asm__ volatile ("wfi");
}

int main(void)
{
    uint8_t chunk[64];
    uint32_t last_rx_us = 0u;
    int partial = 0;                        /* bytes fed since the last silence */
    uint32_t idle_us, primask;
    stm32_clock_init();
    idle_us = stm32_emulated() ? STM32_IDLE_EMULATED_US : STM32_IDLE_US;
    stm32_timer_init();
    app_init(&stm32_app);
    mb_server_init(&stm32_server, STM32_UNIT, app_read, app_write, &stm32_app);
    stm32_uart_init();
    for (;;) {
        uint16_t n = stm32_uart_read(chunk, sizeof(chunk));
        uint32_t now = port_time_us();
        if (n > 0u) {
            /* Whatever the ring holds per pass, not byte by byte (docs/firmware.md) */
            mb_server_feed(&stm32_server, chunk, n);
            last_rx_us = now;
            partial = 1;
            continue;
        }
        if (partial && now - last_rx_us >= idle_us) {
            mb_server_idle(&stm32_server);
            partial = 0;
        }
        /* Real-time: a step (or the watchdog) that is due runs here. Its wait needs no alarm
           of its own: the 1 ms SysTick wakes the loop, so a step starts within 1 ms of its
           due time (at the same phase every period: the spacing stays exact). */
        if (app_poll(&stm32_app) == 0u)
            continue;
        /* Sleep until the next interrupt (a byte, or the 1 ms tick that also times the
           silence and the steps); masked so that a byte arriving between the check and the
           WFI still wakes it */
        primask = stm32_irq_save();
        if (stm32_uart_empty())
            __asm__ volatile ("wfi");
        stm32_irq_restore(primask);
    }
}
