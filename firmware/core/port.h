/* The port contract: everything the portable core asks of a target, and nothing more. */
#ifndef PORT_H
#define PORT_H

#include <stdint.h>

/*
 * A port is firmware/ports/<name>/; start from ports/template/ (stubs of everything below,
 * compiled by `make template-check` and tests/test_port_template.py). It holds:
 *   main.c       main(): start the clock, app_init, mb_server_init, and only then let bytes
 *                in (the UART's receive interrupt). The loop feeds received bytes to
 *                mb_server_feed, calls mb_server_idle after a 3.5-character silence, calls
 *                app_poll every pass and sleeps no longer than the wait it returns (nor past
 *                the silence)
 *   port_<name>.c  the functions below; or split by peripheral, as ports/avr and
 *                ports/stm32f4 do (port_time_us in timer.c, port_uart_write in uart.c,
 *                port_fault in main.c)
 *   internal.h   what the port's files share: vendor headers, registers, chip #if chains
 *   build.mk     included by firmware/Makefile: the port's targets, compiling $(CORE_SRC) and
 *                its sources with $(WARN) $(INC), -DFW_DEVICE_KIND=ICD_DEVICE_KIND_<KIND> (the
 *                kind added to DeviceKind in hil/icd.py, then `hil icd generate`; the layout
 *                hash does not change) and, on a small RAM, -DMB_ADU_MAX=<bytes> (mb_server.h)
 * (Two ports are exceptions: the host port's rules are in the Makefile itself, and
 * ports/testlib builds the core as a shared library for the host's tests, with no main.) The core calls
 * nothing else that touches hardware; `make check` audits the symbols it uses.
 */

/* Free-running microsecond clock; wraps modulo 2^32 and never steps back otherwise. The core
   only subtracts readings (step times, the real-time schedule, the watchdog) and calls it from
   the main loop, never from an interrupt. */
uint32_t port_time_us(void);

/* Send a whole reply (at most MB_ADU_MAX bytes) on the serial line; called from
   mb_server_feed. The core reuses `data` once this returns: block until the bytes are in the
   transmitter, or copy them to a transmit queue. */
void port_uart_write(const uint8_t *data, uint16_t len);

/* A firmware bug (never bad input): latch a safe state (engines off) and stop; does not return. */
void port_fault(const char *message);

#endif /* PORT_H */
