"""The register-level differential in CI (hil/differential.py): 12,000 random requests, valid and
malformed, fed to the Python server and the C core, the C in chunks of 1, 3, 17 and 512 bytes.
The long run is `benchmarks/differential.py --requests N`."""

import shutil

import pytest

from hil import differential
from hil.reference import ReferenceController

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("make") is None or shutil.which("gcc") is None,
                                 reason="the C core needs make and gcc")]


@pytest.mark.parametrize("chunk,seed", [(1, 11), (3, 12), (17, 13), (512, 14)])
def test_the_c_core_answers_every_request_as_the_python_reference(chunk, seed):
    outcome = differential.run(3000, seed=seed, chunk=chunk)
    assert outcome.mismatches == [], outcome.mismatches[:3]
    assert outcome.replies > 2000                                  # most requests are answered
    assert outcome.largest_float_difference <= differential.FLOAT_TOLERANCE
    assert outcome.noise_answers <= 3                              # rare: see differential.NOISE_ANSWERS
    kinds = set(outcome.kinds)                                     # every kind of piece was in the stream
    assert {"fc03", "fc06", "fc16", "fc16-config", "fc23", "broadcast", "other-unit", "bad-crc", "truncated",
            "garbage", "fc16-bad-count", "fc100-unsupported"} <= kinds


def test_a_reference_that_behaves_differently_is_caught():
    """The differential can fail: a reference whose controller has another kp_vz answers the
    same frames with other throttles (until the stream's first config write sets kp_vz: a seed
    whose stream steps the controller before that)."""
    controller = ReferenceController({"kp_vz": 1.0})
    outcome = differential.run(1000, seed=4, chunk=17, reference=differential.PythonServer(controller))
    assert outcome.mismatches, "a detuned reference went unnoticed"
    assert "commanded float" in outcome.mismatches[0].why or "beyond float32" in outcome.mismatches[0].why
