/* The ICD register bank, as hil/devices/controller_registers.py: blocks, access rules, and the
   control step: once per frame (lockstep) or on the device's own timer (real-time,
   docs/realtime.md). */
#include "app.h"

#include <string.h>

#include "mb_server.h"
#include "port.h"

#define APP_WORDS_u16 1u
#define APP_WORDS_f32 2u

/* The config field list must cover the ICD's config block exactly (compile-time check). */
enum {
#define APP_CONFIG_WORDS(type, name, stem) + APP_WORDS_##type
    APP_CONFIG_TOTAL_WORDS = 0 CTL_CONFIG_FIELDS(APP_CONFIG_WORDS)
#undef APP_CONFIG_WORDS
};
typedef char app_config_fields_cover_the_block[(APP_CONFIG_TOTAL_WORDS == ICD_CONFIG_LEN) ? 1 : -1];

// Big-endian register i of a byte run
static uint16_t app_word(const uint8_t *data, uint16_t i)
{
    return (uint16_t)((data[2u * i] << 8) | data[2u * i + 1u]);
}

// Store a register as two big-endian bytes
static void app_put(uint8_t *out, uint16_t i, uint16_t value)
{
    out[2u * i] = (uint8_t)(value >> 8);
    out[2u * i + 1u] = (uint8_t)(value & 0xFFu);
}

// A float32 from its bit pattern (high word first on the wire)
static float app_bits_f32(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof(value));
    return value;
}

// The bit pattern of a float32
static uint32_t app_f32_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    return bits;
}

// u32 at register i of a register array
static uint32_t app_regs_u32(const uint16_t *regs, uint16_t i)
{
    return ((uint32_t)regs[i] << 16) | regs[i + 1u];
}

// Store a u32 as two registers, high word first
static void app_regs_put_u32(uint16_t *regs, uint16_t i, uint32_t value)
{
    regs[i] = (uint16_t)(value >> 16);
    regs[i + 1u] = (uint16_t)(value & 0xFFFFu);
}

#define APP_COMMAND_AT(stem) (ICD_COMMANDS_##stem - ICD_COMMANDS_BASE)

// A new run (a config write): controller in STANDBY, initial command block, no frame, no schedule
static void app_new_run(struct app *a)
{
    ctl_controller_reset(&a->controller, &a->config);
    memset(a->sensors, 0, sizeof(a->sensors));
    memset(a->commands, 0, sizeof(a->commands));
    /* The command block before any frame: all zero but td_time_us, not declared. */
    app_regs_put_u32(a->commands, APP_COMMAND_AT(TD_TIME_US), ICD_TD_NOT_DECLARED);
    a->step_count = 0;
    a->scheduled = 0;
    a->fresh = 0;
    a->link_lost = 0;
}

void app_init(struct app *a)
{
    memset(a, 0, sizeof(*a));
    ctl_config_defaults(&a->config);
    app_new_run(a);
}

