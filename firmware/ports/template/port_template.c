/* Template port: core/port.h and the hardware set-up main.c calls, as commented stubs.
   Compiles on the host (make template-check) so it cannot rot; it does not run: nothing
   here touches hardware. Replace every stub body; keep the contract each comment states. */
#include "internal.h"

#include "port.h"

/* A stand-in for the hardware counter, so the stubs compile without one. */
static volatile uint32_t template_ticks;

/* The message of the fault that stopped the firmware, for a debugger. */
static const char *volatile template_fault_message;

void template_timer_init(void)
{
    /* Start a free-running timer (SysTick, a 16/32-bit timer plus an overflow interrupt) from
       a clock whose rate is known at compile time. Nothing here may allocate: the firmware
       has no heap. */
    template_ticks = 0u;
}

/*
 * port_time_us: microseconds since any fixed moment, free-running, wrapping modulo 2^32.
 * The core (step_time_us, the real-time schedule, the watchdog) and the host (the *_tick_us
 * registers) use only differences of readings, so the epoch does not matter, but the value
 * must not step back (apart from the wrap): a timer read racing its own overflow interrupt
 * must be handled (see ports/avr/timer.c, ports/stm32f4/timer.c). Called from the main loop
 * only (inside app_poll and mb_server_feed), never from an interrupt. Resolution: 1 us is
 * ideal; a coarser clock makes step times and the real-time schedule coarser.
 */
uint32_t port_time_us(void)
{
    /* Read the counter and the overflow count with interrupts masked; convert ticks to us. */
    return template_ticks;
}

void template_uart_init(void)
{
    /* Pins to the UART function, TEMPLATE_BAUD 8N1, the receive interrupt on: its handler
       puts each byte into a ring (a power-of-two size, no locks: the interrupt writes the
       head, the main loop the tail). A full ring drops the byte; the request's CRC then
       fails and the host repeats it. */
}

uint16_t template_uart_read(uint8_t *out, uint16_t size)
{
    /* Copy up to `size` bytes from the ring's tail and advance it; return how many. */
    (void)out;
    (void)size;
    return 0u;
}

void template_wait(uint32_t us)
{
    /* Sleep (WFI, sleep_cpu) until an interrupt: a received byte, or an alarm armed `us` from
       now (skip the alarm for APP_POLL_IDLE). Mask interrupts around "is the ring empty?" and
       the sleep, so a byte arriving between the check and the sleep still wakes the CPU. A
       busy loop is correct too, only hotter. */
    (void)us;
}

/*
 * port_uart_write: send a whole reply (at most MB_ADU_MAX bytes) on the line. The core calls
 * it from mb_server_feed, i.e. from the main loop, and reuses `data` (the server's reply
 * buffer) for the next reply as soon as this returns: so either block until the last byte
 * is in the transmitter (polled, as ports/avr and ports/stm32f4 do) or copy the bytes into
 * a transmit ring. On a half-duplex line (RS-485), turn the driver off only after the last
 * stop bit (transmission complete, not just "register empty").
 */
void port_uart_write(const uint8_t *data, uint16_t len)
{
    /* For each byte: wait for room in the transmit register, write the byte. Then wait for
       transmission complete, so the buffer is free and the line idle when this returns. */
    (void)data;
    (void)len;
}

/*
 * port_fault: the core found a bug in itself (never bad input from the line: that gets a
 * Modbus exception). Do not return. Put the vehicle in its safe state first (engines off:
 * throttle 0 on the actuator outputs, if the board drives any), then interrupts off, the
 * message on the line as text if it can be sent with interrupts off (the host sees garbage
 * and times out, which is the point), and stop until a reset (sleep or spin). Keep a
 * pointer to `message` where a debugger finds it. ports/avr and ports/stm32f4 define it in
 * main.c, next to the state it stops.
 */
void port_fault(const char *message)
{
    /* engines off, interrupts off, the message out (polled), then: */
    template_fault_message = message;
    for (;;) {
    }
}
