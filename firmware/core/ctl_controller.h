/* The descent controller: a port of hil/reference/controller.py (docs/controller.md) in float32. */
#ifndef CTL_CONTROLLER_H
#define CTL_CONTROLLER_H

#include <stdint.h>

#include "ctl_navigation.h"

typedef uint16_t ctl_u16;
typedef float ctl_f32;

/*
 * The config block, field by field in ICD order: X(type, name, ICD macro stem). Meaning,
 * unit, default and limits of each are in docs/icd.md (ICD_CONFIG_<stem>_* in icd.h).
 */
#define CTL_CONFIG_FIELDS(X) \
    X(u16, timing_mode, TIMING_MODE) \
    X(f32, control_rate_hz, CONTROL_RATE_HZ) \
    X(f32, throttle_min, THROTTLE_MIN) \
    X(f32, throttle_init, THROTTLE_INIT) \
    X(f32, kp_vz, KP_VZ) \
    X(f32, ki_vz, KI_VZ) \
    X(f32, alt_filter_tau_s, ALT_FILTER_TAU_S) \
    X(f32, nav_radar_gain, NAV_RADAR_GAIN) \
    X(f32, nav_gate_mps, NAV_GATE_MPS) \
    X(u16, nav_max_rejects, NAV_MAX_REJECTS) \
    X(f32, brake_decel_mps2, BRAKE_DECEL_MPS2) \
    X(f32, v_cv_mps, V_CV_MPS) \
    X(f32, h_cv_m, H_CV_M) \
    X(f32, h_sep_m, H_SEP_M) \
    X(f32, kp_vh, KP_VH) \
    X(f32, tilt_max_rad, TILT_MAX_RAD) \
    X(f32, bridle_full_m, BRIDLE_FULL_M) \
    X(u16, td_enable, TD_ENABLE) \
    X(f32, td_arm_delay_s, TD_ARM_DELAY_S) \
    X(f32, td_drop_frac, TD_DROP_FRAC) \
    X(f32, td_persist_s, TD_PERSIST_S) \
    X(f32, td_baseline_tau_s, TD_BASELINE_TAU_S) \
    X(f32, cut_delay_s, CUT_DELAY_S) \
    X(f32, flyaway_hover_s, FLYAWAY_HOVER_S) \
    X(f32, flyaway_climb_s, FLYAWAY_CLIMB_S) \
    X(f32, flyaway_climb_mps, FLYAWAY_CLIMB_MPS) \
    X(f32, flyaway_tilt_rad, FLYAWAY_TILT_RAD) \
    X(f32, flyaway_throttle, FLYAWAY_THROTTLE) \
    X(f32, flyaway_burn_s, FLYAWAY_BURN_S) \
    X(f32, watchdog_s, WATCHDOG_S)

#define CTL_CONFIG_MEMBER(type, name, stem) ctl_##type name;
struct ctl_config {
    CTL_CONFIG_FIELDS(CTL_CONFIG_MEMBER)
};
#undef CTL_CONFIG_MEMBER

/* One sensor frame, decoded (fields of the ICD sensor block). */
struct ctl_sensors {
    uint32_t frame;
    uint32_t t_us;              /* the controller's clock in lockstep */
    uint16_t radar_seq;         /* a change means a fresh radar measurement */
    float altitude_m;
    float vx_mps;
    float vy_mps;
    float vz_mps;
    float imu_fx;
    float imu_fy;
    float imu_fz;
    float bridle_length_m;
    uint16_t flags;             /* icd_sensor_flags */
    uint16_t health;            /* icd_health_flags: told faults */
    float thrust_avail;         /* share of full thrust, with ICD_HEALTH_FLAGS_ENGINES_DEGRADED */
};

/* The answer to a frame (fields of the ICD command block but step_time_us, which the app adds). */
struct ctl_commands {
    uint32_t frame;
    uint16_t state;             /* icd_controller_state */
    float throttle;
    float tilt_x_rad;
    float tilt_y_rad;
    uint16_t discretes;         /* icd_discretes, latched */
    uint32_t td_time_us;
    uint16_t faults;            /* icd_faults, this frame only */
    uint32_t state_since_us;    /* clock when the state was entered */
};

/* All controller state: one record, no globals. */
struct ctl_controller {
    struct ctl_navigation nav;
    float hover_est;            /* throttle that holds the current load in hover */
    float throttle;
    float tilt_x;
    float tilt_y;
    float baseline;             /* filtered throttle the touchdown drop is measured against */
    float thrust_avail;         /* share of full thrust the throttle scale is set for */
    uint32_t prev_frame;
    uint32_t prev_t_us;
    uint32_t t_bridles_full_us; /* frame time the bridles were first out (if bridles_full) */
    uint32_t t_event_us;        /* frame time of the last separation / touchdown / cut */
    uint32_t td_time_us;
    uint32_t state_since_us;    /* clock when the current state was entered */
    uint32_t drop_time_us;      /* how long the throttle has stayed below the drop line */
    uint16_t discretes;
    uint16_t faults;
    uint8_t state;              /* icd_controller_state */
    uint8_t started;            /* a frame has been stepped (Python: prev_frame >= 0) */
    uint8_t bridles_full;       /* Python: t_bridles_full >= 0 */
};

/* The ICD defaults of every config field. */
void ctl_config_defaults(struct ctl_config *cfg);

/* Back to STANDBY; the hover estimate is set to cfg->throttle_init on leaving STANDBY. */
void ctl_controller_reset(struct ctl_controller *c, const struct ctl_config *cfg);

/* One control step on one sensor frame; fills `out`. In LINK_LOST (latched) it changes
   nothing and answers the held safe command. */
void ctl_controller_step(struct ctl_controller *c, const struct ctl_config *cfg,
                         const struct ctl_sensors *s, struct ctl_commands *out);

/*
 * The real-time watchdog tripped (docs/realtime.md, item 4): enter LINK_LOST, latched until
 * the next reset. Throttle holds the hover estimate if the engines were burning (POWERED_DESCENT
 * .. FLYAWAY), else 0; both tilts 0; discretes, td_time_us and the frame number unchanged;
 * faults = WATCHDOG; state_since_us = t_us, the controller clock now. Fills `out` with that command.
 */
void ctl_controller_link_lost(struct ctl_controller *c, uint32_t t_us, struct ctl_commands *out);

#endif /* CTL_CONTROLLER_H */
