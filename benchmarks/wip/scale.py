import sys, time, numpy as np, cProfile, pstats
sys.path.insert(0, '/work/main')
from hil.campaign import plan_campaign
from hil.campaign.plan import cases
from hil.campaign.worker import Job
from hil.batch import fly_chunk
from hil.rig import MIL_RIG
n = int(sys.argv[1])
plan = plan_campaign("nominal", runs=n, seed=0)
jobs = [Job(c.index, plan.run_for(c), MIL_RIG, tuple(k for k, _ in c.inputs)) for c in cases(plan)]
t0 = time.perf_counter()
if len(sys.argv) > 2:
    cProfile.run("out = fly_chunk(jobs)", "/tmp/b/prof2"); pstats.Stats("/tmp/b/prof2").sort_stats("tottime").print_stats(25)
else:
    out = fly_chunk(jobs)
wall = time.perf_counter() - t0
sub = sum(o["metrics"]["ds_impact_time_s"] * 500 for o in out)
print(f"{n} cases {wall:.1f}s  {wall/sub*1e6:.3f} us per case-substep; substeps/case {sub/n:.0f}")
