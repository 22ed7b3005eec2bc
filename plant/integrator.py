"""Fixed-step classic Runge-Kutta (RK4) on plain Python sequences of floats."""
from typing import Callable, Sequence

# f(t, x, u, p) -> dx/dt, one float per state element.
Derivative = Callable[[float, Sequence[float], object, object], Sequence[float]]
# f(x, forcing, u, p) -> dx/dt, with the time dependence carried by the forcing argument.
ForcedDerivative = Callable[[Sequence[float], object, object, object], Sequence[float]]


def rk4_step(f: Derivative, t: float, x: Sequence[float], dt: float,
             u: object, p: object) -> list[float]:
    """Advance x by one step dt with inputs u and parameters p held constant over the step."""
    # Lists and zip instead of numpy: for ~15 states numpy's per-call overhead dominates.
    half = 0.5 * dt
    k1 = f(t, x, u, p)
    k2 = f(t + half, [a + half * b for a, b in zip(x, k1)], u, p)
    k3 = f(t + half, [a + half * b for a, b in zip(x, k2)], u, p)
    k4 = f(t + dt, [a + dt * b for a, b in zip(x, k3)], u, p)
    sixth = dt / 6.0
    return [a + sixth * (b1 + 2.0 * (b2 + b3) + b4)
            for a, b1, b2, b3, b4 in zip(x, k1, k2, k3, k4)]


def rk4_forced(f: ForcedDerivative, x: Sequence[float], dt: float, f0: object, f_mid: object,
               f1: object, u: object, p: object) -> list[float]:
    """RK4 for dx/dt = f(x, forcing(t)), given the forcing at the start, middle and end of the step.

    The same scheme as rk4_step for a non-autonomous system whose time dependence is known:
    both middle stages see f_mid."""
    half = 0.5 * dt
    k1 = f(x, f0, u, p)
    k2 = f([a + half * b for a, b in zip(x, k1)], f_mid, u, p)
    k3 = f([a + half * b for a, b in zip(x, k2)], f_mid, u, p)
    k4 = f([a + dt * b for a, b in zip(x, k3)], f1, u, p)
    sixth = dt / 6.0
    return [a + sixth * (b1 + 2.0 * (b2 + b3) + b4)
            for a, b1, b2, b3, b4 in zip(x, k1, k2, k3, k4)]
