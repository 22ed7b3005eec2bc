/* The descent controller, state for state as hil/reference/controller.py, in float32. */
#include "ctl_controller.h"

#include <math.h>
#include <string.h>

#include "icd.h"

#define CTL_BRIDLE_FULL_TOL_M 0.01f  /* BUD length within this of bridle_full_m counts as fully out */
#define CTL_HOVER_EST_MIN 0.02f
#define CTL_HOVER_EST_MAX 1.0f
#define CTL_THRUST_AVAIL_MIN 0.0625f  /* a told thrust_avail is taken no lower: below it no throttle helps */

void ctl_config_defaults(struct ctl_config *cfg)
{
#define CTL_CONFIG_DEFAULT(type, name, stem) cfg->name = ICD_CONFIG_##stem##_DEFAULT;
    CTL_CONFIG_FIELDS(CTL_CONFIG_DEFAULT)
#undef CTL_CONFIG_DEFAULT
}

void ctl_controller_reset(struct ctl_controller *c, const struct ctl_config *cfg)
{
    memset(c, 0, sizeof(*c));
    ctl_navigation_reset(&c->nav);
    c->state = ICD_CONTROLLER_STATE_STANDBY;
    c->hover_est = cfg->throttle_init;
    c->thrust_avail = 1.0f;
    c->td_time_us = ICD_TD_NOT_DECLARED;
}

// low if value < low, high if value > high, else value (NaN passes, as in the reference)
static float ctl_clip(float value, float low, float high)
{
    return value < low ? low : value > high ? high : value;
}

/*
 * Durations are compared in whole microseconds of frame time, not in float seconds: float32
 * seconds lose microseconds after a minute of flight. `ctl_fix_us` gives a float32 duration
 * in microseconds with 32 fraction bits, exactly for any duration of 2^-9 s or more, so that
 * sums of config durations and comparisons with an elapsed number of microseconds are exact
 * (the reference's float64 seconds are exact to about 1e-14 s, which is the same except when
 * a threshold falls exactly on a microsecond: see docs/firmware.md).
 */
static uint64_t ctl_fix_us(float seconds)
{
    uint32_t bits, mantissa;
    int exponent, shift;
    uint64_t scaled;
    memcpy(&bits, &seconds, sizeof(bits));
    if ((bits >> 31) != 0u || bits == 0u)
        return 0;                               /* zero or negative: no time */
    exponent = (int)((bits >> 23) & 0xFFu);
    mantissa = bits & 0x7FFFFFu;
    if (exponent == 0xFF)
        return (uint64_t)1 << 62;               /* infinite (config limits forbid it) */
    if (exponent != 0)
        mantissa |= 0x800000u;
    else
        exponent = 1;                           /* subnormal */
    scaled = (uint64_t)mantissa * 1000000u;     /* < 2^44 */
    shift = exponent - 150 + 32;                /* seconds = mantissa * 2^(exponent - 150) */
    if (shift >= 0)
        return shift > 18 ? (uint64_t)1 << 62 : scaled << shift;
    if (shift <= -63)
        return 1;                               /* a positive sliver of a microsecond */
    return (scaled + (((uint64_t)1 << -shift) - 1u)) >> -shift;
}

// Smallest whole number of microseconds not below a fixed-point duration
static int64_t ctl_ceil_us(uint64_t fix)
{
    return (int64_t)((fix + 0xFFFFFFFFu) >> 32);
}

// Microseconds from one frame time to another (negative if the clock went back)
static int64_t ctl_elapsed_us(uint32_t from_us, uint32_t to_us)
{
    return (int64_t)to_us - (int64_t)from_us;
}

