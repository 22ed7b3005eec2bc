/* STM32F4 system clock: the PLL from the HSI when the board asks for it, else the reset HSI. */
#include "internal.h"

/* Polls before giving up on a clock flag. QEMU does not model the RCC (its registers read
   as zero), so there every wait ends here, after a few milliseconds, and QEMU's own fixed
   core clock applies; on silicon the flags come within microseconds. */
#define STM32_CLOCK_POLLS 100000u

#if BOARD_USE_PLL
// Wait until (reg & mask) == value, a bounded number of polls
static void stm32_clock_wait(volatile uint32_t *reg, uint32_t mask, uint32_t value)
{
    uint32_t polls;
    for (polls = 0u; polls < STM32_CLOCK_POLLS && (*reg & mask) != value; polls++) {
    }
}
#endif

void stm32_clock_init(void)
{
#if BOARD_USE_PLL
    /* Bits 28..31 keep their reset value (reserved on the F405, PLLR = 2 on the F446) */
    RCC_PLLCFGR = (RCC_PLLCFGR & 0xF0000000u) | BOARD_PLL_M | (BOARD_PLL_N << 6)
                  | ((BOARD_PLL_P / 2u - 1u) << 16) | (BOARD_PLL_Q << 24);   /* PLLSRC 0: HSI */
    RCC_CR |= RCC_CR_PLLON;
#if BOARD_OVERDRIVE
    /* Above 168 MHz the F446 needs over-drive (RM0390 5.1.4), entered while the PLL locks */
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    (void)RCC_APB1ENR;
    PWR_CR |= PWR_CR_ODEN;
    stm32_clock_wait(&PWR_CSR, PWR_CSR_ODRDY, PWR_CSR_ODRDY);
    PWR_CR |= PWR_CR_ODSWEN;
    stm32_clock_wait(&PWR_CSR, PWR_CSR_ODSWRDY, PWR_CSR_ODSWRDY);
#endif
    /* Wait states and bus prescalers before the clock goes up */
    FLASH_ACR = BOARD_FLASH_WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    RCC_CFGR = BOARD_CFGR_PPRE;
    stm32_clock_wait(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY);
    RCC_CFGR = BOARD_CFGR_PPRE | RCC_CFGR_SW_PLL;
    stm32_clock_wait(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL);
#endif
}

int stm32_emulated(void)
{
    return (RCC_CR & RCC_CR_HSIRDY) == 0u;
}
