import sys, time, numpy as np, timeit
sys.path.insert(0, '/work/main')
from plant.batch import BatchPlant
from plant.batch_physics import *
from plant.scenario import load_scenario, disperse
sc = load_scenario("nominal"); N = 4000
cases = [disperse(sc, np.random.default_rng(i)) for i in range(N)]
bp = BatchPlant([c.params for c in cases], [c.initial for c in cases], list(range(N)))
k = bp.k; x = bp.x.copy()
f = forcing(bp.act[0]+0.4, bp.act[1], bp.act[2], bp.act[3], np.where(True, k.rover_mass, 0), k)
w = bp.wind.velocity
out = np.empty_like(x)
for label, mode in [("attached", np.zeros(N, np.int8)), ("hanging", np.ones(N, np.int8)), ("free", np.full(N, 2, np.int8))]:
    x2 = x.copy()
    if mode[0] > 0:
        x2[6:9] = x[0:3]; x2[8] -= 8.0; x2[12] = 7.0; x2[8] = 0.01 if mode[0]==2 else x2[8]
    m = Modes.of(mode, k); m.stack_near = False
    t = timeit.timeit(lambda: derivative(x2, f, w[0], w[1], m, k, out), number=300)/300
    print(label, f"derivative {t*1e6:.0f} us = {t/N*1e9:.1f} ns/case")
t = timeit.timeit(lambda: rk4(x, 0.002, f, f, f, w[0], w[1], Modes.of(np.zeros(N, np.int8), k), k), number=100)/100
print(f"rk4 attached {t*1e6:.0f} us")
act = [a.copy() for a in bp.act]
t = timeit.timeit(lambda: propagate(act, bp.throttle_cmd+0.3, bp.tilt_x_cmd, bp.tilt_y_cmd, k.rover_mass, k), number=300)/300
print(f"propagate {t*1e6:.0f} us")
a = np.random.rand(N); b = np.random.rand(N)
print("mul", timeit.timeit(lambda: a*b, number=10000)/10000*1e6, "exp", timeit.timeit(lambda: np.exp(a), number=10000)/10000*1e6, "where", timeit.timeit(lambda: np.where(a>0.5, a, 0.0), number=10000)/10000*1e6, "tan", timeit.timeit(lambda: np.tan(a), number=10000)/10000*1e6)
X = np.random.rand(13, N)
print("13N add", timeit.timeit(lambda: X + X, number=3000)/3000*1e6)
