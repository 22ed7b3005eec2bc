"""The reference controller (hil/reference/controller.py, navigation.py) over numpy arrays.

One element per landing case: N controllers step at once on one frame time. Each case has its
own config block (a campaign sweeps gains, thresholds, durations), precomputed into per-case
arrays, its durations into whole microseconds by the scalar's own duration_us.

The numbers are the scalar's: the same float64 operations in the same order on the same
float32-valued inputs, every `if` of the scalar a mask with the same semantics (a Python
`min`/`max`/`_clip` on floats keeps its NaN behaviour and operand order), the same state machine
with its transitions in the same order, so several can fire in one step. The one known
difference: numpy's tan is not math.tan and differs from it by one ulp on a small share of
inputs, so throttle (and from it the baseline, and rarely the hover estimate through the
anti-windup) can differ in the last bits; tests/test_batch_controller.py measures it.

Scope: the batch engine's lockstep MIL without faults (hil/batch/landing.py). Frames follow one
another (no FRAME_SKIP), the clock is shared by every case, health is 0 and thrust_avail 1, so the
available thrust is always 1 and the scalar's _rescale_throttle never changes anything (left out
here, as the flyaway burn's division by thrust_avail, which is by 1.0); no link_lost() and no
fault bits. A clock that does not advance integrates nothing, as in the scalar (dt = 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from hil import icd
from hil.icd import ControllerState as S
from hil.icd import Discretes, SensorFlags
from hil.reference.controller import (
    BRIDLE_FULL_TOL_M,
    HOVER_EST_MAX,
    HOVER_EST_MIN,
    duration_us,
)
from hil.reference.navigation import MARS_G

_IMU_VALID, _RADAR_VALID, _CUT_DONE = int(SensorFlags.IMU_VALID), int(SensorFlags.RADAR_VALID), int(SensorFlags.CUT)
_SEPARATE, _CUT = int(Discretes.SEPARATE), int(Discretes.CUT)
_STANDBY, _PD, _CV, _SC, _TA, _TD, _FLYAWAY, _OFF = (int(S.STANDBY), int(S.POWERED_DESCENT),
                                                     int(S.CONSTANT_VELOCITY), int(S.SKY_CRANE),
                                                     int(S.TOUCHDOWN_ARMED), int(S.TOUCHDOWN), int(S.FLYAWAY),
                                                     int(S.ENGINES_OFF))

# Per-case controller state (the scalar's fields, the navigation's included) and outputs.
_STATE_ARRAYS = ("state", "throttle", "tilt_x", "tilt_y", "discretes", "td_time_us", "state_since_us",
                 "hover_est", "baseline", "drop_time_us", "t_bridles_full_us", "t_event_us",
                 "nav_vx", "nav_vy", "nav_vz", "nav_altitude", "nav_valid", "nav_last_seq", "nav_rejects",
                 "nav_since_radar")
# Per-case config values (float64 of the device's float32) and what is derived from them once.
_CONFIG_ARRAYS = ("throttle_min", "throttle_init", "kp_vz", "ki_vz", "alt_filter_tau_s", "nav_radar_gain",
                  "nav_gate_mps", "nav_max_rejects", "brake_decel_mps2", "h_cv_m", "h_sep_m",
                  "tilt_max_rad", "flyaway_climb_mps", "flyaway_tilt_rad")
_DERIVED_ARRAYS = ("c_alt_tau_off", "c_alt_tau_div", "c_v_cv_sq", "c_two_brake", "c_neg_v_cv", "c_neg_kp_vh",
                   "c_neg_tilt_max", "c_bridle_line", "c_td_on", "c_one_minus_drop", "c_td_tau",
                   "c_flyaway_throttle", "d_arm_us", "d_persist_us", "d_cut_us", "d_hover_end_us",
                   "d_climb_end_us", "d_burn_end_us")


class BatchController:
    """N reference controllers stepped at once; public arrays hold each case's command."""

    state: np.ndarray           # int64, icd.ControllerState values
    throttle: np.ndarray        # float64
    tilt_x: np.ndarray
    tilt_y: np.ndarray
    discretes: np.ndarray       # int64, icd.Discretes bits
    td_time_us: np.ndarray      # int64, icd.TD_NOT_DECLARED until declared
    state_since_us: np.ndarray  # int64

    def __init__(self, configs: Sequence[Mapping[str, float]]) -> None:
        """configs: one config block per case, every register, as the device holds it
        (float32 values: icd.CONFIG.decode_map(icd.encode_config(...))). State as after reset().
        Raises ValueError if the cases differ in control_rate_hz (the clock is one for all)."""
        configs = list(configs)
        rates = {float(c["control_rate_hz"]) for c in configs}
        if len(rates) > 1:
            raise ValueError(f"the cases of a batch differ in control_rate_hz ({sorted(rates)}); "
                             "the batch controller needs one")
        self.control_rate_hz = rates.pop() if rates else 50.0

        def values(name: str) -> np.ndarray:
            return np.array([float(c[name]) for c in configs], dtype=np.float64)

        for name in _CONFIG_ARRAYS:
            setattr(self, "c_" + name, values(name))
        tau = self.c_alt_filter_tau_s
        self.c_alt_tau_off = tau <= 0.0                        # weight 1: take the radar altitude
        self.c_alt_tau_div = np.where(self.c_alt_tau_off, 1.0, tau)   # never divides by 0
        # Each derived value computed per case as the scalar computes it, in Python floats.
        self.c_v_cv_sq = np.array([c["v_cv_mps"] ** 2 for c in configs], dtype=np.float64)
        self.c_two_brake = np.array([2.0 * c["brake_decel_mps2"] for c in configs], dtype=np.float64)
        self.c_neg_v_cv = np.array([-c["v_cv_mps"] for c in configs], dtype=np.float64)
        self.c_neg_kp_vh = np.array([-c["kp_vh"] for c in configs], dtype=np.float64)
        self.c_neg_tilt_max = -self.c_tilt_max_rad
        self.c_bridle_line = np.array([c["bridle_full_m"] - BRIDLE_FULL_TOL_M for c in configs], dtype=np.float64)
        self.c_td_on = np.array([bool(c["td_enable"]) for c in configs], dtype=bool)
        self.c_one_minus_drop = np.array([1.0 - c["td_drop_frac"] for c in configs], dtype=np.float64)
        self.c_td_tau = values("td_baseline_tau_s")
        # The burn's throttle if throttle < 1.0 else 1.0, throttle = flyaway_throttle / thrust_avail (1 here).
        self.c_flyaway_throttle = np.array([min(1.0, c["flyaway_throttle"] / 1.0) for c in configs], dtype=np.float64)

        def micros(*names: str) -> np.ndarray:
            return np.array([duration_us(*(c[n] for n in names)) for c in configs], dtype=np.int64)

        self.d_arm_us = micros("td_arm_delay_s")
        self.d_persist_us = micros("td_persist_s")
        self.d_cut_us = micros("cut_delay_s")
        self.d_hover_end_us = micros("flyaway_hover_s")
        self.d_climb_end_us = micros("flyaway_hover_s", "flyaway_climb_s")
        self.d_burn_end_us = micros("flyaway_hover_s", "flyaway_climb_s", "flyaway_burn_s")

        n = len(configs)
        self.state = np.full(n, _STANDBY, dtype=np.int64)
        self.throttle = np.zeros(n)
        self.tilt_x = np.zeros(n)
        self.tilt_y = np.zeros(n)
        self.discretes = np.zeros(n, dtype=np.int64)
        self.td_time_us = np.full(n, icd.TD_NOT_DECLARED, dtype=np.int64)
        self.state_since_us = np.zeros(n, dtype=np.int64)
        self.hover_est = self.c_throttle_init.copy()
        self.baseline = np.zeros(n)
        self.drop_time_us = np.zeros(n, dtype=np.int64)
        self.t_bridles_full_us = np.full(n, -1, dtype=np.int64)
        self.t_event_us = np.zeros(n, dtype=np.int64)
        self.nav_vx = np.zeros(n)
        self.nav_vy = np.zeros(n)
        self.nav_vz = np.zeros(n)
        self.nav_altitude = np.zeros(n)
        self.nav_valid = np.zeros(n, dtype=bool)
        self.nav_last_seq = np.full(n, -1, dtype=np.int64)
        self.nav_rejects = np.zeros(n, dtype=np.int64)
        self.nav_since_radar = np.zeros(n)
        # The clock is one for all cases: the scalar's prev_frame < 0 is "no step yet".
        self.first = True
        self.prev_t_us = 0
        self._baseline_rate = (None, None)   # (dt, min(1, dt / td_baseline_tau_s)): dt rarely changes

    def __len__(self) -> int:
        return self.state.size

    def keep(self, index: np.ndarray) -> None:
        """Keep only the cases at these positions (an int index array, in order): every per-case
        array, config and duration arrays included, is compacted."""
        index = np.asarray(index, dtype=np.intp)
        for name in _STATE_ARRAYS + tuple("c_" + n for n in _CONFIG_ARRAYS) + _DERIVED_ARRAYS:
            setattr(self, name, getattr(self, name)[index])
        self._baseline_rate = (None, None)

    # -- one control step of every case ------------------------------------------------------

    def step(self, t_us: int, radar_seq: np.ndarray, altitude: np.ndarray, vx: np.ndarray, vy: np.ndarray,
             vz: np.ndarray, imu_fx: np.ndarray, imu_fy: np.ndarray, imu_fz: np.ndarray,
             bridle_length: np.ndarray, flags: np.ndarray) -> None:
        """One control step of every case on this frame (float64 arrays of float32-valued inputs,
        NaN where the scalar gets NaN; radar_seq and flags int64 arrays; flags are icd.SensorFlags bits).

        No array is changed in place: a step (or keep) binds new ones, so a caller's reference to
        last step's arrays keeps last step's values, and the caller's input arrays are never kept.
        """
        radar_seq, altitude, vx, vy, vz, imu_fx, imu_fy, imu_fz, bridle_length, flags = (
            np.asarray(a) for a in (radar_seq, altitude, vx, vy, vz, imu_fx, imu_fy, imu_fz, bridle_length, flags))
        t_us = int(t_us)
        if self.first:
            dt = 1.0 / self.control_rate_hz
        elif t_us > self.prev_t_us:
            dt = (t_us - self.prev_t_us) * 1e-6
        else:
            dt = 0.0   # no time passed: integrate nothing (CLOCK_BACKWARDS in the scalar)
        dt_us = round(dt * 1e6)
        self.first = False
        self.prev_t_us = t_us
        # NaN inputs of sensors not used, and branches computed for every case but kept for
        # some, make values that are thrown away: no warnings for those.
        with np.errstate(all="ignore"):
            self._navigate(dt, radar_seq, altitude, vx, vy, vz, imu_fx, imu_fy, imu_fz, flags)
            valid = self.nav_valid
            if valid.all():
                self._control(None, t_us, dt, dt_us, bridle_length, flags)
            elif valid.any():
                # No estimate yet (NO_NAVIGATION): those cases hold their last command, change nothing else.
                self._control(np.flatnonzero(valid), t_us, dt, dt_us, bridle_length, flags)

    def _navigate(self, dt: float, radar_seq, altitude, vx, vy, vz, imu_fx, imu_fy, imu_fz, flags) -> None:
        """Navigation.update for every case (it runs with or without an estimate)."""
        imu_ok = (flags & _IMU_VALID) != 0
        valid = self.nav_valid
        propagate = valid & imu_ok
        v0, v1, v2, alt = self.nav_vx, self.nav_vy, self.nav_vz, self.nav_altitude
        if propagate.any():
            v0 = _pick(propagate, v0 + imu_fx * dt, v0)
            v1 = _pick(propagate, v1 + imu_fy * dt, v1)
            v2 = _pick(propagate, v2 + (imu_fz - MARS_G) * dt, v2)
        if valid.any():
            alt = _pick(valid, alt + v2 * dt, alt)
        since = self.nav_since_radar + dt
        fresh = radar_seq != self.nav_last_seq
        self.nav_last_seq = radar_seq.astype(np.int64)   # a copy: the caller's array may change
        measured = fresh & ((flags & _RADAR_VALID) != 0)   # fresh and not a dropout
        if measured.any():
            rejects = self.nav_rejects
            direct = measured & ~propagate       # nothing to propagate with: take the radar as it is
            blend = measured & propagate
            taken = direct
            if blend.any():
                e0, e1, e2 = vx - v0, vy - v1, vz - v2
                # Python's max(a, b, c): the first, replaced by a later one only if strictly greater.
                a0, a1, a2 = np.abs(e0), np.abs(e1), np.abs(e2)
                innovation = np.where(a1 > a0, a1, a0)
                innovation = np.where(a2 > innovation, a2, innovation)
                rejected = blend & (innovation > self.c_nav_gate_mps) & (rejects < self.c_nav_max_rejects)
                accepted = blend & ~rejected
                if rejected.any():
                    rejects = np.where(rejected, rejects + 1, rejects)
                if accepted.any():
                    taken = direct | accepted
                    gain = self.c_nav_radar_gain
                    v0 = _pick(accepted, v0 + gain * e0, v0)
                    v1 = _pick(accepted, v1 + gain * e1, v1)
                    v2 = _pick(accepted, v2 + gain * e2, v2)
                    ratio = since / self.c_alt_tau_div
                    weight = np.where(self.c_alt_tau_off, 1.0, _pick(ratio < 1.0, ratio, 1.0))   # min(1.0, ratio)
                    alt = _pick(accepted, alt + weight * (altitude - alt), alt)
            if direct.any():
                v0, v1, v2 = _pick(direct, vx, v0), _pick(direct, vy, v1), _pick(direct, vz, v2)
                alt = _pick(direct, altitude, alt)
                self.nav_valid = valid | direct
            if taken.any():
                rejects = _pick(taken, 0, rejects)
                since = _pick(taken, 0.0, since)
            self.nav_rejects = rejects
        self.nav_vx, self.nav_vy, self.nav_vz = v0, v1, v2
        self.nav_altitude = alt
        self.nav_since_radar = since

    def _control(self, sel: np.ndarray | None, t_us: int, dt: float, dt_us: int, bridle, flags) -> None:
        """State machine and outputs of the cases with an estimate: all (sel None) or those at sel.

        Arrays read here (state, config, inputs) are never changed in place: every result is a new
        array (_clip_new clips only the fresh array it is given).
        """
        if sel is None:
            def g(a):
                return a
        else:
            def g(a):
                return a[sel]
        state = entered = g(self.state)
        discretes, t_event, hover, baseline = g(self.discretes), g(self.t_event_us), g(self.hover_est), g(self.baseline)
        throttle, t_full, drop = g(self.throttle), g(self.t_bridles_full_us), g(self.drop_time_us)
        td_time = g(self.td_time_us)
        altitude, vx, vy, vz = g(self.nav_altitude), g(self.nav_vx), g(self.nav_vy), g(self.nav_vz)
        bridle, flags = g(bridle), g(flags)

        # _advance_state: each transition in the scalar's order, on the state the previous one left.
        standby = state == _STANDBY
        if standby.any():
            state = _pick(standby, _PD, state)
            hover = _pick(standby, g(self.c_throttle_init), hover)
            cold_cut = standby & ((flags & _CUT_DONE) != 0)   # a cold start after the cut: only the flyaway left
            if cold_cut.any():
                state = np.where(cold_cut, _FLYAWAY, state)
                discretes = np.where(cold_cut, discretes | (_SEPARATE | _CUT), discretes)
                t_event = np.where(cold_cut, t_us, t_event)
        to_cv = (state == _PD) & (altitude <= g(self.c_h_cv_m))
        if to_cv.any():
            state = _pick(to_cv, _CV, state)
        separate = (state == _CV) & (altitude <= g(self.c_h_sep_m))
        if separate.any():
            state = _pick(separate, _SC, state)
            discretes = _pick(separate, discretes | _SEPARATE, discretes)
            t_event = _pick(separate, t_us, t_event)
            baseline = _pick(separate, throttle, baseline)   # the throttle before this step's
        sky_crane = state == _SC
        if sky_crane.any():
            full = sky_crane & (t_full < 0) & (bridle >= g(self.c_bridle_line))
            if full.any():
                t_full = np.where(full, t_us, t_full)
            arm = sky_crane & (t_full >= 0) & g(self.c_td_on) & (t_us - t_full >= g(self.d_arm_us))
            if arm.any():
                state = np.where(arm, _TA, state)
                drop = np.where(arm, 0, drop)
        cut = (state == _TD) & (t_us - t_event >= g(self.d_cut_us))
        if cut.any():
            state = np.where(cut, _FLYAWAY, state)
            discretes = np.where(cut, discretes | _CUT, discretes)
            t_event = np.where(cut, t_us, t_event)
        # (_rescale_throttle: the available thrust is always 1 here, nothing to rescale.)

        # _guidance (kept for the cases not in the flyaway): the braking profile in POWERED_DESCENT.
        powered = state == _PD
        if powered.any():
            height = altitude - g(self.c_h_cv_m)
            height = np.where(height > 0.0, height, 0.0)          # max(0.0, height)
            two_brake = g(self.c_two_brake)
            v_pd = -np.sqrt(g(self.c_v_cv_sq) + two_brake * height)
            a_pd = _clip_new(g(self.c_brake_decel_mps2) * vz / v_pd, 0.0, two_brake)
            v_ref = _pick(powered, v_pd, g(self.c_neg_v_cv))
            a_ref = _pick(powered, a_pd, 0.0)
        else:
            v_ref, a_ref = g(self.c_neg_v_cv), 0.0
        # The horizontal law.
        limit, neg_limit, neg_kp = g(self.c_tilt_max_rad), g(self.c_neg_tilt_max), g(self.c_neg_kp_vh)
        tilt_x = _clip_new(neg_kp * vx, neg_limit, limit)
        tilt_y = _clip_new(neg_kp * vy, neg_limit, limit)

        # _flyaway: hover, climb (both through the velocity loop), burn, engines off.
        flyaway = (state == _FLYAWAY) | (state == _OFF)
        flying = flyaway.any()
        if flying:
            since = t_us - t_event
            climbing = flyaway & (since < g(self.d_climb_end_us))
            burning = flyaway & ~climbing & (since < g(self.d_burn_end_us))
            done = flyaway & ~climbing & ~burning
            if climbing.any():
                v_ref = _pick(climbing, _pick(since < g(self.d_hover_end_us), 0.0, g(self.c_flyaway_climb_mps)),
                              v_ref)
            a_ref = _pick(flyaway, 0.0, a_ref)
            tilt_x = _pick(flyaway, _pick(burning, g(self.c_flyaway_tilt_rad), 0.0), tilt_x)
            tilt_y = _pick(flyaway, 0.0, tilt_y)
            if done.any():
                state = _pick(done, _OFF, state)

        # _track: the vertical velocity loop, for every case but the flyaway's burn and engines off.
        error = v_ref - vz
        accel = a_ref + g(self.c_kp_vz) * error
        tx, ty = np.tan(tilt_x), np.tan(tilt_y)
        vertical_fraction = 1.0 / np.sqrt(1.0 + tx * tx + ty * ty)
        raw = hover * (1.0 + accel / MARS_G) / vertical_fraction
        throttle_min = g(self.c_throttle_min)
        new_throttle = _clip_new(raw.copy(), throttle_min, 1.0)
        windup = ((raw <= throttle_min) & (error < 0.0)) | ((raw >= 1.0) & (error > 0.0))
        learned = _clip_new(hover + g(self.c_ki_vz) * error * dt, HOVER_EST_MIN, HOVER_EST_MAX)
        if flying:
            tracked = ~flyaway | climbing
            hover = _pick(tracked & ~windup, learned, hover)
            if not tracked.all():
                new_throttle = np.where(tracked, new_throttle, _pick(burning, g(self.c_flyaway_throttle), 0.0))
        else:
            hover = _pick(windup, hover, learned)

        # _detect_touchdown (after the throttle: not in the flyaway, whose states are not these).
        armed = state == _TA
        detecting = (state == _SC) | armed
        if detecting.any():
            below = new_throttle < g(self.c_one_minus_drop) * baseline
            filtered = detecting & (~below | (state == _SC))
            if filtered.any():
                baseline = _pick(filtered, baseline + (new_throttle - baseline) * g(self._rate(dt)), baseline)
            if armed.any():
                drop = np.where(armed, _pick(below, drop + dt_us, 0), drop)
                touchdown = armed & below & (drop >= g(self.d_persist_us))
                if touchdown.any():
                    state = np.where(touchdown, _TD, state)
                    t_event = np.where(touchdown, t_us, t_event)
                    td_time = np.where(touchdown, t_us, td_time)
        changed = state != entered
        since_us = g(self.state_since_us)
        if changed.any():
            since_us = np.where(changed, t_us, since_us)

        self._put(sel, state=state, throttle=new_throttle, tilt_x=tilt_x, tilt_y=tilt_y, discretes=discretes,
                  td_time_us=td_time, state_since_us=since_us, hover_est=hover, baseline=baseline,
                  drop_time_us=drop, t_bridles_full_us=t_full, t_event_us=t_event)

    def _rate(self, dt: float) -> np.ndarray:
        """min(1.0, dt / td_baseline_tau_s) per case, kept while dt stays the same."""
        last_dt, rate = self._baseline_rate
        if last_dt != dt:
            rate = dt / self.c_td_tau
            rate = np.where(rate < 1.0, rate, 1.0)
            self._baseline_rate = (dt, rate)
        return rate

    def _put(self, sel: np.ndarray | None, **arrays: np.ndarray) -> None:
        for name, value in arrays.items():
            if sel is None:
                setattr(self, name, value)
            else:
                whole = getattr(self, name).copy()
                whole[sel] = value
                setattr(self, name, whole)


def _pick(mask: np.ndarray, a, b) -> np.ndarray:
    """np.where(mask, a, b), cheaper when the mask is uniform (the usual case: the cases of a batch
    mostly do the same thing). Always a new array, never one of its arguments."""
    count = np.count_nonzero(mask)
    if count == mask.size:
        return a.copy() if isinstance(a, np.ndarray) else np.full(mask.shape, a)
    if count == 0:
        return b.copy() if isinstance(b, np.ndarray) else np.full(mask.shape, b)
    return np.where(mask, a, b)


def _clip_new(value: np.ndarray, low, high) -> np.ndarray:
    """The scalar's _clip (low if value < low else high if value > high else value; NaN stays NaN),
    done in place on `value`, a new array of the caller's. Needs low <= high, which the ICD limits
    guarantee for every clip here (throttle_min <= 0.5, tilt_max_rad >= 0, brake_decel_mps2 > 0)."""
    np.copyto(value, low, where=value < low)
    np.copyto(value, high, where=value > high)
    return value
