/* Navigation for the controller: a port of hil/reference/navigation.py in float32. */
#include "ctl_navigation.h"

#include <math.h>

#include "ctl_controller.h"
#include "icd.h"

void ctl_navigation_reset(struct ctl_navigation *nav)
{
    nav->velocity[0] = 0.0f;
    nav->velocity[1] = 0.0f;
    nav->velocity[2] = 0.0f;
    nav->altitude = 0.0f;
    nav->since_radar = 0.0f;
    nav->last_seq = -1;
    nav->rejects = 0;
    nav->valid = 0;
}

// |x| in float (avr-libc's fabsf is fabs, typed double)
static float ctl_absf(float x)
{
    return x < 0.0f ? -x : x;
}

uint16_t ctl_navigation_update(struct ctl_navigation *nav, const struct ctl_config *cfg, float dt,
                               const float *imu, uint16_t radar_seq, const float *radar)
{
    float *v = nav->velocity;
    float innovation, gain, tau, weight;
    int fresh;
    if (nav->valid && imu != 0) {
        v[0] += imu[0] * dt;
        v[1] += imu[1] * dt;
        v[2] += (imu[2] - CTL_MARS_G) * dt;
    }
    if (nav->valid)
        nav->altitude += v[2] * dt;
    nav->since_radar += dt;
    fresh = (int32_t)radar_seq != nav->last_seq;
    nav->last_seq = (int32_t)radar_seq;
    if (!fresh)
        return 0;
    if (radar == 0)
        return ICD_FAULTS_RADAR_INVALID;
    if (!nav->valid || imu == 0) {
        /* Nothing to propagate with: take the radar as it is. */
        v[0] = radar[1];
        v[1] = radar[2];
        v[2] = radar[3];
        nav->altitude = radar[0];
        nav->valid = 1;
        nav->since_radar = 0.0f;
        nav->rejects = 0;
        return 0;
    }
    /* max() in Python's order: the first of equal or unordered (NaN) values wins. */
    innovation = ctl_absf(radar[1] - v[0]);
    if (ctl_absf(radar[2] - v[1]) > innovation)
        innovation = ctl_absf(radar[2] - v[1]);
    if (ctl_absf(radar[3] - v[2]) > innovation)
        innovation = ctl_absf(radar[3] - v[2]);
    if (innovation > cfg->nav_gate_mps && nav->rejects < cfg->nav_max_rejects) {
        nav->rejects++;
        return ICD_FAULTS_RADAR_REJECTED;
    }
    nav->rejects = 0;
    gain = cfg->nav_radar_gain;
    v[0] += gain * (radar[1] - v[0]);
    v[1] += gain * (radar[2] - v[1]);
    v[2] += gain * (radar[3] - v[2]);
    tau = cfg->alt_filter_tau_s;
    if (tau <= 0.0f)
        weight = 1.0f;                      /* tau 0: take the radar altitude */
    else
        weight = nav->since_radar / tau < 1.0f ? nav->since_radar / tau : 1.0f;
    nav->altitude += weight * (radar[0] - nav->altitude);
    nav->since_radar = 0.0f;
    return 0;
}

float ctl_vertical_fraction(float tilt_x, float tilt_y)
{
    float tx = tanf(tilt_x);
    float ty = tanf(tilt_y);
    return 1.0f / sqrtf(1.0f + tx * tx + ty * ty);
}
