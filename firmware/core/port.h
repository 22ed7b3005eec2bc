/* The port contract: everything the portable core asks of a target, and nothing more. */
#ifndef PORT_H
#define PORT_H

#include <stdint.h>

/*
 * Each port (firmware/ports/<name>/port_<name>.c) defines these functions; the core calls
 * nothing else that touches hardware. The port also owns main(): it initialises the
 * application (app_init), feeds received bytes to the Modbus server (mb_server_feed), and
 * may call mb_server_idle() after a 3.5-character silence on the line.
 */

/* Free-running microsecond clock for measuring durations; wraps modulo 2^32. */
uint32_t port_time_us(void);

/* Send bytes on the serial line; returns when all are sent or queued to send. */
void port_uart_write(const uint8_t *data, uint16_t len);

/* A firmware bug (never bad input): latch a safe state and stop; does not return. */
void port_fault(const char *message);

#endif /* PORT_H */
