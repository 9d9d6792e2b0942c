"""A small simulator: classical RK4 with a stopping event, for one body in 1-D and for a
head-on collision of two bodies through a stiff contact spring.

The physics generators (Mind's Eye, Liu et al., 2022, arXiv 2210.05359: answers grounded in a
simulation, not in the language model) compute each answer in closed form and cross-check it
against this integrator, so a wrong formula cannot slip into the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Vector = tuple[float, ...]
Derivative = Callable[[float, Vector], Vector]
Event = Callable[[float, Vector], float]  # the run stops where this falls to 0 or below


def _rk4(f: Derivative, t: float, y: Vector, dt: float) -> Vector:
    k1 = f(t, y)
    k2 = f(t + dt / 2, tuple(a + dt / 2 * b for a, b in zip(y, k1, strict=True)))
    k3 = f(t + dt / 2, tuple(a + dt / 2 * b for a, b in zip(y, k2, strict=True)))
    k4 = f(t + dt, tuple(a + dt * b for a, b in zip(y, k3, strict=True)))
    return tuple(
        a + dt / 6 * (p + 2 * q + 2 * r + s)
        for a, p, q, r, s in zip(y, k1, k2, k3, k4, strict=True)
    )


def integrate(
    f: Derivative,
    y0: Vector,
    *,
    dt: float,
    t_end: float | None = None,
    stop: Event | None = None,
    max_steps: int = 2_000_000,
) -> tuple[float, Vector]:
    """Integrate ``y' = f(t, y)`` from ``(0, y0)`` until ``t_end`` or until ``stop(t, y)`` drops to
    0 (the crossing located by bisection within the last step); returns ``(t, y)``."""
    if t_end is None and stop is None:
        raise ValueError("give t_end or stop")
    t, y = 0.0, y0
    for _ in range(max_steps):
        step = dt if t_end is None else min(dt, t_end - t)
        if t_end is not None and step <= 1e-12:
            return t, y
        nxt = _rk4(f, t, y, step)
        if stop is not None and stop(t + step, nxt) <= 0 < stop(t, y):
            low, high = 0.0, step
            for _ in range(60):
                mid = (low + high) / 2
                if stop(t + mid, _rk4(f, t, y, mid)) > 0:
                    low = mid
                else:
                    high = mid
            return t + high, _rk4(f, t, y, high)
        t, y = t + step, nxt
    raise RuntimeError("the simulation did not finish")


def motion(
    accel: Callable[[float, float, float], float],
    x0: float,
    v0: float,
    *,
    dt: float,
    t_end: float | None = None,
    stop: Callable[[float, float, float], float] | None = None,
) -> tuple[float, float, float]:
    """One body, ``x'' = accel(t, x, v)``; returns ``(t, x, v)`` at ``t_end`` or at the event
    ``stop(t, x, v) <= 0``."""
    event = (lambda t, y: stop(t, y[0], y[1])) if stop else None
    t, (x, v) = integrate(
        lambda t, y: (y[1], accel(t, y[0], y[1])), (x0, v0), dt=dt, t_end=t_end, stop=event
    )
    return t, x, v


def collide(m1: float, v1: float, m2: float, v2: float, *, stick: bool) -> tuple[float, float]:
    """Velocities after a head-on collision (``v1 > v2``), simulated with a linear contact spring
    (conservative: the elastic outcome). With ``stick`` the bodies latch together at maximum
    compression, where their velocities are equal (the perfectly inelastic outcome)."""
    if v1 <= v2:
        raise ValueError("the bodies must approach each other")
    reduced = m1 * m2 / (m1 + m2)
    k = reduced * math.pi**2  # contact lasts one time unit

    def f(t: float, y: Vector) -> Vector:
        x1, u1, x2, u2 = y
        force = k * max(0.0, x1 - x2)  # overlap pushes them apart
        return u1, -force / m1, u2, force / m2

    def event(t: float, y: Vector) -> float:
        return (y[1] - y[3]) if stick else (y[0] - y[2] if t > 0 else 1.0)

    _, (_, u1, _, u2) = integrate(f, (0.0, v1, 0.0, v2), dt=1e-3, stop=event)
    return u1, u2


def agree(closed_form: float, simulated: float, rel_tol: float = 1e-4) -> None:
    """Raise if the closed form and the simulation disagree (a bug, never a user error)."""
    scale = max(abs(closed_form), abs(simulated), 1e-9)
    if abs(closed_form - simulated) > rel_tol * scale:
        raise AssertionError(f"closed form {closed_form!r} != simulation {simulated!r}")
