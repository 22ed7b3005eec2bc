/* The application: the ICD register bank (identity, config, sensors, commands) around the controller. */
#ifndef APP_H
#define APP_H

#include <stdint.h>

#include "ctl_controller.h"
#include "icd.h"

#ifndef FW_BUILD_ID
#define FW_BUILD_ID 0x000100u        /* major<<16 | minor<<8 | patch, or a build number */
#endif

#ifndef FW_DEVICE_KIND
#error "define FW_DEVICE_KIND for the target (an enum icd_device_kind value, e.g. ICD_DEVICE_KIND_SIL)"
#endif

/* app_poll: nothing scheduled (lockstep, no frame yet since the config, or LINK_LOST). */
#define APP_POLL_IDLE 0xFFFFFFFFu

struct app {
    struct ctl_config config;                 /* the config block, decoded (read back by encoding) */
    struct ctl_controller controller;
    uint16_t sensors[ICD_SENSORS_LEN];        /* the newest sensor frame written, as registers */
    uint16_t commands[ICD_COMMANDS_LEN];      /* the answer of the last step, as registers */
    uint32_t step_count;                      /* control steps run since the config was written */
    uint32_t step_delay_us;                   /* port setting: each step busy-waits this long (0) */
    /* real-time schedule (docs/realtime.md), all on port_time_us() */
    uint32_t first_rx_us;                     /* arrival of the run's first frame: controller time 0 */
    uint32_t frame_rx_us;                     /* arrival of the newest frame */
    uint32_t due_us;                          /* when the next step is due */
    uint32_t period_us;                       /* round(1e6 / control_rate_hz) */
    uint32_t watchdog_us;                     /* round(watchdog_s * 1e6); 0: never */
    uint8_t scheduled;                        /* real-time steps are running */
    uint8_t fresh;                            /* the newest frame has not been stepped yet */
    uint8_t link_lost;                        /* the watchdog tripped (latched until a config write) */
};

/* Config at the ICD defaults, controller in STANDBY, command block zero (td_time_us unset),
   step_delay_us 0. */
void app_init(struct app *a);

/* mb_read_fn: registers inside one block, else MB_EX_ILLEGAL_DATA_ADDRESS. ctx is the struct app.
   A read that includes read_tick_us fills it with port_time_us() first. */
uint8_t app_read(void *ctx, uint16_t address, uint16_t count, uint8_t *out);

/* mb_write_fn: config (whole fields, values in range; an accepted write starts a new run) or
   the whole sensor block (lockstep: runs one step; real-time: stores the frame). */
uint8_t app_write(void *ctx, uint16_t address, uint16_t count, const uint8_t *data);

/* Real-time: runs a step that is due (or trips the watchdog) and returns the microseconds
   until it next has work, 0 if already due again, or APP_POLL_IDLE when nothing is scheduled.
   Ports call it from their main loop, after feeding received bytes, and sleep at most that long. */
uint32_t app_poll(struct app *a);

#endif /* APP_H */