// State transitions that depend on the sensors (touchdown is decided in the detector)
static void ctl_advance_state(struct ctl_controller *c, const struct ctl_config *cfg,
                              float altitude, float bridle_length, uint16_t flags, uint32_t t_us)
{
    if (c->state == ICD_CONTROLLER_STATE_STANDBY) {
        c->state = ICD_CONTROLLER_STATE_POWERED_DESCENT;
        c->hover_est = cfg->throttle_init;  /* here, not at reset: the run's config is written by now */
        if (flags & ICD_SENSOR_FLAGS_CUT) {
            /* A cold start after the cut (a board reset): the rover is down, only the flyaway is
               left; descending by altitude would put the stage on it. */
            c->state = ICD_CONTROLLER_STATE_FLYAWAY;
            c->discretes |= ICD_DISCRETES_SEPARATE | ICD_DISCRETES_CUT;
            c->t_event_us = t_us;
        }
    }
    if (c->state == ICD_CONTROLLER_STATE_POWERED_DESCENT && altitude <= cfg->h_cv_m)
        c->state = ICD_CONTROLLER_STATE_CONSTANT_VELOCITY;
    if (c->state == ICD_CONTROLLER_STATE_CONSTANT_VELOCITY && altitude <= cfg->h_sep_m) {
        c->state = ICD_CONTROLLER_STATE_SKY_CRANE;
        c->discretes |= ICD_DISCRETES_SEPARATE;
        c->t_event_us = t_us;
        c->baseline = c->throttle;
    }
    if (c->state == ICD_CONTROLLER_STATE_SKY_CRANE) {
        if (!c->bridles_full && bridle_length >= cfg->bridle_full_m - CTL_BRIDLE_FULL_TOL_M) {
            c->bridles_full = 1;
            c->t_bridles_full_us = t_us;
        }
        if (c->bridles_full && cfg->td_enable
            && ctl_elapsed_us(c->t_bridles_full_us, t_us) >= ctl_ceil_us(ctl_fix_us(cfg->td_arm_delay_s))) {
            c->state = ICD_CONTROLLER_STATE_TOUCHDOWN_ARMED;
            c->drop_time_us = 0;
        }
    }
    if (c->state == ICD_CONTROLLER_STATE_TOUCHDOWN
        && ctl_elapsed_us(c->t_event_us, t_us) >= ctl_ceil_us(ctl_fix_us(cfg->cut_delay_s))) {
        c->state = ICD_CONTROLLER_STATE_FLYAWAY;
        c->discretes |= ICD_DISCRETES_CUT;
        c->t_event_us = t_us;
    }
}

// The share of full thrust the engines deliver: thrust_avail when ENGINES_DEGRADED is told
static float ctl_available_thrust(const struct ctl_sensors *s)
{
    if (!(s->health & ICD_HEALTH_FLAGS_ENGINES_DEGRADED) || s->thrust_avail != s->thrust_avail)
        return 1.0f;                            /* not told, or not a number */
    return ctl_clip(s->thrust_avail, CTL_THRUST_AVAIL_MIN, 1.0f);
}

/*
 * A told change of the available thrust changes what a throttle delivers: the hover estimate
 * and the detector's baseline (both throttles) move at once to keep the same thrust, instead of
 * the integrator winding up to it and the detector taking the step for a drop.
 */
static void ctl_rescale_throttle(struct ctl_controller *c, float avail)
{
    float ratio, baseline;
    if (avail == c->thrust_avail)
        return;
    ratio = c->thrust_avail / avail;
    c->hover_est = ctl_clip(c->hover_est * ratio, CTL_HOVER_EST_MIN, CTL_HOVER_EST_MAX);
    baseline = c->baseline * ratio;
    c->baseline = baseline < 1.0f ? baseline : 1.0f;  /* it filters a throttle of at most 1 */
    c->thrust_avail = avail;
}

// Reference vertical velocity and its rate for the powered-descent and sky-crane states
static void ctl_guidance(const struct ctl_controller *c, const struct ctl_config *cfg,
                         float altitude, float vz, float *v_ref, float *a_ref)
{
    float height, speed;
    if (c->state != ICD_CONTROLLER_STATE_POWERED_DESCENT) {
        *v_ref = -cfg->v_cv_mps;
        *a_ref = 0.0f;
        return;
    }
    /* Constant-deceleration braking profile that arrives at v_cv at h_cv. */
    height = altitude - cfg->h_cv_m > 0.0f ? altitude - cfg->h_cv_m : 0.0f;
    speed = sqrtf(cfg->v_cv_mps * cfg->v_cv_mps + 2.0f * cfg->brake_decel_mps2 * height);
    *v_ref = -speed;
    /* Rate of v_ref along the actual descent: a_b * vz / v_ref, bounded. */
    *a_ref = ctl_clip(cfg->brake_decel_mps2 * vz / *v_ref, 0.0f, 2.0f * cfg->brake_decel_mps2);
}

