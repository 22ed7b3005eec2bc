/*
 * Test-library port: the core as a shared library for the host's tests (ctypes). The test owns
 * the clock (port_time_us returns what it set), replies are captured in a buffer instead of
 * going to a line, and a port_fault returns to the test as an error instead of stopping. Used by
 * the contract suite (the same behaviour tests over the Python device and the C core) and the
 * register-level differential (hil/devices/c_core.py). One instance per loaded library.
 */
#include <setjmp.h>
#include <stddef.h>
#include <string.h>

#include "app.h"
#include "mb_server.h"
#include "port.h"

/* Exported for ctypes; the prototypes keep -Wmissing-prototypes quiet without a header. */
#define TL_API __attribute__((visibility("default")))

#define TL_REPLY_MAX 4096u    /* replies of one feed: many requests fed at once, each <= MB_ADU_MAX */
#define TL_FAULT_MAX 200u

/* What a test sees of the controller's inner state (the Python device's attributes, by name). */
struct tl_probe {
    uint32_t state;
    uint32_t started;         /* a frame has been stepped since the reset */
    uint32_t prev_frame;
    uint32_t prev_t_us;
    uint32_t link_lost;       /* the app's latch */
    uint32_t step_count;
    float hover_est;
    float nav_altitude;
    float nav_velocity[3];
    float baseline;
};

TL_API void tl_init(uint8_t unit);
TL_API void tl_set_time_us(uint32_t now);
TL_API int tl_read(uint16_t address, uint16_t count, uint8_t *out);
TL_API int tl_write(uint16_t address, uint16_t count, const uint8_t *data);
TL_API int64_t tl_poll(void);
TL_API int tl_feed(const uint8_t *data, uint16_t len, uint8_t *reply, uint16_t capacity);
TL_API int tl_idle(void);
TL_API int tl_ctl_link_lost(uint32_t t_us, uint8_t *out, uint16_t capacity);
TL_API void tl_probe(struct tl_probe *out);
TL_API const char *tl_fault_message(void);
TL_API uint32_t tl_adu_max(void);

static struct app tl_app;
static struct mb_server tl_server;
static uint32_t tl_now;
static uint8_t tl_reply[TL_REPLY_MAX];
static uint16_t tl_reply_len;
static int tl_reply_overflow;
static jmp_buf tl_fault_jump;
static char tl_fault[TL_FAULT_MAX];

uint32_t port_time_us(void)
{
    return tl_now;
}

void port_uart_write(const uint8_t *data, uint16_t len)
{
    if (len > TL_REPLY_MAX - tl_reply_len) {
        tl_reply_overflow = 1;
        return;
    }
    memcpy(tl_reply + tl_reply_len, data, len);
    tl_reply_len = (uint16_t)(tl_reply_len + len);
}

// A firmware bug: back to the test that called in, which reports it (-1 and tl_fault_message)
void port_fault(const char *message)
{
    strncpy(tl_fault, message, TL_FAULT_MAX - 1u);
    tl_fault[TL_FAULT_MAX - 1u] = '\0';
    longjmp(tl_fault_jump, 1);
}

void tl_init(uint8_t unit)
{
    app_init(&tl_app);
    mb_server_init(&tl_server, unit, app_read, app_write, &tl_app);
    tl_fault[0] = '\0';
}

void tl_set_time_us(uint32_t now)
{
    tl_now = now;
}

/* The register bank's callbacks (exception code or 0); data as big-endian byte pairs. */
int tl_read(uint16_t address, uint16_t count, uint8_t *out)
{
    if (setjmp(tl_fault_jump))
        return -1;
    return app_read(&tl_app, address, count, out);
}

int tl_write(uint16_t address, uint16_t count, const uint8_t *data)
{
    if (setjmp(tl_fault_jump))
        return -1;
    return app_write(&tl_app, address, count, data);
}

/* app_poll's wait in microseconds, APP_POLL_IDLE as is; -1 after a port_fault. */
int64_t tl_poll(void)
{
    if (setjmp(tl_fault_jump))
        return -1;
    return (int64_t)app_poll(&tl_app);
}

/* Bytes received on the line; the replies sent are copied to `reply`. Returns their length,
   -1 after a port_fault, -2 if they do not fit. */
int tl_feed(const uint8_t *data, uint16_t len, uint8_t *reply, uint16_t capacity)
{
    tl_reply_len = 0;
    tl_reply_overflow = 0;
    if (setjmp(tl_fault_jump))
        return -1;
    mb_server_feed(&tl_server, data, len);
    if (tl_reply_overflow || tl_reply_len > capacity)
        return -2;
    memcpy(reply, tl_reply, tl_reply_len);
    return tl_reply_len;
}

int tl_idle(void)
{
    if (setjmp(tl_fault_jump))
        return -1;
    mb_server_idle(&tl_server);
    return 0;
}

/* The controller's own watchdog entry (ctl_controller_link_lost) at controller clock t_us,
   outside the app's schedule: the answer as command-block fields frame, state, throttle, tilt_x,
   tilt_y, discretes, td_time_us, faults, state_since_us packed in struct ctl_commands order. */
int tl_ctl_link_lost(uint32_t t_us, uint8_t *out, uint16_t capacity)
{
    struct ctl_commands answer;
    if (capacity < sizeof(answer))
        return -2;
    if (setjmp(tl_fault_jump))
        return -1;
    ctl_controller_link_lost(&tl_app.controller, t_us, &answer);
    memcpy(out, &answer, sizeof(answer));
    return (int)sizeof(answer);
}

void tl_probe(struct tl_probe *out)
{
    const struct ctl_controller *c = &tl_app.controller;
    out->state = c->state;
    out->started = c->started;
    out->prev_frame = c->prev_frame;
    out->prev_t_us = c->prev_t_us;
    out->link_lost = tl_app.link_lost;
    out->step_count = tl_app.step_count;
    out->hover_est = c->hover_est;
    out->nav_altitude = c->nav.altitude;
    memcpy(out->nav_velocity, c->nav.velocity, sizeof(out->nav_velocity));
    out->baseline = c->baseline;
}

const char *tl_fault_message(void)
{
    return tl_fault;
}

uint32_t tl_adu_max(void)
{
    return MB_ADU_MAX;
}
