/* STM32F4 port: register definitions and what main.c, uart.c, timer.c, clock.c, startup.c share. */
#ifndef STM32_INTERNAL_H
#define STM32_INTERNAL_H

#include <stdint.h>

#include "board.h"      /* boards/<board>/board.h, chosen by BOARD= at build time */

/* Only the registers this port touches (RM0090 for the F405, RM0390 for the F446; the
   blocks used here sit at the same addresses with the same layout on both). */
#define STM32_REG(addr) (*(volatile uint32_t *)(addr))

/* Cortex-M4 system control space */
#define SYST_CSR    STM32_REG(0xE000E010u)      /* SysTick control and status */
#define SYST_RVR    STM32_REG(0xE000E014u)      /* reload value */
#define SYST_CVR    STM32_REG(0xE000E018u)      /* current value (counts down) */
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)            /* 1: processor clock */
#define NVIC_ISER(n) STM32_REG(0xE000E100u + 4u * (n))
#define NVIC_ICER(n) STM32_REG(0xE000E180u + 4u * (n))
#define SCB_ICSR    STM32_REG(0xE000ED04u)
#define SCB_ICSR_PENDSTSET (1u << 26)           /* SysTick exception pending */
#define SCB_VTOR    STM32_REG(0xE000ED08u)
#define SCB_CPACR   STM32_REG(0xE000ED88u)
#define SCB_CPACR_CP10_CP11_FULL (0xFu << 20)

/* RCC, PWR, FLASH interface */
#define RCC_BASE       0x40023800u
#define RCC_CR         STM32_REG(RCC_BASE + 0x00u)
#define RCC_PLLCFGR    STM32_REG(RCC_BASE + 0x04u)
#define RCC_CFGR       STM32_REG(RCC_BASE + 0x08u)
#define RCC_AHB1ENR    STM32_REG(RCC_BASE + 0x30u)
#define RCC_APB1ENR    STM32_REG(RCC_BASE + 0x40u)
#define RCC_APB2ENR    STM32_REG(RCC_BASE + 0x44u)
#define RCC_CR_HSIRDY  (1u << 1)
#define RCC_CR_PLLON   (1u << 24)
#define RCC_CR_PLLRDY  (1u << 25)
#define RCC_CFGR_SW_PLL   2u
#define RCC_CFGR_SWS_MASK (3u << 2)
#define RCC_CFGR_SWS_PLL  (2u << 2)
#define RCC_APB1ENR_PWREN (1u << 28)
#define PWR_CR         STM32_REG(0x40007000u)
#define PWR_CSR        STM32_REG(0x40007004u)
#define PWR_CR_VOS_SCALE1 (3u << 14)
#define PWR_CR_ODEN    (1u << 16)               /* F446 over-drive (180 MHz) */
#define PWR_CR_ODSWEN  (1u << 17)
#define PWR_CSR_ODRDY  (1u << 16)
#define PWR_CSR_ODSWRDY (1u << 17)
#define FLASH_ACR      STM32_REG(0x40023C00u)
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN   (1u << 9)
#define FLASH_ACR_DCEN   (1u << 10)

/* GPIO port registers, base from the board header (GPIOx = 0x40020000 + 0x400 * x) */
#define GPIO_MODER(base)   STM32_REG((base) + 0x00u)
#define GPIO_OSPEEDR(base) STM32_REG((base) + 0x08u)
#define GPIO_PUPDR(base)   STM32_REG((base) + 0x0Cu)
#define GPIO_AFR(base, n)  STM32_REG((base) + 0x20u + 4u * (n))

/* USART registers (F4 "v1" USART: SR/DR, not ISR/RDR/TDR) */
#define USART_SR(base)   STM32_REG((base) + 0x00u)
#define USART_DR(base)   STM32_REG((base) + 0x04u)
#define USART_BRR(base)  STM32_REG((base) + 0x08u)
#define USART_CR1(base)  STM32_REG((base) + 0x0Cu)
#define USART_CR2(base)  STM32_REG((base) + 0x10u)
#define USART_CR3(base)  STM32_REG((base) + 0x14u)
#define USART_SR_ORE   (1u << 3)
#define USART_SR_RXNE  (1u << 5)
#define USART_SR_TC    (1u << 6)
#define USART_SR_TXE   (1u << 7)
#define USART_CR1_RE     (1u << 2)
#define USART_CR1_TE     (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_CR1_UE     (1u << 13)

#define STM32_BAUD 115200u
/* Modbus over serial line 2.5.1.1: above 19200 baud the 3.5-character silence is a fixed
   1.75 ms (3.5 characters at 115200 would be 0.3 ms, shorter than a USB-serial gap). */
#define STM32_IDLE_US 1750u
/* Under QEMU the line is a pty: bytes have no timing, and a busy host can stall QEMU's byte
   delivery for milliseconds inside one frame. The host port's 50 ms applies there. */
#define STM32_IDLE_EMULATED_US 50000u

/* Interrupt mask: save PRIMASK and disable, restore */
static inline uint32_t stm32_irq_save(void)
{
    uint32_t primask;
    __asm__ volatile ("mrs %0, primask\n\tcpsid i" : "=r"(primask) : : "memory");
    return primask;
}

static inline void stm32_irq_restore(uint32_t primask)
{
    __asm__ volatile ("msr primask, %0" : : "r"(primask) : "memory");
}

// clock.c

/* Set up the system clock the board header asks for (PLL or the reset HSI). */
void stm32_clock_init(void);

/* Running under an emulator that does not model the RCC (QEMU): the HSI, which clocks every
   STM32F4 out of reset, does not report ready. */
int stm32_emulated(void);

// timer.c

/* SysTick at 1 kHz from the processor clock: port_time_us() runs from then on. */
void stm32_timer_init(void);

/* SysTick exception: one more millisecond. */
void stm32_systick_irq(void);

// uart.c

/* The board's USART at 115200 8N1, receiving by interrupt into a ring. */
void stm32_uart_init(void);

/* Move up to `size` received bytes out of the ring; returns how many. */
uint16_t stm32_uart_read(uint8_t *out, uint16_t size);

/* Nothing received and waiting in the ring (call with interrupts masked to sleep safely). */
int stm32_uart_empty(void);

/* Receive ring overflows and USART overruns since start (for a debugger). */
extern volatile uint32_t stm32_uart_overruns;

/* The board USART's interrupt: received bytes into the ring. */
void stm32_usart_irq(void);

// startup.c

/* Reset: FPU on, .data copied, .bss zeroed, then main(). */
void stm32_reset(void);

/* Any exception or interrupt without a handler: a fault. */
void stm32_unexpected_irq(void);

#endif /* STM32_INTERNAL_H */
