/* Template port: what main.c and port_template.c share. Copy to ports/<name>/internal.h.
   Vendor headers, register definitions and #if chains for chip variants go here, never in
   core/: the core sees nothing of the target but core/port.h. */
#ifndef TEMPLATE_INTERNAL_H
#define TEMPLATE_INTERNAL_H

#include <stdint.h>

/* #include <vendor/device.h>        the chip's register header, if the port uses one */

#define TEMPLATE_UNIT 1u                /* Modbus unit address: a rig file's `unit` (1 in rigs/) */
#define TEMPLATE_BAUD 115200u           /* a rig file's `baudrate` (115200 in rigs/) */

/* Modbus over serial line 2.5.1.1: a frame ends after 3.5 characters of silence, fixed at
   1750 us above 19200 baud. A line with no byte timing (a pty under an emulator, USB CDC)
   needs far longer: the host port and the STM32 port under QEMU use 50 ms. */
#define TEMPLATE_IDLE_US 1750u

/* Bytes moved from the receive ring per pass: any size works, mb_server_feed takes any split. */
#define TEMPLATE_CHUNK 64u

// port_template.c (or split by peripheral: uart.c, timer.c, as ports/avr and ports/stm32f4 do)

/* Start the free-running clock behind port_time_us. */
void template_timer_init(void);

/* The UART at TEMPLATE_BAUD, 8N1, receiving by interrupt into a ring. */
void template_uart_init(void);

/* Move up to `size` received bytes out of the ring; returns how many (0: none waiting). */
uint16_t template_uart_read(uint8_t *out, uint16_t size);

/* Sleep until a byte arrives or `us` microseconds pass, whichever is first; APP_POLL_IDLE
   (0xFFFFFFFF): until a byte. Waking early is always allowed; waking late is not. */
void template_wait(uint32_t us);

#endif /* TEMPLATE_INTERNAL_H */
