/* libFuzzer target: the Modbus RTU server and the ICD register bank fed any bytes in any chunks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "mb_crc.h"
#include "mb_server.h"
#include "port.h"

/*
 * Input: byte 0 sets the largest chunk (bits 0..5; 0 feeds the whole stream at once), bit 6
 * lets the port report line silence (mb_server_idle) between some chunks and bit 7 lets up to
 * 32 ms of device time pass between chunks, with app_poll after each (real-time steps and the
 * watchdog); byte 1 seeds the chunk sizes; the rest is the byte stream on the line. Every
 * reply is checked as it is sent. After the stream, a silence and an identity read must get
 * the right answer.
 */

#define FUZZ_UNIT 1u
#define FUZZ_CHECK(cond) do { if (!(cond)) fuzz_fail(#cond, __LINE__); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct app fuzz_app;
static struct mb_server fuzz_server;
static uint32_t fuzz_clock;
static unsigned fuzz_reads, fuzz_writes;     /* callbacks since the last reply */
static uint16_t fuzz_read_count, fuzz_write_count;
static uint8_t fuzz_reply[MB_ADU_MAX];
static uint16_t fuzz_reply_len;
static unsigned fuzz_replies;

// An invariant does not hold: report and crash so libFuzzer keeps the input
static void fuzz_fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_mb_server: invariant failed at line %d: %s\n", line, what);
    abort();
}

uint32_t port_time_us(void)
{
    fuzz_clock += 3u;
    return fuzz_clock;
}

void port_fault(const char *message)
{
    fprintf(stderr, "fuzz_mb_server: port_fault: %s\n", message);
    abort();
}

// Every reply: our unit, good CRC, at most one ADU, a normal reply of the right length or 01/02/03
void port_uart_write(const uint8_t *d, uint16_t len)
{
    uint16_t crc;
    uint8_t fc;
    FUZZ_CHECK(len >= 5u && len <= MB_ADU_MAX);
    crc = mb_crc16(d, (uint16_t)(len - 2u));
    FUZZ_CHECK(d[len - 2u] == (crc & 0xFFu) && d[len - 1u] == (crc >> 8));
    FUZZ_CHECK(d[0] == FUZZ_UNIT);
    fc = d[1];
    if (fc & 0x80u) {
        FUZZ_CHECK(len == 5u);
        FUZZ_CHECK(d[2] >= MB_EX_ILLEGAL_FUNCTION && d[2] <= MB_EX_ILLEGAL_DATA_VALUE);
        if (d[2] == MB_EX_ILLEGAL_FUNCTION)
            FUZZ_CHECK(fuzz_reads == 0u && fuzz_writes == 0u);
    } else if (fc == 3u) {
        FUZZ_CHECK(fuzz_reads == 1u && fuzz_writes == 0u);
        FUZZ_CHECK(d[2] == 2u * fuzz_read_count && len == 5u + d[2]);
    } else if (fc == 23u) {
        FUZZ_CHECK(fuzz_reads == 1u && fuzz_writes == 1u);
        FUZZ_CHECK(d[2] == 2u * fuzz_read_count && len == 5u + d[2]);
    } else if (fc == 6u) {
        FUZZ_CHECK(fuzz_writes == 1u && fuzz_reads == 0u && fuzz_write_count == 1u && len == 8u);
    } else if (fc == 16u) {
        FUZZ_CHECK(fuzz_writes == 1u && fuzz_reads == 0u && len == 8u);
        FUZZ_CHECK(((d[4] << 8) | d[5]) == fuzz_write_count);
    } else {
        FUZZ_CHECK(!"a normal reply to a function the server does not serve");
    }
    memcpy(fuzz_reply, d, len);
    fuzz_reply_len = len;
    fuzz_replies++;
    fuzz_reads = 0;
    fuzz_writes = 0;
}

// app_read, counted
static uint8_t fuzz_read(void *ctx, uint16_t address, uint16_t count, uint8_t *out)
{
    FUZZ_CHECK(count >= 1u && count <= 125u);
    fuzz_reads++;
    fuzz_read_count = count;
    return app_read(ctx, address, count, out);
}

// app_write, counted
static uint8_t fuzz_write(void *ctx, uint16_t address, uint16_t count, const uint8_t *data)
{
    FUZZ_CHECK(count >= 1u && count <= 123u);
    fuzz_writes++;
    fuzz_write_count = count;
    return app_write(ctx, address, count, data);
}

