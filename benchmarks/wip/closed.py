import sys, time, numpy as np
sys.path.insert(0, '/work/main')
from hil.campaign import plan_campaign
from hil.campaign.plan import cases
from hil.campaign.worker import Job
from hil.batch import fly_chunk
from hil.campaign.worker import fly_case
from hil.rig import MIL_RIG
from hil.batch.flight import close_metrics
sc = sys.argv[1]; n = int(sys.argv[2])
plan = plan_campaign(sc, runs=n, seed=5)
table = cases(plan)
jobs = [Job(c.index, plan.run_for(c), MIL_RIG, tuple(k for k, _ in c.inputs)) for c in table]
t0 = time.perf_counter(); b = fly_chunk(jobs); tb = time.perf_counter() - t0
t0 = time.perf_counter(); s = [fly_case(j) for j in jobs]; ts = time.perf_counter() - t0
print(f"batch {tb:.1f}s scalar {ts:.1f}s")
worst = {}
for x, y in zip(b, s):
    assert x["verdict"] == y["verdict"], (x["case"], x["verdict"], y["verdict"])
    assert x["readback"] == y["readback"]
    for k in y["metrics"]:
        a, c = x["metrics"][k], y["metrics"][k]
        if isinstance(a, float) and not (np.isnan(a) and np.isnan(c)):
            worst[k] = max(worst.get(k, 0), abs(a - c))
        elif not isinstance(a, float):
            assert a == c, k
print({k: f"{v:.2e}" for k, v in worst.items()})
print([x["verdict"] for x in b].count("PASS"), "pass of", n)