// Velocity loop: throttle = hover estimate scaled by the wanted acceleration
static void ctl_track(struct ctl_controller *c, const struct ctl_config *cfg,
                      float v_ref, float a_ref, float vz, float dt)
{
    float error = v_ref - vz;
    float accel = a_ref + cfg->kp_vz * error;
    float raw = c->hover_est * (1.0f + accel / CTL_MARS_G) / ctl_vertical_fraction(c->tilt_x, c->tilt_y);
    int saturated_low = raw <= cfg->throttle_min && error < 0.0f;
    int saturated_high = raw >= 1.0f && error > 0.0f;
    c->throttle = ctl_clip(raw, cfg->throttle_min, 1.0f);
    if (!(saturated_low || saturated_high))    /* anti-windup */
        c->hover_est = ctl_clip(c->hover_est + cfg->ki_vz * error * dt, CTL_HOVER_EST_MIN, CTL_HOVER_EST_MAX);
}

/*
 * Touchdown: the throttle stays a set fraction below its filtered baseline for a while.
 * The drop time adds up whole microseconds of frame time: float32 seconds would add fifty
 * 0.02 s cycles to 0.9999996 s and declare one cycle after the reference does.
 * CTL_TD_FIXED_LEVEL builds a plausible wrong detector instead, a fixed level from config values
 * (make host-td-fixed-level), for the fault catalogue to catch (tests/test_td_variant.py).
 */
static void ctl_detect_touchdown(struct ctl_controller *c, const struct ctl_config *cfg,
                                 uint32_t t_us, float dt, uint32_t dt_us)
{
    int below;
    float weight;
    if (c->state != ICD_CONTROLLER_STATE_SKY_CRANE && c->state != ICD_CONTROLLER_STATE_TOUCHDOWN_ARMED)
        return;
#ifdef CTL_TD_FIXED_LEVEL
    below = c->throttle < cfg->throttle_init * (1.0f - cfg->td_drop_frac);
#else
    below = c->throttle < (1.0f - cfg->td_drop_frac) * c->baseline;
#endif
    if (!below || c->state == ICD_CONTROLLER_STATE_SKY_CRANE) {
        weight = dt / cfg->td_baseline_tau_s;
        c->baseline += (c->throttle - c->baseline) * (weight < 1.0f ? weight : 1.0f);
    }
    if (c->state != ICD_CONTROLLER_STATE_TOUCHDOWN_ARMED)
        return;
    if (!below)
        c->drop_time_us = 0;
    else
        c->drop_time_us = c->drop_time_us <= 0xFFFFFFFFu - dt_us ? c->drop_time_us + dt_us : 0xFFFFFFFFu;
    if (below && (int64_t)c->drop_time_us >= ctl_ceil_us(ctl_fix_us(cfg->td_persist_s))) {
        c->state = ICD_CONTROLLER_STATE_TOUCHDOWN;
        c->t_event_us = t_us;
        c->td_time_us = t_us;
    }
}

// After the cut: short hover, vertical climb, tilted burn, engines off
static void ctl_flyaway(struct ctl_controller *c, const struct ctl_config *cfg,
                        float vz, uint32_t t_us, float dt)
{
    int64_t since = ctl_elapsed_us(c->t_event_us, t_us);
    uint64_t hover_end = ctl_fix_us(cfg->flyaway_hover_s);
    uint64_t climb_end = hover_end + ctl_fix_us(cfg->flyaway_climb_s);
    uint64_t burn_end = climb_end + ctl_fix_us(cfg->flyaway_burn_s);
    c->tilt_y = 0.0f;
    if (since < ctl_ceil_us(climb_end)) {
        c->tilt_x = 0.0f;
        ctl_track(c, cfg, since < ctl_ceil_us(hover_end) ? 0.0f : cfg->flyaway_climb_mps, 0.0f, vz, dt);
    } else if (since < ctl_ceil_us(burn_end)) {
        float throttle = cfg->flyaway_throttle / c->thrust_avail;  /* the same thrust from degraded engines */
        c->tilt_x = cfg->flyaway_tilt_rad;
        c->throttle = throttle < 1.0f ? throttle : 1.0f;
    } else {
        c->state = ICD_CONTROLLER_STATE_ENGINES_OFF;
        c->tilt_x = 0.0f;
        c->throttle = 0.0f;
    }
}

// The command block as it stands
static void ctl_output(const struct ctl_controller *c, uint32_t frame, struct ctl_commands *out)
{
    out->frame = frame;
    out->state = c->state;
    out->throttle = c->throttle;
    out->tilt_x_rad = c->tilt_x;
    out->tilt_y_rad = c->tilt_y;
    out->discretes = c->discretes;
    out->td_time_us = c->td_time_us;
    out->faults = c->faults;
    out->state_since_us = c->state_since_us;
}

