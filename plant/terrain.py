"""Terrain: an inclined plane, its height under a point and a point's distance along its normal."""
import math
from typing import NamedTuple

from plant.params import TerrainParams


class Terrain(NamedTuple):
    """z_t(x, y) = height + grad_x x + grad_y y; (nx, ny, nz) is the unit normal, pointing up."""

    height: float  # m, terrain height at the world origin
    grad_x: float  # dz/dx
    grad_y: float  # dz/dy
    nx: float
    ny: float
    nz: float      # cos(slope)


def terrain(params: TerrainParams) -> Terrain:
    """The plane described by the parameters (slope rising toward the azimuth)."""
    slope = math.radians(params.slope_deg)
    azimuth = math.radians(params.slope_azimuth_deg)
    tan_s, cos_s = math.tan(slope), math.cos(slope)
    grad_x, grad_y = tan_s * math.cos(azimuth), tan_s * math.sin(azimuth)
    return Terrain(float(params.height_m), grad_x, grad_y, -grad_x * cos_s, -grad_y * cos_s, cos_s)


def height_at(t: Terrain, x: float, y: float) -> float:
    """Terrain height (m) under the point (x, y)."""
    return t.height + t.grad_x * x + t.grad_y * y


def normal_distance(t: Terrain, x: float, y: float, z: float) -> float:
    """Distance (m) of a point from the plane along the normal; negative below the terrain."""
    return (z - height_at(t, x, y)) * t.nz
