"""Fly scalar landings closed loop (reference controller), record commands; replay into BatchPlant; compare."""
import sys, time, numpy as np
sys.path.insert(0, '/work/main')
from hil.api import land
from hil.rig import MIL_RIG
from hil import icd
from hil.executive import sensor_block, apply_command
from hil.reference import ReferenceController
from hil.reference.controller import SensorInput
from plant.model import Plant
from plant.batch import BatchPlant
from plant.scenario import load_scenario
from hil.campaign.plan import Campaign
import dataclasses

def scalar(params, initial, seed, cfg):
    plant = Plant(params, initial, np.random.default_rng(seed))
    ctl = ReferenceController(); ctl.config.update(icd.CONFIG.decode_map(icd.encode_config(cfg))); ctl.reset()
    frames, cmds, truths = [], [], []
    frame = 0
    while not plant.ended and plant.t < 200 - 1e-9:
        frame += 1
        s = plant.sense()
        regs = icd.SENSORS.encode(sensor_block(frame, s))
        out = ctl.step(SensorInput(*icd.SENSORS.decode(regs)))
        c = icd.COMMANDS.decode_record(icd.COMMANDS.encode((out.frame, out.state, out.throttle, out.tilt_x_rad, out.tilt_y_rad, out.discretes, out.td_time_us, out.faults, out.state_since_us, 0,0,0,0,0)))
        frames.append(s); cmds.append(c); truths.append(plant.state())
        apply_command(plant, c)
        plant.advance(max(0.0, frame*0.02 - plant.t))
    return plant, frames, cmds, truths

sc = load_scenario(sys.argv[1] if len(sys.argv) > 1 else "nominal")
cfg = icd.config_defaults(); cfg["control_rate_hz"] = 50.0
from plant.scenario import disperse
rng = np.random.default_rng(3)
cases = [disperse(sc, np.random.default_rng(i)) for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 4)]
res = [scalar(c.params, c.initial, 100 + j, cfg) for j, c in enumerate(cases)]
bp = BatchPlant([c.params for c in cases], [c.initial for c in cases], [100 + j for j in range(len(cases))])
n = len(cases)
maxd = {}
for frame in range(1, 20000):
    if not bp.alive.any(): break
    s = bp.sense()
    for pos, case in enumerate(bp.case):
        plant, frames, cmds, truths = res[case]
        sf = frames[frame - 1]
        for key in ("altitude_m", "vx_mps", "vz_mps", "imu_fx", "imu_fz", "bridle_length_m"):
            a, b = s[key][pos], getattr(sf, key)
            if not (a == b or (np.isnan(a) and np.isnan(b))):
                d = abs(a - b); maxd[key] = max(maxd.get(key, 0), d)
        assert s["radar_seq"] == sf.radar_seq and bool(s["radar_valid"][pos]) == sf.radar_valid, (frame, case)
    th = np.array([res[c][2][frame-1].throttle for c in bp.case]); tx = np.array([res[c][2][frame-1].tilt_x_rad for c in bp.case]); ty = np.array([res[c][2][frame-1].tilt_y_rad for c in bp.case])
    d = np.array([res[c][2][frame-1].discretes for c in bp.case])
    bp.apply(th, tx, ty, (d & 1) > 0, (d & 2) > 0)
    o = bp.mode_order()
    if o is not None: bp.keep(o)
    bp.advance(max(0.0, frame*0.02 - bp.t))
    if not bp.alive.all():
        bp.keep(np.flatnonzero(bp.alive))
print("max sensor diffs", maxd)
for j in range(n):
    plant = res[j][0]
    fc = plant.first_contact
    print(j, "contact t", fc["t"], bp.events["contact"][j], "vz", fc["vz"], bp.contact_v[2, j], "diff", fc["vz"] - bp.contact_v[2, j],
          "ds ground", plant.event_time("ds_ground_contact"), bp.events["ds_ground"][j], "x", plant.state()[0] - bp.final_x[0, j], plant.state()[6] - bp.final_x[6, j])
