"""Simulation-grounded physics problems (Mind's Eye, Liu et al., 2022, arXiv 2210.05359: the
answer comes from a physics computation, never from the language model).

Scenarios: constant-acceleration kinematics, free fall (optionally with quadratic air drag),
1-D elastic and perfectly inelastic collisions, a block on an incline with kinetic friction.
Each answer is computed in closed form and cross-checked against the RK4 simulator
(``simulate.py``) or the conservation laws; it is stored as a number rounded to ``figures``
significant figures, with its ``unit`` (the item's extra fields: ``unit``, ``simulated``).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal
from typing import Any

from . import simulate
from .common import item, need_bool, need_choice, need_int

G = 9.8  # m/s^2, stated in every question


def significant(value: float, figures: int, zeros: bool = True) -> str:
    """``value`` rounded to ``figures`` significant figures in plain decimal notation, keeping
    significant trailing zeros unless ``zeros`` is false (``36.0``, ``7.20``; ``1230`` for
    1234.5 to 3 figures)."""
    if value == 0:
        return "0"
    text = f"{value:{'#' if zeros else ''}.{figures}g}"
    if "e" in text:
        text = format(Decimal(text), "f")
    return text.rstrip(".")


def _approx(value: float, figures: int) -> str:
    """An intermediate result: ``figures`` significant figures, no padding zeros."""
    return significant(value, figures, zeros=False)


def _group(value: float) -> str:
    """A given number as it sits after an operator: (-9) but 9."""
    return f"({value})" if value < 0 else str(value)


def _ask(rng: random.Random, ask: str, options: tuple[str, ...]) -> str:
    need_choice("ask", ask, ("any", *options))
    return rng.choice(options) if ask == "any" else ask


def _one_decimal(rng: random.Random, low: float, high: float) -> float:
    return round(rng.uniform(low, high), 1)


def _physics_item(
    question: str,
    value: float,
    simulated: float,
    unit: str,
    steps: list[str],
    figures: int,
    params: dict[str, Any],
    gravity: bool = False,
) -> dict[str, Any]:
    """The item, after checking the closed form against the simulation; the question closes with
    the fixed sentence 'Take g = ... and give the answer in UNIT to N significant figures.'"""
    simulate.agree(value, simulated)
    answer = significant(value, figures)
    steps = [*steps, f"Rounded to {figures} significant figures: {answer} {unit}."]
    ending = f"the answer in {unit} to {figures} significant figures."
    question += f" Take g = {G} m/s² and give {ending}" if gravity else f" Give {ending}"
    result = item(question, answer, steps, {**params, "figures": figures})
    return {**result, "unit": unit, "simulated": float(significant(simulated, 8, zeros=False))}


KINEMATICS = ("displacement", "final_speed", "stopping_distance")


def kinematics(
    rng: random.Random, ask: str = "any", max_speed: int = 30, figures: int = 3
) -> dict[str, Any]:
    """A car under constant acceleration (``ask``: displacement, final_speed or
    stopping_distance, or any); speeds up to ``max_speed`` m/s (5-100)."""
    chosen = _ask(rng, ask, KINEMATICS)
    need_int("max_speed", max_speed, 5, 100)
    need_int("figures", figures, 2, 6)
    n = figures + 2
    params = {"ask": ask, "max_speed": max_speed}
    if chosen == "stopping_distance":
        v0, dec = rng.randint(5, max_speed), _one_decimal(rng, 1.0, 8.0)
        value = v0**2 / (2 * dec)
        _, x_end, _ = simulate.motion(
            lambda t, x, v: -dec, 0.0, v0, dt=v0 / dec / 2000, stop=lambda t, x, v: v
        )
        question = (
            f"A car travelling at {v0} m/s brakes with a constant deceleration of {dec} m/s². "
            "How far does it travel before it stops?"
        )
        steps = [
            "With constant deceleration a, v² = v0² - 2 a d, and the car stops when v = 0.",
            f"d = v0² / (2 a) = {v0}² / (2 × {dec}) = {_approx(value, n)} m.",
        ]
        return _physics_item(question, value, x_end, "m", steps, figures, params)
    v0, a, t = rng.randint(0, max_speed), _one_decimal(rng, 0.5, 5.0), rng.randint(2, 20)
    _, x_end, v_end = simulate.motion(lambda _t, x, v: a, 0.0, v0, dt=t / 1000, t_end=t)
    start = "starts from rest and" if v0 == 0 else f"moving at {v0} m/s"
    question = f"A car {start} accelerates uniformly at {a} m/s² for {t} s."
    if chosen == "displacement":
        value = v0 * t + a * t**2 / 2
        question += " How far does it travel in that time?"
        steps = [
            "With constant acceleration, d = v0 t + a t² / 2.",
            f"d = {v0} × {t} + {a} × {t}² / 2 = {v0 * t} + {_approx(a * t**2 / 2, n)} "
            f"= {_approx(value, n)} m.",
        ]
        return _physics_item(question, value, x_end, "m", steps, figures, params)
    value = v0 + a * t
    question += " What is its speed at the end of that time?"
    steps = [
        "With constant acceleration, v = v0 + a t.",
        f"v = {v0} + {a} × {t} = {_approx(value, n)} m/s.",
    ]
    return _physics_item(question, value, v_end, "m/s", steps, figures, params)


FREE_FALL = ("time", "impact_speed")


def free_fall(
    rng: random.Random,
    ask: str = "any",
    drag: bool = False,
    throw: bool = False,
    max_height: int = 100,
    figures: int = 3,
) -> dict[str, Any]:
    """A ball falls from a height up to ``max_height`` m (10-1000): time to land or impact speed.
    ``throw`` launches it upward first; ``drag`` adds quadratic air drag F = c v² (released from
    rest; closed form v_t tanh, cross-checked by the simulator)."""
    chosen = _ask(rng, ask, FREE_FALL)
    need_bool("drag", drag)
    need_bool("throw", throw)
    need_int("max_height", max_height, 10, 1000)
    need_int("figures", figures, 2, 6)
    if drag and throw:
        raise ValueError("throw is only available without drag")
    n = figures + 2
    params = {"ask": ask, "drag": drag, "throw": throw, "max_height": max_height}
    h = rng.randint(5, max_height)
    if drag:
        return _fall_with_drag(rng, chosen, h, figures, params)
    v0 = rng.randint(2, 20) if throw else 0
    t_land, _, v_land = simulate.motion(lambda t, x, v: -G, h, v0, dt=1e-3, stop=lambda t, x, v: x)
    speed = math.sqrt(v0**2 + 2 * G * h)
    if throw:
        question = f"A ball is thrown straight up at {v0} m/s from the edge of a cliff {h} m high."
    else:
        question = f"A ball is dropped from rest from a height of {h} m."
    question += " Ignore air resistance."
    energy = (
        f"Energy conservation: v² = v0² + 2 g h = {v0}² + 2 × {G} × {h} = "
        f"{_approx(speed**2, n)}, so v = {_approx(speed, n)} m/s."
    )
    if chosen == "impact_speed":
        question += " How fast is it moving when it hits the ground?"
        return _physics_item(
            question, speed, abs(v_land), "m/s", [energy], figures, params, gravity=True
        )
    question += " How long does it take to reach the ground?"
    value = (v0 + speed) / G
    steps = [
        energy,
        f"Velocity changes at g: t = (v0 + v) / g = ({v0} + {_approx(speed, n)}) / {G} = "
        f"{_approx(value, n)} s.",
    ]
    return _physics_item(question, value, t_land, "s", steps, figures, params, gravity=True)


def _fall_with_drag(
    rng: random.Random, chosen: str, h: int, figures: int, params: dict[str, Any]
) -> dict[str, Any]:
    n = figures + 2
    m, c = _one_decimal(rng, 0.5, 5.0), round(rng.uniform(0.05, 0.5), 2)
    vt = math.sqrt(m * G / c)
    u = G * h / vt**2
    t_land, _, v_land = simulate.motion(
        lambda t, x, v: -G - c / m * v * abs(v), h, 0.0, dt=1e-3, stop=lambda t, x, v: x
    )
    question = (
        f"A {m} kg ball is dropped from rest from a height of {h} m. Air drag on it has magnitude "
        f"c v² with c = {c} kg/m."
    )
    steps = [
        f"The terminal speed is v_t = sqrt(m g / c) = sqrt({m} × {G} / {c}) = "
        f"{_approx(vt, n)} m/s.",
        "Falling from rest with quadratic drag, v(t) = v_t tanh(g t / v_t) and the distance "
        "fallen is (v_t² / g) ln cosh(g t / v_t).",
        f"Here g h / v_t² = {G} × {h} / {_approx(vt, n)}² = {_approx(u, n)}.",
    ]
    if chosen == "impact_speed":
        value = vt * math.sqrt(-math.expm1(-2 * u))
        question += " How fast is it moving when it hits the ground?"
        steps.append(
            f"Eliminating t: v = v_t sqrt(1 - exp(-2 g h / v_t²)) = {_approx(vt, n)} × "
            f"sqrt(1 - exp(-{_approx(2 * u, n)})) = {_approx(value, n)} m/s."
        )
        return _physics_item(
            question, value, abs(v_land), "m/s", steps, figures, params, gravity=True
        )
    value = vt / G * (u + math.log1p(math.sqrt(-math.expm1(-2 * u))))  # acosh(e^u), stably
    question += " How long does it take to reach the ground?"
    steps.append(
        f"Solving for t: t = (v_t / g) arccosh(exp(g h / v_t²)) = ({_approx(vt, n)} / {G}) × "
        f"arccosh(exp({_approx(u, n)})) = {_approx(value, n)} s."
    )
    return _physics_item(question, value, t_land, "s", steps, figures, params, gravity=True)


COLLISION = ("elastic_velocity", "inelastic_velocity", "inelastic_energy_lost")


def _motion(v: int) -> str:
    if v == 0:
        return "at rest"
    return f"moving to the {'right' if v > 0 else 'left'} at {abs(v)} m/s"


def collision(
    rng: random.Random, ask: str = "any", max_mass: int = 10, figures: int = 3
) -> dict[str, Any]:
    """Two carts collide head-on in 1-D (``ask``: elastic_velocity of cart A afterwards,
    inelastic_velocity when they stick together, or inelastic_energy_lost); masses up to
    ``max_mass`` kg (2-100). Checked against momentum (and, if elastic, energy) conservation."""
    chosen = _ask(rng, ask, COLLISION)
    need_int("max_mass", max_mass, 2, 100)
    need_int("figures", figures, 2, 6)
    n = figures + 2
    params = {"ask": ask, "max_mass": max_mass}
    m1, m2 = rng.randint(1, max_mass), rng.randint(1, max_mass)
    v1 = rng.randint(2, 12)
    v2 = rng.choice([0, -rng.randint(1, 12), rng.randint(1, v1 - 1)])
    momentum = m1 * v1 + m2 * v2
    question = (
        f"Cart A ({m1} kg), {_motion(v1)}, collides head-on with cart B ({m2} kg), which is "
        f"{_motion(v2)}."
    )
    steps = [
        "Take rightward as positive. Momentum is conserved: "
        f"p = {m1} × {v1} + {m2} × {_group(v2)} = {momentum} kg·m/s."
    ]
    if chosen == "elastic_velocity":
        after = ((m1 - m2) * v1 + 2 * m2 * v2) / (m1 + m2)
        simulated, _ = simulate.collide(m1, v1, m2, v2, stick=False)
        question += (
            " The collision is perfectly elastic. Taking rightward as positive, what is the "
            "velocity of cart A after the collision?"
        )
        steps += [
            "Kinetic energy is conserved too, which gives "
            "v_A' = ((m_A - m_B) v_A + 2 m_B v_B) / (m_A + m_B).",
            f"v_A' = (({m1} - {m2}) × {v1} + 2 × {m2} × {_group(v2)}) / ({m1} + {m2}) = "
            f"{_approx(after, n)} m/s.",
        ]
        return _physics_item(question, after, simulated, "m/s", steps, figures, params)
    common = momentum / (m1 + m2)
    simulated, _ = simulate.collide(m1, v1, m2, v2, stick=True)
    question += " The carts stick together."
    steps.append(
        f"They move together: v = p / (m_A + m_B) = {momentum} / ({m1} + {m2}) = "
        f"{_approx(common, n)} m/s."
    )
    if chosen == "inelastic_velocity":
        question += (
            " Taking rightward as positive, what is their velocity just after the collision?"
        )
        return _physics_item(question, common, simulated, "m/s", steps, figures, params)
    before = (m1 * v1**2 + m2 * v2**2) / 2
    after = (m1 + m2) * common**2 / 2
    question += " How much kinetic energy is lost in the collision?"
    steps += [
        f"KE before = ({m1} × {v1}² + {m2} × {_group(v2)}²) / 2 = {_approx(before, n)} J.",
        f"KE after = ({m1} + {m2}) × {_approx(common, n)}² / 2 = {_approx(after, n)} J.",
        f"Lost: {_approx(before, n)} - {_approx(after, n)} = {_approx(before - after, n)} J.",
    ]
    lost_simulated = before - (m1 + m2) * simulated**2 / 2
    return _physics_item(question, before - after, lost_simulated, "J", steps, figures, params)


INCLINE = ("speed", "time", "acceleration", "distance_up")


def incline(
    rng: random.Random, ask: str = "any", friction: bool = True, figures: int = 3
) -> dict[str, Any]:
    """A block on an incline with kinetic friction (``ask``: speed at the bottom, time to slide
    down, acceleration, or distance_up when launched up the slope). ``friction`` false makes the
    incline frictionless."""
    chosen = _ask(rng, ask, INCLINE)
    need_bool("friction", friction)
    need_int("figures", figures, 2, 6)
    n = figures + 2
    params = {"ask": ask, "friction": friction}
    while True:
        angle = rng.randint(15, 60)
        mu = round(rng.uniform(0.05, 0.6), 2) if friction else 0.0
        theta = math.radians(angle)
        if chosen == "distance_up" or math.tan(theta) > mu + 0.05:
            break
    sin, cos = math.sin(theta), math.cos(theta)
    surface = (
        f"The coefficient of kinetic friction between the block and the incline is {mu}."
        if friction
        else "The incline is frictionless."
    )
    friction_term = f" - {mu} × cos {angle}°" if friction else ""
    if chosen == "distance_up":
        v0 = rng.randint(2, 15)
        dec = G * (sin + mu * cos)
        value = v0**2 / (2 * dec)
        _, x_top, _ = simulate.motion(
            lambda t, x, v: -dec, 0.0, v0, dt=1e-3, stop=lambda t, x, v: v
        )
        question = (
            f"A block is pushed up an incline that makes an angle of {angle}° with the "
            f"horizontal, starting at {v0} m/s. {surface} How far up the "
            "incline does it slide before it stops?"
        )
        plus = f" + {mu} × cos {angle}°" if friction else ""
        steps = [
            "Moving up, gravity and friction both slow the block: "
            f"a = g (sin θ + μ cos θ) = {G} × (sin {angle}°{plus}) = {_approx(dec, n)} m/s².",
            f"It stops after d = v0² / (2 a) = {v0}² / (2 × {_approx(dec, n)}) = "
            f"{_approx(value, n)} m.",
        ]
        return _physics_item(question, value, x_top, "m", steps, figures, params, gravity=True)
    length = rng.randint(1, 20)
    a = G * (sin - mu * cos)

    def accel(t: float, x: float, v: float) -> float:  # friction opposes the motion
        return G * sin - math.copysign(mu * G * cos, v if v else 1.0)

    t_end, _, v_end = simulate.motion(accel, 0.0, 0.0, dt=5e-4, stop=lambda t, x, v: length - x)
    question = (
        f"A block is released from rest at the top of an incline {length} m long that makes an "
        f"angle of {angle}° with the horizontal. {surface}"
    )
    steps = [
        "Along the slope, gravity pulls with g sin θ and friction resists with μ g cos θ: "
        f"a = g (sin θ - μ cos θ) = {G} × (sin {angle}°{friction_term}) = {_approx(a, n)} m/s²."
        if friction
        else f"Along the slope a = g sin θ = {G} × sin {angle}° = {_approx(a, n)} m/s²."
    ]
    if chosen == "acceleration":
        question += " What is the block's acceleration down the incline?"
        return _physics_item(
            question, a, 2 * length / t_end**2, "m/s²", steps, figures, params, gravity=True
        )
    if chosen == "speed":
        value = math.sqrt(2 * a * length)
        question += " How fast is it moving when it reaches the bottom?"
        steps.append(
            f"From rest, v² = 2 a L, so v = sqrt(2 × {_approx(a, n)} × {length}) = "
            f"{_approx(value, n)} m/s."
        )
        return _physics_item(question, value, v_end, "m/s", steps, figures, params, gravity=True)
    value = math.sqrt(2 * length / a)
    question += " How long does it take to reach the bottom?"
    steps.append(
        f"From rest, L = a t² / 2, so t = sqrt(2 L / a) = sqrt(2 × {length} / "
        f"{_approx(a, n)}) = {_approx(value, n)} s."
    )
    return _physics_item(question, value, t_end, "s", steps, figures, params, gravity=True)


GENERATORS = {
    "physics.kinematics": kinematics,
    "physics.free_fall": free_fall,
    "physics.collision": collision,
    "physics.incline": incline,
}
