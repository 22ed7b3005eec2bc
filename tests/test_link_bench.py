"""hil.linkbench: the link-overhead measurement returns sane numbers in the shape `hil bench` reads."""

from __future__ import annotations

import pytest

from hil.linkbench import measure_link_overhead

pytestmark = pytest.mark.timeout(60)


def test_measure_link_overhead_shape() -> None:
    result = measure_link_overhead(n=201)
    assert result["transactions"] == 201 and result["registers"] == 14
    stats = {"mean_us", "p50_us", "p99_us"}
    assert set(result["rtu"]) == set(result["raw"]) == set(result["overhead"]) == stats
    for key in ("rtu", "raw"):
        assert 0 < result[key]["p50_us"] <= result[key]["p99_us"]
        assert result[key]["p50_us"] < 20_000          # well inside one 50 Hz cycle
    assert result["overhead_mean_us"] == result["overhead"]["mean_us"] == pytest.approx(
        result["rtu"]["mean_us"] - result["raw"]["mean_us"], abs=0.11)