void ctl_controller_step(struct ctl_controller *c, const struct ctl_config *cfg,
                         const struct ctl_sensors *s, struct ctl_commands *out)
{
    float dt, v_ref, a_ref, limit, altitude, vx, vy, vz;
    float imu[3], radar[4];
    uint32_t dt_us;                             /* dt in whole microseconds, for time sums */
    uint8_t entered;                            /* the state before this step's transitions */
    if (c->state == ICD_CONTROLLER_STATE_LINK_LOST) {
        ctl_output(c, c->prev_frame, out);      /* latched: only a reset leaves it */
        return;
    }
    c->faults = 0;
    /* A frame number of 0xFFFFFFFF has no successor in the reference's unbounded integers. */
    if (c->started && (c->prev_frame == 0xFFFFFFFFu || s->frame != c->prev_frame + 1u))
        c->faults |= ICD_FAULTS_FRAME_SKIP;
    if (!c->started) {
        dt = 1.0f / cfg->control_rate_hz;
        dt_us = (uint32_t)(1e6f / cfg->control_rate_hz + 0.5f);  /* rate is 10..500 Hz */
    } else if (s->t_us > c->prev_t_us) {
        dt_us = s->t_us - c->prev_t_us;
        dt = (float)dt_us * 1e-6f;
    } else {
        dt = 0.0f;                              /* no time passed: integrate nothing */
        dt_us = 0;
        c->faults |= ICD_FAULTS_CLOCK_BACKWARDS;
    }
    c->started = 1;
    c->prev_frame = s->frame;
    c->prev_t_us = s->t_us;

    imu[0] = s->imu_fx;
    imu[1] = s->imu_fy;
    imu[2] = s->imu_fz;
    radar[0] = s->altitude_m;
    radar[1] = s->vx_mps;
    radar[2] = s->vy_mps;
    radar[3] = s->vz_mps;
    /* A sensor the vehicle reports failed (told) is not used, whatever its valid flag says. */
    c->faults |= ctl_navigation_update(
        &c->nav, cfg, dt,
        (s->flags & ICD_SENSOR_FLAGS_IMU_VALID) && !(s->health & ICD_HEALTH_FLAGS_IMU_FAILED) ? imu : 0,
        s->radar_seq,
        (s->flags & ICD_SENSOR_FLAGS_RADAR_VALID) && !(s->health & ICD_HEALTH_FLAGS_RADAR_FAILED) ? radar : 0);
    if (!c->nav.valid) {
        /* No velocity estimate yet: hold the last command, change nothing else. */
        c->faults |= ICD_FAULTS_NO_NAVIGATION;
        ctl_output(c, s->frame, out);
        return;
    }

    altitude = c->nav.altitude;
    vx = c->nav.velocity[0];
    vy = c->nav.velocity[1];
    vz = c->nav.velocity[2];
    entered = c->state;
    ctl_advance_state(c, cfg, altitude, s->bridle_length_m, s->flags, s->t_us);
    ctl_rescale_throttle(c, ctl_available_thrust(s));
    if (c->state == ICD_CONTROLLER_STATE_FLYAWAY || c->state == ICD_CONTROLLER_STATE_ENGINES_OFF) {
        ctl_flyaway(c, cfg, vz, s->t_us, dt);
    } else {
        ctl_guidance(c, cfg, altitude, vz, &v_ref, &a_ref);
        limit = cfg->tilt_max_rad;
        c->tilt_x = ctl_clip(-cfg->kp_vh * vx, -limit, limit);
        c->tilt_y = ctl_clip(-cfg->kp_vh * vy, -limit, limit);
        ctl_track(c, cfg, v_ref, a_ref, vz, dt);
        ctl_detect_touchdown(c, cfg, s->t_us, dt, dt_us);
    }
    if (c->state != entered)
        c->state_since_us = s->t_us;
    ctl_output(c, s->frame, out);
}

void ctl_controller_link_lost(struct ctl_controller *c, uint32_t t_us, struct ctl_commands *out)
{
    if (c->state != ICD_CONTROLLER_STATE_LINK_LOST) {
        int burning = c->state >= ICD_CONTROLLER_STATE_POWERED_DESCENT
                      && c->state <= ICD_CONTROLLER_STATE_FLYAWAY;
        c->state = ICD_CONTROLLER_STATE_LINK_LOST;
        c->throttle = burning ? c->hover_est : 0.0f;
        c->tilt_x = 0.0f;
        c->tilt_y = 0.0f;
        c->faults = ICD_FAULTS_WATCHDOG;
        c->state_since_us = t_us;
    }
    ctl_output(c, c->prev_frame, out);          /* prev_frame is 0 before any step */
}
