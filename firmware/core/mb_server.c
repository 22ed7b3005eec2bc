/* Modbus RTU server: length-based framing with CRC hunting, FC03/06/16/23, exception replies. */
#include "mb_server.h"

#include <string.h>

#include "mb_crc.h"
#include "port.h"

#define MB_NO_PARTIAL 0xFFFFu
#define MB_MIN_FRAME 4u          /* unit, function, CRC: nothing shorter can be a request */
/* Register counts served: the protocol's limits, or less if the frame would not fit in MB_ADU_MAX. */
#define MB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MB_READ_MAX MB_MIN(125u, (MB_ADU_MAX - 5u) / 2u)      /* FC03 / FC23 read: reply 5 + 2N */
#define MB_WRITE_MAX MB_MIN(123u, (MB_ADU_MAX - 9u) / 2u)     /* FC16 write: request 9 + 2N */
#define MB_RW_WRITE_MAX MB_MIN(121u, (MB_ADU_MAX - 13u) / 2u) /* FC23 write: request 13 + 2N */

void mb_server_init(struct mb_server *s, uint8_t unit, mb_read_fn read, mb_write_fn write, void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->unit = unit;
    s->read = read;
    s->write = write;
    s->ctx = ctx;
}

// Big-endian 16-bit field of a frame
static uint16_t mb_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

// True if the last two bytes of the n-byte frame are the CRC of the rest
static int mb_crc_ok(const uint8_t *p, uint16_t n)
{
    uint16_t crc = mb_crc16(p, (uint16_t)(n - 2u));
    return p[n - 2u] == (uint8_t)(crc & 0xFFu) && p[n - 1u] == (uint8_t)(crc >> 8);
}

/*
 * Length of the request starting at p, from its function code (and byte count).
 * -1: more bytes are needed to tell; 0: these bytes cannot start a request we can size.
 * Besides the four functions served, the public functions are sized so that a request for
 * one of them is answered with exception 01 instead of being taken for garbage.
 */
static int16_t mb_request_size(const uint8_t *p, uint16_t avail)
{
    int16_t size;
    if (avail < 2u)
        return -1;
    if (p[0] > MB_UNIT_MAX)
        return 0;
    switch (p[1]) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 8:
        return 8;
    case 7: case 11: case 12: case 17:
        return 4;
    case 22:
        return 10;
    case 24:
        return 6;
    case 15: case 16:
        if (avail < 7u)
            return -1;
        size = (int16_t)(9 + p[6]);
        break;
    case 20: case 21:
        if (avail < 3u)
            return -1;
        size = (int16_t)(5 + p[2]);
        break;
    case 23:
        if (avail < 11u)
            return -1;
        size = (int16_t)(13 + p[10]);
        break;
    case 43:
        if (avail < 3u)
            return -1;
        return p[2] == 14u ? 7 : 0;     /* read device identification */
    default:
        return 0;
    }
    return size <= (int16_t)MB_ADU_MAX ? size : 0;   /* longer cannot be buffered, nor valid */
}

// Count one dropped frame per run of discarded bytes, however many feeds it spans
static void mb_discarding(struct mb_server *s)
{
    if (!s->hunting) {
        s->frames_dropped++;
        s->hunting = 1;
    }
}

// Remove the first n bytes of the receive buffer
static void mb_consume(struct mb_server *s, uint16_t n)
{
    memmove(s->rx, s->rx + n, (size_t)(s->len - n));
    s->len = (uint16_t)(s->len - n);
    s->checked = s->checked > n ? (uint16_t)(s->checked - n) : 0u;
}

// Append the CRC to the body_len bytes in tx and send the frame
static void mb_send(struct mb_server *s, uint16_t body_len)
{
    uint16_t crc = mb_crc16(s->tx, body_len);
    s->tx[body_len] = (uint8_t)(crc & 0xFFu);
    s->tx[body_len + 1u] = (uint8_t)(crc >> 8);
    port_uart_write(s->tx, (uint16_t)(body_len + 2u));
}

