/* Modbus RTU server (slave): frames requests from a byte stream, answers FC03/06/16/23. */
#ifndef MB_SERVER_H
#define MB_SERVER_H

#include <stdint.h>

/*
 * Size of the receive and the reply buffer: the largest frame taken or sent. 256 is the
 * largest RTU frame (Modbus over serial line, 2.5.1); a build may set less (-DMB_ADU_MAX=128
 * on AVR) and the register counts served shrink to fit (see mb_server.c). A longer request
 * is dropped as garbage; a read asking for more than fits is answered with exception 03.
 */
#ifndef MB_ADU_MAX
#define MB_ADU_MAX 256u
#endif
#if MB_ADU_MAX < 16 || MB_ADU_MAX > 256
#error "MB_ADU_MAX must be 16..256 (an FC23 of one register each way needs 15 bytes)"
#endif
#define MB_UNIT_MAX 247u         /* 248..255 are reserved: such a byte cannot start a frame */

#define MB_EX_ILLEGAL_FUNCTION 1u     /* function not supported */
#define MB_EX_ILLEGAL_DATA_ADDRESS 2u /* register range not accessible this way */
#define MB_EX_ILLEGAL_DATA_VALUE 3u   /* count, byte count or value not acceptable */
#define MB_EX_DEVICE_FAILURE 4u       /* the application could not carry out the request */

/*
 * Register access, implemented by the application. Registers travel as big-endian byte
 * pairs exactly as on the wire (2 * count bytes). Each returns 0, or the exception code to
 * answer with (MB_EX_*); a write that fails must leave the registers unchanged.
 */
typedef uint8_t (*mb_read_fn)(void *ctx, uint16_t address, uint16_t count, uint8_t *out);
typedef uint8_t (*mb_write_fn)(void *ctx, uint16_t address, uint16_t count, const uint8_t *data);

struct mb_server {
    mb_read_fn read;
    mb_write_fn write;
    void *ctx;                   /* passed to read and write */
    uint8_t unit;                /* our address, 1..247 */
    uint8_t hunting;             /* inside a run of discarded bytes */
    uint8_t held;                /* a checked frame waits behind a request still arriving */
    uint16_t held_pos;           /* where it starts in rx */
    uint16_t held_size;          /* and its length */
    uint16_t len;                /* bytes held in rx */
    uint16_t checked;            /* every candidate frame ending at or before this was CRC-checked */
    uint32_t requests_served;    /* frames for our unit, answered */
    uint32_t frames_dropped;     /* runs of discarded bytes: garbage, bad CRC, truncation */
    uint32_t frames_ignored;     /* valid frames for another unit or broadcast */
    uint8_t rx[MB_ADU_MAX];      /* received, not yet framed */
    uint8_t tx[MB_ADU_MAX];      /* the reply being built */
};

/* Start with an empty buffer; `unit` is our address (1..247). */
void mb_server_init(struct mb_server *s, uint8_t unit, mb_read_fn read, mb_write_fn write, void *ctx);

/* Take received bytes (any amount, any split); answers each complete request via port_uart_write. */
void mb_server_feed(struct mb_server *s, const uint8_t *data, uint16_t len);

/* The line has been silent for 3.5 characters: drop a partial frame (optional for a port). */
void mb_server_idle(struct mb_server *s);

#endif /* MB_SERVER_H */
