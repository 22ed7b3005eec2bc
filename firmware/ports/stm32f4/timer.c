/* STM32F4 time: SysTick at 1 kHz from the core clock; port_time_us adds the counter value. */
#include "internal.h"

#include "port.h"

#define STM32_TICK_CYCLES (BOARD_SYSCLK_HZ / 1000u)
#define STM32_CYCLES_PER_US (BOARD_SYSCLK_HZ / 1000000u)

static volatile uint32_t stm32_ms;      /* SysTick periods since start */
static uint32_t stm32_last_us;          /* the last value port_time_us returned */

void stm32_timer_init(void)
{
    SYST_RVR = STM32_TICK_CYCLES - 1u;
    SYST_CVR = 0u;
    SYST_CSR = SYST_CSR_CLKSOURCE | SYST_CSR_TICKINT | SYST_CSR_ENABLE;
}

void stm32_systick_irq(void)
{
    stm32_ms++;
}

/* Milliseconds times 1000 plus the cycles counted down since the last reload, in whole
   microseconds; the product wraps modulo 2^32 like the microseconds themselves. Interrupts are
   masked for the read, so a reload whose exception has not been taken yet shows as PENDSTSET
   in ICSR, read after the counter: that millisecond is counted here, and the counter is read
   again, after the reload for certain. Without PENDSTSET the counter was read before the
   reload. Under QEMU the CPU can stall for more than a tick while guest time runs on (host
   load) and two reloads then merge into one exception: the clock loses a millisecond, and
   the last value returned keeps it from stepping back. */
uint32_t port_time_us(void)
{
    uint32_t primask = stm32_irq_save();
    uint32_t ms = stm32_ms;
    uint32_t count = SYST_CVR;
    uint32_t now;
    if ((SCB_ICSR & SCB_ICSR_PENDSTSET) != 0u) {
        ms++;
        count = SYST_CVR;
    }
    if (count > STM32_TICK_CYCLES - 1u)
        count = STM32_TICK_CYCLES - 1u;
    now = ms * 1000u + ((STM32_TICK_CYCLES - 1u) - count) / STM32_CYCLES_PER_US;
    if ((int32_t)(now - stm32_last_us) < 0)
        now = stm32_last_us;
    stm32_last_us = now;
    stm32_irq_restore(primask);
    return now;
}