// Read `count` registers into a register reply (FC03 and the read half of FC23)
static uint8_t mb_reply_registers(struct mb_server *s, uint8_t fc, uint16_t address, uint16_t count)
{
    uint8_t code = s->read(s->ctx, address, count, s->tx + 3);
    if (code != 0u)
        return code;
    s->tx[0] = s->unit;
    s->tx[1] = fc;
    s->tx[2] = (uint8_t)(2u * count);
    mb_send(s, (uint16_t)(3u + 2u * count));
    return 0;
}

// FC03 read holding registers
static uint8_t mb_fc03(struct mb_server *s, const uint8_t *f)
{
    uint16_t count = mb_be16(f + 4);
    if (count < 1u || count > MB_READ_MAX)
        return MB_EX_ILLEGAL_DATA_VALUE;
    return mb_reply_registers(s, 3u, mb_be16(f + 2), count);
}

// FC06 write single register: the reply echoes the request
static uint8_t mb_fc06(struct mb_server *s, const uint8_t *f)
{
    uint8_t code = s->write(s->ctx, mb_be16(f + 2), 1u, f + 4);
    if (code == 0u)
        port_uart_write(f, 8u);
    return code;
}

// FC16 write multiple registers
static uint8_t mb_fc16(struct mb_server *s, const uint8_t *f)
{
    uint16_t count = mb_be16(f + 4);
    uint8_t code;
    if (count < 1u || count > MB_WRITE_MAX || f[6] != 2u * count)
        return MB_EX_ILLEGAL_DATA_VALUE;
    code = s->write(s->ctx, mb_be16(f + 2), count, f + 7);
    if (code != 0u)
        return code;
    memcpy(s->tx, f, 6u);
    mb_send(s, 6u);
    return 0;
}

// FC23 read/write multiple registers: the write is carried out first, then the read
static uint8_t mb_fc23(struct mb_server *s, const uint8_t *f)
{
    uint16_t rcount = mb_be16(f + 4);
    uint16_t wcount = mb_be16(f + 8);
    uint8_t code;
    if (rcount < 1u || rcount > MB_READ_MAX || wcount < 1u || wcount > MB_RW_WRITE_MAX
        || f[10] != 2u * wcount)
        return MB_EX_ILLEGAL_DATA_VALUE;
    code = s->write(s->ctx, mb_be16(f + 6), wcount, f + 11);
    if (code != 0u)
        return code;
    return mb_reply_registers(s, 23u, mb_be16(f + 2), rcount);
}

// Carry out one CRC-valid frame and answer it
static void mb_execute(struct mb_server *s, const uint8_t *f)
{
    uint8_t fc = f[1];
    uint8_t code;
    if (f[0] != s->unit) {           /* another unit, or broadcast (0): no action, no reply */
        s->frames_ignored++;
        return;
    }
    s->requests_served++;
    switch (fc) {
    case 3:  code = mb_fc03(s, f); break;
    case 6:  code = mb_fc06(s, f); break;
    case 16: code = mb_fc16(s, f); break;
    case 23: code = mb_fc23(s, f); break;
    default: code = MB_EX_ILLEGAL_FUNCTION; break;
    }
    if (code == 0u)
        return;
    if (code > MB_EX_DEVICE_FAILURE)
        port_fault("mb_server: register callback returned an unknown exception code");
    s->tx[0] = s->unit;
    s->tx[1] = (uint8_t)(fc | 0x80u);
    s->tx[2] = code;
    mb_send(s, 3u);
}

// True if the bytes at p can begin a request for us to a served function, still arriving
static int mb_plausible(const struct mb_server *s, const uint8_t *p, uint16_t avail)
{
    uint16_t count;
    if (p[0] != s->unit)
        return 0;
    switch (p[1]) {
    case 3:
        return avail < 6u || ((count = mb_be16(p + 4)) >= 1u && count <= MB_READ_MAX);
    case 6:
        return 1;
    case 16:
        return avail < 7u || ((count = mb_be16(p + 4)) >= 1u && count <= MB_WRITE_MAX && p[6] == 2u * count);
    case 23:
        return avail < 11u || ((count = mb_be16(p + 8)) >= 1u && count <= MB_RW_WRITE_MAX && p[10] == 2u * count);
    default:
        return 0;
    }
}

