/* ST NUCLEO-F446RE (STM32F446RE), USART2 through the ST-LINK virtual COM port. */
#ifndef BOARD_H
#define BOARD_H

#define BOARD_NAME "nucleo-f446re"

/* 0: the 16 MHz HSI, the reset clock, as built and documented. 1: 180 MHz from the PLL
   (HSI / M 8 * N 180 / P 2, over-drive on, 5 wait states, APB1 45 MHz, APB2 90 MHz),
   written after RM0390 5.1.4 but not yet tried on a board. */
#define BOARD_FAST_CLOCK 0

#if BOARD_FAST_CLOCK
#define BOARD_SYSCLK_HZ   180000000u
#define BOARD_USE_PLL     1
#define BOARD_USART_PCLK_HZ  45000000u
#else
#define BOARD_SYSCLK_HZ   16000000u
#define BOARD_USE_PLL     0
#define BOARD_USART_PCLK_HZ  16000000u
#endif
#define BOARD_OVERDRIVE   1
#define BOARD_PLL_M       8u
#define BOARD_PLL_N       180u
#define BOARD_PLL_P       2u
#define BOARD_PLL_Q       7u
#define BOARD_FLASH_WS    5u
#define BOARD_CFGR_PPRE   ((5u << 10) | (4u << 13))   /* PPRE1 /4, PPRE2 /2 */

/* USART2 on PA2 (TX) / PA3 (RX), AF7, on APB1: the ST-LINK virtual COM port */
#define BOARD_USART_BASE     0x40004400u
#define BOARD_USART_IRQ      38u
#define BOARD_USART_ENR      RCC_APB1ENR
#define BOARD_USART_EN_BIT   (1u << 17)
#define BOARD_GPIO_BASE      0x40020000u               /* GPIOA */
#define BOARD_GPIO_EN_BIT    (1u << 0)                 /* RCC_AHB1ENR GPIOAEN */
#define BOARD_TX_PIN         2u
#define BOARD_RX_PIN         3u
#define BOARD_USART_AF       7u

#endif /* BOARD_H */
