/* AVR port: USART0 receive into a ring on the interrupt, polled transmit (port_uart_write). */
#include "internal.h"

#include <avr/interrupt.h>
#include <avr/pgmspace.h>
#include <util/atomic.h>

#include "port.h"

#define BAUD_TOL 3                   /* 115200 at 16 MHz: U2X gives +2.1 %, plain -3.5 % */
#include <util/setbaud.h>

static volatile uint8_t avr_rx_ring[AVR_RX_RING];
static volatile uint8_t avr_rx_head;     /* written by the receive interrupt */
static volatile uint8_t avr_rx_tail;     /* written by the main loop */
static volatile uint8_t avr_rx_count;    /* bytes received, modulo 256 */
static uint8_t avr_rx_fed;               /* bytes consumed by the main loop, modulo 256 */
static volatile uint8_t avr_silence_at;  /* avr_rx_count when the last silence came */
static volatile uint8_t avr_silence_seen;

// A byte received: into the ring (dropped when full: the framing then drops the request),
// and the silence alarm restarted
ISR(AVR_USART0_RX_vect)
{
    uint8_t byte = UDR0;
    uint8_t next = (uint8_t)((avr_rx_head + 1u) & (AVR_RX_RING - 1u));
    if (next != avr_rx_tail) {
        avr_rx_ring[avr_rx_head] = byte;
        avr_rx_head = next;
        avr_rx_count++;
    }
    avr_timer_alarm(AVR_IDLE_US);
}

void avr_uart_silence(void)
{
    avr_silence_at = avr_rx_count;
    avr_silence_seen = 1;
}

void avr_uart_init(void)
{
    /* U2X first, then the divisor: the same on silicon, and simavr computes its byte
       time when UBRR0L is written, from the U2X bit at that moment */
#if USE_2X
    UCSR0A = (uint8_t)(1u << U2X0);
#else
    UCSR0A = 0;
#endif
    UBRR0H = UBRRH_VALUE;
    UBRR0L = UBRRL_VALUE;
    UCSR0C = (uint8_t)((1u << UCSZ01) | (1u << UCSZ00));     /* 8N1 */
    UCSR0B = (uint8_t)((1u << RXEN0) | (1u << TXEN0) | (1u << RXCIE0));
}

uint8_t avr_uart_take(const uint8_t **data, uint8_t *silence)
{
    uint8_t head, tail, n, seen, before;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
        head = avr_rx_head;
        seen = avr_silence_seen;
        before = (uint8_t)(avr_silence_at - avr_rx_fed);
        if (seen && before == 0u)
            avr_silence_seen = 0;
    }
    tail = avr_rx_tail;
    *silence = seen && before == 0u;
    if (*silence)
        return 0;
    /* the interrupt writes only outside [tail, head): these bytes stay put until consumed */
    *data = (const uint8_t *)&avr_rx_ring[tail];
    n = (uint8_t)((head >= tail ? head : AVR_RX_RING) - tail);
    return seen && before < n ? before : n;
}

void avr_uart_consume(uint8_t n)
{
    avr_rx_tail = (uint8_t)((avr_rx_tail + n) & (AVR_RX_RING - 1u));
    avr_rx_fed = (uint8_t)(avr_rx_fed + n);
}

uint8_t avr_uart_pending(void)
{
    return avr_rx_head != avr_rx_tail || avr_silence_seen;
}

// Send one byte, waiting for room in the transmit register
static void avr_uart_put(uint8_t byte)
{
    while ((UCSR0A & (1u << UDRE0)) == 0u) {
    }
    UDR0 = byte;
}

void port_uart_write(const uint8_t *data, uint16_t len)
{
    while (len-- > 0u)
        avr_uart_put(*data++);
}

void avr_uart_write_polled(const char *text, uint8_t in_flash)
{
    char c;
    UCSR0A |= (uint8_t)(1u << TXC0);     /* writing 1 clears it: set again once all is out */
    while ((c = in_flash ? (char)pgm_read_byte(text) : *text) != '\0') {
        avr_uart_put((uint8_t)c);
        text++;
    }
    while ((UCSR0A & (1u << TXC0)) == 0u) {
    }
}
