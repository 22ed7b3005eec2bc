/* AVR port: port_time_us() from Timer1 at F_CPU/8 (0.5 us ticks) and an overflow count;
   compare B is the UART silence alarm, compare A the real-time step alarm. */
#include "internal.h"

#include <avr/interrupt.h>
#include <util/atomic.h>

#include "port.h"

#if F_CPU != 16000000UL
#error "timer.c: the tick arithmetic assumes F_CPU = 16 MHz (2 ticks a microsecond)"
#endif

static volatile uint32_t avr_timer_overflows;

// Timer1 overflow: every 65536 ticks (32.768 ms)
ISR(TIMER1_OVF_vect)
{
    avr_timer_overflows++;
}

// Compare B: the alarm of avr_timer_alarm, once
ISR(TIMER1_COMPB_vect)
{
    TIMSK1 &= (uint8_t)~(1u << OCIE1B);
    avr_uart_silence();
}

// Compare A: the step alarm of avr_timer_wake, once; waking the CPU is all it does
ISR(TIMER1_COMPA_vect)
{
    TIMSK1 &= (uint8_t)~(1u << OCIE1A);
}

void avr_timer_wake(uint32_t us)
{
    if (us > AVR_WAKE_MAX_US)
        us = AVR_WAKE_MAX_US;                 /* longer waits: wake, poll, sleep again */
    OCR1A = (uint16_t)(TCNT1 + 2u * (uint16_t)us + 2u);
    TIFR1 = (uint8_t)(1u << OCF1A);
    TIMSK1 |= (uint8_t)(1u << OCIE1A);
}

void avr_timer_alarm(uint16_t us)
{
    OCR1B = (uint16_t)(TCNT1 + 2u * us + 2u);  /* 2 ticks a microsecond; 1 us late, never early */
    TIFR1 = (uint8_t)(1u << OCF1B);
    TIMSK1 |= (uint8_t)(1u << OCIE1B);
}

void avr_timer_init(void)
{
    TCCR1A = 0;
    TCCR1B = (uint8_t)(1u << CS11);          /* normal mode, clk/8 */
    TCNT1 = 0;
    TIFR1 = (uint8_t)(1u << TOV1);
    TIMSK1 = (uint8_t)(1u << TOIE1);
}

uint32_t port_time_us(void)
{
    uint32_t high;
    uint16_t low;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
        low = TCNT1;
        high = avr_timer_overflows;
        /* an overflow pending but not yet counted: the low half has already wrapped */
        if ((TIFR1 & (1u << TOV1)) != 0u && low < 0x8000u)
            high++;
    }
    /* ticks = high * 65536 + low, halved: wraps modulo 2^32 like the tick count */
    return (high << 15) | (uint32_t)(low >> 1);
}
