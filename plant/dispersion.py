"""Monte Carlo dispersions: a distribution per dotted parameter path, and sampling them."""
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from plant.params import ParamError

DISTRIBUTIONS = {"normal": ("mean", "sigma"), "uniform": ("low", "high")}
ROOTS = ("plant", "initial")  # plant.* -> Scenario.params, initial.* -> Scenario.initial


class DispersionError(ValueError):
    """A dispersion is malformed or names no number parameter; `where` locates it."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where} {reason}")
        self.where = where
        self.reason = reason


@dataclass(frozen=True)
class Dispersion:
    """One parameter's distribution. normal: mean, sigma; uniform: low, high."""

    path: str           # e.g. "plant.engine.thrust_bias" or "initial.vz_mps"
    dist: str           # "normal" or "uniform"
    mean: float = math.nan
    sigma: float = math.nan
    low: float = math.nan
    high: float = math.nan

    def sample(self, rng: np.random.Generator) -> float:
        """One draw (one call on rng)."""
        if self.dist == "normal":
            return float(rng.normal(self.mean, self.sigma))
        return float(rng.uniform(self.low, self.high))


def parse(path: object, spec: object, roots: dict) -> Dispersion:
    """Check and build one dispersion; roots maps "plant" and "initial" to their nominal objects.

    The normal's mean defaults to the nominal value. The nominal and the ends of the range
    (mean, or low and high) must be valid parameter values."""
    where = f"dispersions.{path}"
    nominal = nominal_value(path, roots)
    if not isinstance(spec, dict):
        raise DispersionError(where, f"must be a table, got {spec!r}")
    dist = spec.get("dist")
    if dist not in DISTRIBUTIONS:
        raise DispersionError(f"{where}.dist", f"must be 'normal' or 'uniform', got {dist!r}")
    names = DISTRIBUTIONS[dist]
    for key in spec:
        if key != "dist" and key not in names:
            raise DispersionError(f"{where}.{key}", f"is not a parameter of a {dist} distribution")
    values = {}
    for key in names:
        if key not in spec:
            if key == "mean":
                values[key] = nominal
                continue
            raise DispersionError(f"{where}.{key}", "is missing")
        value = spec[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            raise DispersionError(f"{where}.{key}", f"must be a finite number, got {value!r}")
        values[key] = float(value)
    if dist == "normal" and not values["sigma"] >= 0.0:
        raise DispersionError(f"{where}.sigma", f"must be >= 0, got {values['sigma']!r}")
    if dist == "uniform" and not values["low"] <= values["high"]:
        raise DispersionError(f"{where}.high", f"must be >= low, got {values['high']!r}")
    for key in ("mean", "low", "high"):
        if key in values:
            try:
                replaced(roots, path, values[key])
            except ParamError as exc:
                raise DispersionError(f"{where}.{key}", f"= {values[key]!r} is out of range: "
                                      f"{exc.reason}") from None
    return Dispersion(path=path, dist=dist, **values)


def nominal_value(path: object, roots: dict) -> float:
    """The current value at a dotted path; it must name a float field under plant or initial."""
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) < 2 or parts[0] not in roots:
        raise DispersionError(f"dispersions.{path}", "must start with 'plant.' or 'initial.'")
    obj = roots[parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        known = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else ()
        if part not in known:
            raise DispersionError(f"dispersions.{path}",
                                  f"names no parameter ({'.'.join(parts[:i + 1])} is unknown)")
        obj = getattr(obj, part)
    if dataclasses.is_dataclass(obj) or isinstance(obj, (bool, int)) or not isinstance(obj, float):
        raise DispersionError(f"dispersions.{path}", "must name a number (float) parameter")
    return obj


def replaced(roots: dict, path: str, value: float) -> object:
    """The root object of path with that one value replaced (validated by the dataclasses)."""
    parts = path.split(".")
    return _replace(roots[parts[0]], parts[1:], value)


def _replace(obj: object, parts: list[str], value: float) -> object:
    if len(parts) == 1:
        return dataclasses.replace(obj, **{parts[0]: value})
    child = _replace(getattr(obj, parts[0]), parts[1:], value)
    return dataclasses.replace(obj, **{parts[0]: child})
