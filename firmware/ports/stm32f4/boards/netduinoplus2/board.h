/* Netduino Plus 2 (STM32F405RG), the board QEMU emulates as `-M netduinoplus2`. */
#ifndef BOARD_H
#define BOARD_H

#define BOARD_NAME "netduinoplus2"

/* 168 MHz from the PLL fed by the 16 MHz HSI: 16 / M 16 * N 336 / P 2; Q 7 gives 48 MHz.
   APB1 = 42 MHz (/4), APB2 = 84 MHz (/2); 5 flash wait states at 3.3 V.
   QEMU does not model the RCC (it reads as zero) and clocks the core at a fixed 168 MHz,
   so clock.c bounds its waits and the same image runs on QEMU and on the board. */
#define BOARD_SYSCLK_HZ   168000000u
#define BOARD_USE_PLL     1
#define BOARD_OVERDRIVE   0
#define BOARD_PLL_M       16u
#define BOARD_PLL_N       336u
#define BOARD_PLL_P       2u
#define BOARD_PLL_Q       7u
#define BOARD_FLASH_WS    5u
#define BOARD_CFGR_PPRE   ((5u << 10) | (4u << 13))   /* PPRE1 /4, PPRE2 /2 */

/* USART1 on PA9 (TX) / PA10 (RX), AF7, on APB2: QEMU connects it to the first -serial. */
#define BOARD_USART_BASE     0x40011000u
#define BOARD_USART_PCLK_HZ  84000000u
#define BOARD_USART_IRQ      37u
#define BOARD_USART_ENR      RCC_APB2ENR
#define BOARD_USART_EN_BIT   (1u << 4)
#define BOARD_GPIO_BASE      0x40020000u               /* GPIOA */
#define BOARD_GPIO_EN_BIT    (1u << 0)                 /* RCC_AHB1ENR GPIOAEN */
#define BOARD_TX_PIN         9u
#define BOARD_RX_PIN         10u
#define BOARD_USART_AF       7u

#endif /* BOARD_H */
