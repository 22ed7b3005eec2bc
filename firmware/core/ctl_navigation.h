/* Navigation: IMU-propagated velocity and altitude, corrected by each fresh radar sample. */
#ifndef CTL_NAVIGATION_H
#define CTL_NAVIGATION_H

#include <stdint.h>

#define CTL_MARS_G 3.711f   /* m/s^2, the controller's model of gravity (facts file: ESA "Meet Mars") */

struct ctl_config;

struct ctl_navigation {
    float velocity[3];      /* m/s, x y z, ground-relative, z up */
    float altitude;         /* m */
    float since_radar;      /* s since the last fresh radar sample */
    int32_t last_seq;       /* radar_seq of the last frame; -1 before the first */
    uint16_t rejects;       /* consecutive gated radar samples */
    uint8_t valid;          /* set by the first valid radar measurement */
};

/* No estimate, no radar sample seen. */
void ctl_navigation_reset(struct ctl_navigation *nav);

/*
 * Advance by dt seconds. imu: specific force x y z, or NULL when not valid this frame;
 * radar: altitude, vx, vy, vz of the newest measurement, or NULL when it is flagged invalid.
 * Returns the fault bits this frame earns (ICD_FAULTS_RADAR_INVALID, _RADAR_REJECTED).
 */
uint16_t ctl_navigation_update(struct ctl_navigation *nav, const struct ctl_config *cfg, float dt,
                               const float *imu, uint16_t radar_seq, const float *radar);

/* Share of thrust that points up for a thrust direction along (tan tilt_x, tan tilt_y, 1). */
float ctl_vertical_fraction(float tilt_x, float tilt_y);

#endif /* CTL_NAVIGATION_H */
