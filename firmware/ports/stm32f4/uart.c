/* STM32F4 serial line: the board's USART, receive interrupt into a ring, polled transmit. */
#include "internal.h"

#include "port.h"

#define STM32_RING_SIZE 256u            /* a power of two: the 8-bit indices wrap with it */

static volatile uint8_t stm32_ring[STM32_RING_SIZE];
static volatile uint8_t stm32_ring_head;    /* written by the interrupt */
static volatile uint8_t stm32_ring_tail;    /* written by the main loop */
volatile uint32_t stm32_uart_overruns;

void stm32_uart_init(void)
{
    const uint32_t gpio = BOARD_GPIO_BASE;
    const uint32_t tx2 = 2u * BOARD_TX_PIN, rx2 = 2u * BOARD_RX_PIN;
    RCC_AHB1ENR |= BOARD_GPIO_EN_BIT;
    BOARD_USART_ENR |= BOARD_USART_EN_BIT;
    (void)BOARD_USART_ENR;                  /* the clock reaches the peripheral */
    /* Both pins alternate function, high speed, pull-up on RX so an open line idles high */
    GPIO_MODER(gpio) = (GPIO_MODER(gpio) & ~((3u << tx2) | (3u << rx2))) | (2u << tx2) | (2u << rx2);
    GPIO_OSPEEDR(gpio) |= (2u << tx2) | (2u << rx2);
    GPIO_PUPDR(gpio) = (GPIO_PUPDR(gpio) & ~(3u << rx2)) | (1u << rx2);
    GPIO_AFR(gpio, BOARD_TX_PIN / 8u) = (GPIO_AFR(gpio, BOARD_TX_PIN / 8u)
        & ~(0xFu << (4u * (BOARD_TX_PIN % 8u)))) | (BOARD_USART_AF << (4u * (BOARD_TX_PIN % 8u)));
    GPIO_AFR(gpio, BOARD_RX_PIN / 8u) = (GPIO_AFR(gpio, BOARD_RX_PIN / 8u)
        & ~(0xFu << (4u * (BOARD_RX_PIN % 8u)))) | (BOARD_USART_AF << (4u * (BOARD_RX_PIN % 8u)));
    /* 8N1, oversampling by 16: BRR is the clock divided by the baud rate, rounded */
    USART_CR1(BOARD_USART_BASE) = 0u;
    USART_CR2(BOARD_USART_BASE) = 0u;
    USART_CR3(BOARD_USART_BASE) = 0u;
    USART_BRR(BOARD_USART_BASE) = (BOARD_USART_PCLK_HZ + STM32_BAUD / 2u) / STM32_BAUD;
    USART_CR1(BOARD_USART_BASE) = USART_CR1_UE | USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE;
    NVIC_ISER(BOARD_USART_IRQ / 32u) = 1u << (BOARD_USART_IRQ % 32u);
}

void stm32_usart_irq(void)
{
    uint32_t sr = USART_SR(BOARD_USART_BASE);
    if ((sr & (USART_SR_RXNE | USART_SR_ORE)) != 0u) {
        uint8_t byte = (uint8_t)USART_DR(BOARD_USART_BASE);   /* SR then DR clears ORE too */
        uint8_t head = stm32_ring_head;
        uint8_t next = (uint8_t)(head + 1u);
        if ((sr & USART_SR_ORE) != 0u)
            stm32_uart_overruns++;
        if (next == stm32_ring_tail) {
            stm32_uart_overruns++;          /* ring full: the byte is lost, the CRC will tell */
        } else {
            stm32_ring[head] = byte;
            stm32_ring_head = next;
        }
    }
}

uint16_t stm32_uart_read(uint8_t *out, uint16_t size)
{
    uint16_t n = 0u;
    uint8_t tail = stm32_ring_tail;
    while (n < size && tail != stm32_ring_head) {
        out[n++] = stm32_ring[tail];
        tail = (uint8_t)(tail + 1u);
    }
    stm32_ring_tail = tail;
    return n;
}

int stm32_uart_empty(void)
{
    return stm32_ring_tail == stm32_ring_head;
}

/* Blocks until the last stop bit is out, so the reply buffer is free when this returns. */
void port_uart_write(const uint8_t *data, uint16_t len)
{
    uint16_t i;
    for (i = 0u; i < len; i++) {
        while ((USART_SR(BOARD_USART_BASE) & USART_SR_TXE) == 0u) {
        }
        USART_DR(BOARD_USART_BASE) = data[i];
    }
    while ((USART_SR(BOARD_USART_BASE) & USART_SR_TC) == 0u) {
    }
}