/*
 * Find and carry out the complete CRC-valid frames in rx; drop what cannot be part of one.
 *
 * Every start position is a candidate: the first that completes with a good CRC wins, and
 * the bytes before it are garbage. A candidate still waiting for bytes keeps the buffer from
 * its position on. A candidate's CRC is checked once, when the bytes that complete it arrive
 * (its end passes `checked`), so a byte-by-byte feed costs no repeated CRCs.
 *
 * One exception to "first to complete wins": while a plausible request for us (mb_plausible)
 * is still arriving, a frame that completes inside it is held back, not taken. Fed in
 * pieces, a 57-byte FC23 has some 40 inner positions where a shorter frame could complete
 * first with a CRC that checks by chance (1 in 65536 each): about one request in 1600 would
 * be lost. The held frame is taken once the outer one fails its CRC, or at the next silence
 * (mb_server_idle, `at_idle`), which drops a request that will never complete.
 */
static void mb_process(struct mb_server *s, int at_idle)
{
    for (;;) {
        uint16_t pos;
        uint16_t size = 0;
        uint16_t partial = MB_NO_PARTIAL;
        uint16_t shield = 0;         /* frames starting before this are inside a request for us */
        uint16_t held = MB_NO_PARTIAL, held_size = 0;
        for (pos = 0; (uint16_t)(s->len - pos) >= MB_MIN_FRAME; pos++) {
            const uint8_t *p = s->rx + pos;
            uint16_t avail = (uint16_t)(s->len - pos);
            int16_t n = mb_request_size(p, avail);
            uint16_t found = 0;
            if (s->held && pos == s->held_pos) {
                found = s->held_size;                 /* checked already, held back */
            } else if (n == 0 && p[0] == s->unit) {
                /* A function we cannot size (none of the public ones), addressed to us: on a
                   pty or socket a request arrives in one piece, so the rest of the buffer
                   checking out is that request (answered 01), as in the Python server. */
                if (s->len > s->checked && mb_crc_ok(p, avail))
                    found = avail;
            } else if (n < 0 || (uint16_t)n > avail) {
                if (partial == MB_NO_PARTIAL)
                    partial = pos;
                if (!at_idle && mb_plausible(s, p, avail)) {
                    uint16_t end = n < 0 ? 0xFFFFu : (uint16_t)(pos + (uint16_t)n);
                    shield = end > shield ? end : shield;
                }
            } else if (n > 0 && pos + (uint16_t)n > s->checked && mb_crc_ok(p, (uint16_t)n)) {
                found = (uint16_t)n;
            }
            if (found == 0u)
                continue;
            if (pos >= shield) {
                size = found;
                break;
            }
            if (held == MB_NO_PARTIAL) {              /* the first one inside is the one to take */
                held = pos;
                held_size = found;
            }
        }
        if (size == 0u) {
            /* The first partial candidate lies before any held frame (it is what holds it). */
            uint16_t keep = partial != MB_NO_PARTIAL ? partial : pos;
            if (keep > 0u) {
                mb_discarding(s);
                mb_consume(s, keep);
            }
            s->held = held != MB_NO_PARTIAL;
            s->held_pos = s->held ? (uint16_t)(held - keep) : 0u;
            s->held_size = held_size;
            s->checked = s->len;
            return;
        }
        if (pos > 0u)
            mb_discarding(s);
        s->hunting = 0;
        s->held = 0;
        mb_execute(s, s->rx + pos);
        mb_consume(s, (uint16_t)(pos + size));
        s->checked = 0;
    }
}

void mb_server_feed(struct mb_server *s, const uint8_t *data, uint16_t len)
{
    while (len > 0u) {
        uint16_t room = (uint16_t)(MB_ADU_MAX - s->len);
        uint16_t take = len < room ? len : room;
        if (take == 0u)
            port_fault("mb_server: receive buffer full after framing");
        memcpy(s->rx + s->len, data, take);
        s->len = (uint16_t)(s->len + take);
        data += take;
        len = (uint16_t)(len - take);
        mb_process(s, 0);
    }
}

void mb_server_idle(struct mb_server *s)
{
    if (s->held)
        mb_process(s, 1);            /* take the frame held behind a request that will not complete */
    if (s->len > 0u) {
        mb_discarding(s);
        s->len = 0;
    }
    s->checked = 0;
    s->hunting = 0;
    s->held = 0;
}
