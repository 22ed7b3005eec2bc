/* AVR port (ATmega328P, ATmega2560): what main.c, uart.c and timer.c share. */
#ifndef AVR_INTERNAL_H
#define AVR_INTERNAL_H

#include <stdint.h>

#include <avr/io.h>

#ifndef F_CPU
#define F_CPU 16000000UL             /* Arduino Uno and Mega crystal */
#endif

#ifndef BAUD
#define BAUD 115200UL                /* build with BAUD=250000, 500000 or 1000000 for more */
#endif

/* The chip variants differ in the USART0 vector names only. */
#if defined(__AVR_ATmega328P__)
#define AVR_USART0_RX_vect USART_RX_vect
#elif defined(__AVR_ATmega2560__)
#define AVR_USART0_RX_vect USART0_RX_vect
#else
#error "AVR port: only the ATmega328P and the ATmega2560 are supported"
#endif

/* Receive ring size (a power of two, at most 128). The host sends the next request only
   after the reply (lockstep), but within a request the main loop must keep up: each
   mb_server_feed walks every byte held, so at high baud rates bytes pile up while a long
   request (the 119-byte config write) is framed. At 250000 a 32-byte ring overflows during
   the 57-byte FC23 step request; 128 holds any whole request. Sizes measured under simavr
   in docs/firmware-avr.md. */
#ifndef AVR_RX_RING
#if BAUD >= 250000UL
#define AVR_RX_RING 128u
#else
#define AVR_RX_RING 32u
#endif
#endif

/* RTU inter-frame silence: 3.5 characters of 10 bits, in microseconds (the spec fixes 1750 us
   above 19200 baud; the shorter one is fine on a lockstep link and keeps the turn-around short). */
#ifndef AVR_IDLE_US
#define AVR_IDLE_US ((uint16_t)(35000000UL / (BAUD) + 1u))
#endif

// uart.c

/* USART0 at BAUD, 8N1, receive interrupt on. */
void avr_uart_init(void);

/* The oldest received bytes, contiguous in the ring and all from before the next line
   silence: sets *data, returns how many; they stay put until avr_uart_consume. Returns 0
   with *silence = 1 (once) when a 3.5-character silence comes before any byte left. */
uint8_t avr_uart_take(const uint8_t **data, uint8_t *silence);

/* Release the first n bytes returned by avr_uart_take. */
void avr_uart_consume(uint8_t n);

/* Nonzero when bytes or a silence wait for avr_uart_take. */
uint8_t avr_uart_pending(void);

/* The silence alarm (timer.c) went off: no byte for AVR_IDLE_US. Interrupt context. */
void avr_uart_silence(void);

/* Send a NUL-terminated string (in flash: PSTR, or in RAM) with interrupts off (port_fault). */
void avr_uart_write_polled(const char *text, uint8_t in_flash);

// timer.c

/* Timer1 free-running at F_CPU/8 (0.5 us a tick), overflow interrupt on. */
void avr_timer_init(void);

/* Call avr_uart_silence once, us microseconds from now (at most 32767); restarts it. */
void avr_timer_alarm(uint16_t us);

/* Longest wait of avr_timer_wake: Timer1 wraps every 32768 us. */
#define AVR_WAKE_MAX_US 30000u

/* Wake the CPU (compare A interrupt) us microseconds from now, at most AVR_WAKE_MAX_US later
   (a longer wait wakes early: the main loop then polls again); restarts it. */
void avr_timer_wake(uint32_t us);

#endif /* AVR_INTERNAL_H */
