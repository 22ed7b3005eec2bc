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

struct app {
    struct ctl_config config;                 /* the config block, decoded (read back by encoding) */
    struct ctl_controller controller;
    uint16_t sensors[ICD_SENSORS_LEN];        /* the last sensor frame written, as registers */
    uint16_t commands[ICD_COMMANDS_LEN];      /* the answer to it, as registers */
    uint32_t steps;                           /* control steps run */
};

/* Config at the ICD defaults, controller in STANDBY, command block zero (td_time_us unset). */
void app_init(struct app *a);

/* mb_read_fn: registers inside one block, else MB_EX_ILLEGAL_DATA_ADDRESS. ctx is the struct app. */
uint8_t app_read(void *ctx, uint16_t address, uint16_t count, uint8_t *out);

/* mb_write_fn: config (whole fields, values in range) or the whole sensor block (runs one step). */
uint8_t app_write(void *ctx, uint16_t address, uint16_t count, const uint8_t *data);

#endif /* APP_H */