// The identity read must be answered exactly, whatever came before it and a silence
static void fuzz_check_identity(int byte_by_byte)
{
    static const uint8_t request[6] = {FUZZ_UNIT, 3u, 0u, 0u, 0u, ICD_IDENTITY_LEN};
    uint8_t frame[8], expected[5u + 2u * ICD_IDENTITY_LEN];
    uint16_t crc = mb_crc16(request, 6u);
    uint16_t i;
    const uint32_t hash = ICD_LAYOUT_HASH, build = FW_BUILD_ID;
    const uint16_t words[ICD_IDENTITY_LEN] = {
        ICD_VERSION, (uint16_t)(hash >> 16), (uint16_t)hash, FW_DEVICE_KIND,
        (uint16_t)(build >> 16), (uint16_t)build};
    memcpy(frame, request, 6u);
    frame[6] = (uint8_t)crc;
    frame[7] = (uint8_t)(crc >> 8);
    expected[0] = FUZZ_UNIT;
    expected[1] = 3u;
    expected[2] = 2u * ICD_IDENTITY_LEN;
    for (i = 0; i < ICD_IDENTITY_LEN; i++) {
        expected[3u + 2u * i] = (uint8_t)(words[i] >> 8);
        expected[4u + 2u * i] = (uint8_t)words[i];
    }
    crc = mb_crc16(expected, (uint16_t)(sizeof(expected) - 2u));
    expected[sizeof(expected) - 2u] = (uint8_t)crc;
    expected[sizeof(expected) - 1u] = (uint8_t)(crc >> 8);

    mb_server_idle(&fuzz_server);
    fuzz_replies = 0;
    if (byte_by_byte) {
        for (i = 0; i < 8u; i++)
            mb_server_feed(&fuzz_server, frame + i, 1u);
    } else {
        mb_server_feed(&fuzz_server, frame, 8u);
    }
    FUZZ_CHECK(fuzz_replies == 1u);
    FUZZ_CHECK(fuzz_reply_len == sizeof(expected) && memcmp(fuzz_reply, expected, sizeof(expected)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t max_chunk, idle, time_passes;
    uint32_t rng;
    if (size < 2u)
        return 0;
    max_chunk = data[0] & 0x3Fu;
    idle = data[0] & 0x40u;
    time_passes = data[0] & 0x80u;
    rng = 0x9E3779B9u ^ data[1];
    data += 2;
    size -= 2u;

    app_init(&fuzz_app);
    mb_server_init(&fuzz_server, FUZZ_UNIT, fuzz_read, fuzz_write, &fuzz_app);
    fuzz_reads = fuzz_writes = 0;
    while (size > 0u) {
        size_t chunk = size;
        if (max_chunk != 0u) {
            rng ^= rng << 13;
            rng ^= rng >> 17;
            rng ^= rng << 5;
            chunk = 1u + rng % max_chunk;
            if (chunk > size)
                chunk = size;
        } else if (chunk > 0xFFFFu) {
            chunk = 0xFFFFu;
        }
        mb_server_feed(&fuzz_server, data, (uint16_t)chunk);
        FUZZ_CHECK(fuzz_server.len < MB_ADU_MAX);
        FUZZ_CHECK(fuzz_reads == 0u && fuzz_writes == 0u);   /* every request executed was answered */
        data += chunk;
        size -= chunk;
        if (idle && (rng & 0x300u) == 0u)
            mb_server_idle(&fuzz_server);
        if (time_passes) {
            uint32_t wait, steps = fuzz_app.step_count;
            fuzz_clock += (rng >> 8) & 0x7FFFu;
            wait = app_poll(&fuzz_app);
            /* at most one step per poll, never more than one period (100 ms at 10 Hz) ahead */
            FUZZ_CHECK(fuzz_app.step_count - steps <= 1u);
            FUZZ_CHECK(wait == APP_POLL_IDLE || wait <= 100000u);
            FUZZ_CHECK(wait == APP_POLL_IDLE || fuzz_app.config.timing_mode == ICD_TIMING_MODE_REALTIME);
        }
    }
    fuzz_check_identity(0);
    fuzz_check_identity(1);
    return 0;
}