// Config register at `address`, encoded from the decoded values
static uint16_t app_config_register(const struct ctl_config *cfg, uint16_t address)
{
#define APP_CONFIG_READ_u16(name, stem) \
    if (address == ICD_CONFIG_##stem) \
        return cfg->name;
#define APP_CONFIG_READ_f32(name, stem) \
    if (address == ICD_CONFIG_##stem) \
        return (uint16_t)(app_f32_bits(cfg->name) >> 16); \
    if (address == ICD_CONFIG_##stem + 1u) \
        return (uint16_t)(app_f32_bits(cfg->name) & 0xFFFFu);
#define APP_CONFIG_READ(type, name, stem) APP_CONFIG_READ_##type(name, stem)
    CTL_CONFIG_FIELDS(APP_CONFIG_READ)
#undef APP_CONFIG_READ
#undef APP_CONFIG_READ_f32
#undef APP_CONFIG_READ_u16
    port_fault("app: config register outside the field list");
    return 0;
}

// Identity register at `address`
static uint16_t app_identity_register(uint16_t address)
{
    switch (address) {
    case ICD_IDENTITY_ICD_VERSION:     return (uint16_t)ICD_VERSION;
    case ICD_IDENTITY_LAYOUT_HASH:     return (uint16_t)(ICD_LAYOUT_HASH >> 16);
    case ICD_IDENTITY_LAYOUT_HASH + 1: return (uint16_t)(ICD_LAYOUT_HASH & 0xFFFFu);
    case ICD_IDENTITY_DEVICE_KIND:     return (uint16_t)FW_DEVICE_KIND;
    case ICD_IDENTITY_BUILD_ID:        return (uint16_t)((uint32_t)FW_BUILD_ID >> 16);
    case ICD_IDENTITY_BUILD_ID + 1:    return (uint16_t)((uint32_t)FW_BUILD_ID & 0xFFFFu);
    default:
        port_fault("app: identity register outside the block");
        return 0;
    }
}

// True if [address, address + count) lies inside the block at base
static int app_inside(uint16_t address, uint16_t count, uint16_t base, uint16_t length)
{
    return base <= address && (uint32_t)address + count <= (uint32_t)base + length;
}

uint8_t app_read(void *ctx, uint16_t address, uint16_t count, uint8_t *out)
{
    struct app *a = (struct app *)ctx;
    uint16_t i;
    if (app_inside(address, count, ICD_IDENTITY_BASE, ICD_IDENTITY_LEN)) {
        for (i = 0; i < count; i++)
            app_put(out, i, app_identity_register((uint16_t)(address + i)));
    } else if (app_inside(address, count, ICD_CONFIG_BASE, ICD_CONFIG_LEN)) {
        for (i = 0; i < count; i++)
            app_put(out, i, app_config_register(&a->config, (uint16_t)(address + i)));
    } else if (app_inside(address, count, ICD_SENSORS_BASE, ICD_SENSORS_LEN)) {
        for (i = 0; i < count; i++)
            app_put(out, i, a->sensors[address - ICD_SENSORS_BASE + i]);
    } else if (app_inside(address, count, ICD_COMMANDS_BASE, ICD_COMMANDS_LEN)) {
        if (address <= ICD_COMMANDS_READ_TICK_US + 1u && (uint32_t)address + count > ICD_COMMANDS_READ_TICK_US)
            app_regs_put_u32(a->commands, APP_COMMAND_AT(READ_TICK_US), port_time_us());
        for (i = 0; i < count; i++)
            app_put(out, i, a->commands[address - ICD_COMMANDS_BASE + i]);
    } else {
        return MB_EX_ILLEGAL_DATA_ADDRESS;      /* not inside one block */
    }
    return 0;
}

/*
 * One config field against a write of [address, end): untouched -> 0; touched but not
 * covered whole -> 02; value out of range -> 03. With `apply`, store the new value.
 */
static uint8_t app_config_u16(uint16_t *value, uint16_t field, uint16_t address, uint16_t end,
                              const uint8_t *data, uint16_t min, uint16_t max, int apply)
{
    uint16_t v;
    if (!(field < end && address < field + 1u))
        return 0;
    v = app_word(data, (uint16_t)(field - address));
    if (v < min || v > max)
        return MB_EX_ILLEGAL_DATA_VALUE;
    if (apply)
        *value = v;
    return 0;
}

static uint8_t app_config_f32(float *value, uint16_t field, uint16_t address, uint16_t end,
                              const uint8_t *data, float min, float max, int apply)
{
    float v;
    if (!(field < end && address < field + 2u))
        return 0;
    if (field < address || field + 2u > end)
        return MB_EX_ILLEGAL_DATA_ADDRESS;      /* the write splits the field's two registers */
    v = app_bits_f32(((uint32_t)app_word(data, (uint16_t)(field - address)) << 16)
                     | app_word(data, (uint16_t)(field - address + 1u)));
    if (!(v >= min && v <= max))                /* NaN is out of range too */
        return MB_EX_ILLEGAL_DATA_VALUE;
    if (apply)
        *value = v;
    return 0;
}

// A config write: all fields it touches are checked in ICD order; only then is any stored
static uint8_t app_write_config(struct app *a, uint16_t address, uint16_t count, const uint8_t *data)
{
    uint16_t end = (uint16_t)(address + count);
    int apply;
    uint8_t code;
    for (apply = 0; apply <= 1; apply++) {
#define APP_CONFIG_WRITE(type, name, stem) \
        code = app_config_##type(&a->config.name, ICD_CONFIG_##stem, address, end, data, \
                                 ICD_CONFIG_##stem##_MIN, ICD_CONFIG_##stem##_MAX, apply); \
        if (code != 0u) \
            return code;
        CTL_CONFIG_FIELDS(APP_CONFIG_WRITE)
#undef APP_CONFIG_WRITE
    }
    app_new_run(a);                             /* an accepted config write starts a new run */
    return 0;
}

// The sensor registers as a frame
static void app_decode_sensors(const uint16_t *r, struct ctl_sensors *s)
{
#define APP_SENSOR_F32(stem) app_bits_f32(app_regs_u32(r, ICD_SENSORS_##stem - ICD_SENSORS_BASE))
    s->frame = app_regs_u32(r, ICD_SENSORS_FRAME - ICD_SENSORS_BASE);
    s->t_us = app_regs_u32(r, ICD_SENSORS_T_US - ICD_SENSORS_BASE);
    s->radar_seq = r[ICD_SENSORS_RADAR_SEQ - ICD_SENSORS_BASE];
    s->altitude_m = APP_SENSOR_F32(ALTITUDE_M);
    s->vx_mps = APP_SENSOR_F32(VX_MPS);
    s->vy_mps = APP_SENSOR_F32(VY_MPS);
    s->vz_mps = APP_SENSOR_F32(VZ_MPS);
    s->imu_fx = APP_SENSOR_F32(IMU_FX);
    s->imu_fy = APP_SENSOR_F32(IMU_FY);
    s->imu_fz = APP_SENSOR_F32(IMU_FZ);
    s->bridle_length_m = APP_SENSOR_F32(BRIDLE_LENGTH_M);
    s->flags = r[ICD_SENSORS_FLAGS - ICD_SENSORS_BASE];
    s->health = r[ICD_SENSORS_HEALTH - ICD_SENSORS_BASE];
    s->thrust_avail = APP_SENSOR_F32(THRUST_AVAIL);
#undef APP_SENSOR_F32
}

// The answer as command registers, with the step's timing
static void app_encode_commands(struct app *a, const struct ctl_commands *c, uint32_t step_time_us,
                                uint32_t frame_rx_us, uint32_t step_tick_us)
{
    uint16_t *r = a->commands;
    app_regs_put_u32(r, APP_COMMAND_AT(FRAME), c->frame);
    r[APP_COMMAND_AT(STATE)] = c->state;
    app_regs_put_u32(r, APP_COMMAND_AT(THROTTLE), app_f32_bits(c->throttle));
    app_regs_put_u32(r, APP_COMMAND_AT(TILT_X_RAD), app_f32_bits(c->tilt_x_rad));
    app_regs_put_u32(r, APP_COMMAND_AT(TILT_Y_RAD), app_f32_bits(c->tilt_y_rad));
    r[APP_COMMAND_AT(DISCRETES)] = c->discretes;
    app_regs_put_u32(r, APP_COMMAND_AT(TD_TIME_US), c->td_time_us);
    r[APP_COMMAND_AT(FAULTS)] = c->faults;
    app_regs_put_u32(r, APP_COMMAND_AT(STATE_SINCE_US), c->state_since_us);
    app_regs_put_u32(r, APP_COMMAND_AT(STEP_TIME_US), step_time_us);
    app_regs_put_u32(r, APP_COMMAND_AT(STEP_COUNT), a->step_count);
    app_regs_put_u32(r, APP_COMMAND_AT(FRAME_RX_TICK_US), frame_rx_us);
    app_regs_put_u32(r, APP_COMMAND_AT(STEP_TICK_US), step_tick_us);
}

// Busy-wait until step_delay_us have passed since `started` (a port emulating a slow MCU)
static void app_delay(const struct app *a, uint32_t started)
{
    while (port_time_us() - started < a->step_delay_us) {
    }
}

/*
 * One control step on the held frame, started at device time `now`. Real-time: the
 * controller's clock is the device time since the first frame, and a frame already stepped
 * is flagged STALE_FRAME. Its answer goes into the command block.
 */
static void app_step(struct app *a, uint32_t now, int realtime)
{
    struct ctl_sensors frame;
    struct ctl_commands answer;
    uint32_t started;
    int stale = realtime && !a->fresh;
    app_decode_sensors(a->sensors, &frame);
    if (realtime)
        frame.t_us = now - a->first_rx_us;
    a->fresh = 0;
    started = port_time_us();
    ctl_controller_step(&a->controller, &a->config, &frame, &answer);
    app_delay(a, started);
    if (stale)
        answer.faults = (uint16_t)(answer.faults | ICD_FAULTS_STALE_FRAME);
    a->step_count++;
    app_encode_commands(a, &answer, port_time_us() - started, a->frame_rx_us, now);
}

// Real-time: the watchdog instead of a step, into the latched LINK_LOST state
static void app_link_lost(struct app *a, uint32_t now)
{
    struct ctl_commands answer;
    uint32_t started = port_time_us();
    ctl_controller_link_lost(&a->controller, now - a->first_rx_us, &answer);  /* the controller's clock */
    a->link_lost = 1;
    a->scheduled = 0;
    a->step_count++;
    app_encode_commands(a, &answer, port_time_us() - started, a->frame_rx_us, now);
}

// Microseconds in a float32 duration, rounded (durations here are at most 10 s)
static uint32_t app_us(float seconds)
{
    return (uint32_t)(seconds * 1e6f + 0.5f);
}

// The sensor block written equals the one the last step used
static int app_same_frame(const struct app *a, const uint8_t *data)
{
    uint16_t i;
    for (i = 0; i < ICD_SENSORS_LEN; i++)
        if (a->sensors[i] != app_word(data, i))
            return 0;
    return 1;
}

// A whole sensor frame written: lockstep steps on it now, real-time stores it for the timer
static void app_frame(struct app *a, const uint8_t *data)
{
    uint32_t now = port_time_us();
    uint16_t i;
    /* Lockstep: the host retrying an exchange whose reply it lost sends the same frame again;
       the answer is the command block as it is, without a second step. */
    if (a->config.timing_mode != ICD_TIMING_MODE_REALTIME && a->step_count != 0u && app_same_frame(a, data))
        return;
    for (i = 0; i < ICD_SENSORS_LEN; i++)
        a->sensors[i] = app_word(data, i);
    a->frame_rx_us = now;                       /* restarts the watchdog */
    a->fresh = 1;
    if (a->config.timing_mode != ICD_TIMING_MODE_REALTIME) {
        app_step(a, now, 0);
        return;
    }
    if (!a->scheduled && !a->link_lost) {       /* the run's first frame: step 0 is due now */
        a->scheduled = 1;
        a->first_rx_us = now;
        a->due_us = now;
        a->period_us = (uint32_t)(1e6f / a->config.control_rate_hz + 0.5f);  /* rate 10..500 Hz */
        a->watchdog_us = app_us(a->config.watchdog_s);
    }
}

uint32_t app_poll(struct app *a)
{
    uint32_t now, late;
    if (!a->scheduled)
        return APP_POLL_IDLE;
    now = port_time_us();
    if ((int32_t)(now - a->due_us) < 0)
        return a->due_us - now;
    if (a->watchdog_us != 0u && now - a->frame_rx_us > a->watchdog_us) {
        app_link_lost(a, now);
        return APP_POLL_IDLE;
    }
    app_step(a, now, 1);
    /* The next multiple of the period still in the future: missed steps are not made up. */
    late = now - a->due_us;
    a->due_us += (late / a->period_us + 1u) * a->period_us;
    now = port_time_us();
    return (int32_t)(a->due_us - now) > 0 ? a->due_us - now : 0u;
}

uint8_t app_write(void *ctx, uint16_t address, uint16_t count, const uint8_t *data)
{
    struct app *a = (struct app *)ctx;
    if (app_inside(address, count, ICD_CONFIG_BASE, ICD_CONFIG_LEN))
        return app_write_config(a, address, count, data);
    if (app_inside(address, count, ICD_SENSORS_BASE, ICD_SENSORS_LEN)) {
        if (address != ICD_SENSORS_BASE || count != ICD_SENSORS_LEN)
            return MB_EX_ILLEGAL_DATA_ADDRESS;  /* a sensor frame is written as the whole block */
        app_frame(a, data);
        return 0;
    }
    return MB_EX_ILLEGAL_DATA_ADDRESS;          /* read-only block, or not inside one block */
}
