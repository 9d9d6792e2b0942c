"""Simulation-grounded physics (Mind's Eye): the simulator against exact solutions, every
scenario's answer against an independent derivation from the question text (energy and momentum
conservation, a separate integrator), the phrasing check on recorded outputs of the embedded
model, and the ``physics`` recipe end to end on it."""

from __future__ import annotations

import math
import random
import re
from decimal import Decimal

import pytest
from conftest import run_recipe_twice

from synthaug.mathgen import regenerate, simulate
from synthaug.mathgen.physics import significant
from synthaug.methods.reasoning.physics import (
    SimulateParams,
    check_numbers,
    clean_phrasing,
    numbers,
    split_instruction,
)

G = 9.8
SEEDS = range(30)


def grab(pattern: str, text: str) -> re.Match:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return match


def number(pattern: str, text: str) -> float:
    return float(grab(pattern, text).group(1))


def assert_rounded(answer: str, exact: float, figures: int = 3) -> None:
    """``answer`` is ``exact`` to ``figures`` significant figures (half a unit in the last place)."""
    if abs(exact) < 1e-12:
        assert float(answer) == 0, answer
        return
    half_unit = 0.5 * 10 ** (math.floor(math.log10(abs(exact))) - figures + 1)
    assert abs(float(answer) - exact) <= half_unit * 1.0001, (answer, exact)


def scenario_items(name: str, **params):
    for seed in SEEDS:
        made = regenerate(name, seed, params)
        assert made["solution"].splitlines()[-1] == f"The answer is {made['answer']}."
        assert made["answer"] in made["solution"].splitlines()[-2]
        assert f"the answer in {made['unit']} to 3 significant figures." in made["question"]
        yield made


# --- the simulator ---------------------------------------------------------------------------


def test_integrator_matches_exact_solutions():
    # harmonic oscillator x'' = -x from x = 1: x = cos t, v = -sin t
    t, x, v = simulate.motion(lambda t, x, v: -x, 1.0, 0.0, dt=1e-3, t_end=math.pi)
    assert (t, x, v) == pytest.approx((math.pi, -1.0, 0.0), abs=1e-9)
    t, x, v = simulate.motion(lambda t, x, v: -x, 1.0, 0.0, dt=1e-2, stop=lambda t, x, v: x)
    assert t == pytest.approx(math.pi / 2, abs=1e-9) and v == pytest.approx(-1.0, abs=1e-9)
    with pytest.raises(AssertionError, match="closed form"):
        simulate.agree(1.0, 1.1)


def test_contact_simulation_conserves_momentum_and_energy():
    rng = random.Random(0)
    for _ in range(10):
        m1, m2 = rng.uniform(0.5, 10), rng.uniform(0.5, 10)
        v1, v2 = rng.uniform(1, 10), rng.uniform(-10, 0.9)
        u1, u2 = simulate.collide(m1, v1, m2, v2, stick=False)
        assert m1 * u1 + m2 * u2 == pytest.approx(m1 * v1 + m2 * v2, rel=1e-9)
        assert m1 * u1**2 + m2 * u2**2 == pytest.approx(m1 * v1**2 + m2 * v2**2, rel=1e-9)
        assert u2 - u1 == pytest.approx(v1 - v2, rel=1e-9)  # relative velocity reverses
        w1, w2 = simulate.collide(m1, v1, m2, v2, stick=True)
        assert w1 == pytest.approx(w2, abs=1e-9)
        assert w1 == pytest.approx((m1 * v1 + m2 * v2) / (m1 + m2), rel=1e-9)


def test_significant_figures():
    assert significant(36.05, 3) == "36.0" and significant(7.1972, 3) == "7.20"
    assert significant(1234.5, 3) == "1230" and significant(0.0004567, 3) == "0.000457"
    assert significant(-5.4737, 3) == "-5.47" and significant(6.0, 3) == "6.00"


# --- every scenario against an independent derivation ----------------------------------------


def test_kinematics():
    for made in scenario_items("physics.kinematics"):
        q = made["question"]
        if "brakes" in q:
            v0, dec = number(r"at (\d+) m/s", q), number(r"of ([\d.]+) m/s²", q)
            # work-energy: the braking force times the distance removes all kinetic energy
            assert made["unit"] == "m"
            assert_rounded(made["answer"], v0**2 / (2 * dec))
            continue
        v0 = 0.0 if "from rest" in q else number(r"moving at (\d+) m/s", q)
        a, t = number(r"at ([\d.]+) m/s² for", q), number(r"for (\d+) s\.", q)
        v = v0 + a * t
        if "How far" in q:
            assert made["unit"] == "m"
            assert_rounded(made["answer"], (v0 + v) / 2 * t)  # mean velocity times time
        else:
            assert made["unit"] == "m/s"
            assert_rounded(made["answer"], v)


def fall(h: float, v0: float, drag_per_mass: float) -> tuple[float, float]:
    """Time and speed at the ground by the midpoint method: a second, independent integrator."""
    t, y, v, dt = 0.0, h, v0, 1e-4
    while True:
        a = -G - drag_per_mass * v * abs(v)
        vm = v + a * dt / 2
        am = -G - drag_per_mass * vm * abs(vm)
        y_next, v_next = y + vm * dt, v + am * dt
        if y_next <= 0:
            frac = y / (y - y_next)
            return t + frac * dt, abs(v + frac * (v_next - v))
        t, y, v = t + dt, y_next, v_next


@pytest.mark.parametrize(
    "params", [{}, {"throw": True}, {"drag": True}], ids=["dropped", "thrown", "drag"]
)
def test_free_fall(params):
    for made in scenario_items("physics.free_fall", **params):
        q = made["question"]
        h = number(r"(\d+) m(?: high|\.)", q)
        v0 = number(r"up at (\d+) m/s", q) if "thrown" in q else 0.0
        if params.get("drag"):
            m, c = number(r"A ([\d.]+) kg ball", q), number(r"c = ([\d.]+) kg/m", q)
            t, speed = fall(h, 0.0, c / m)
            assert speed < math.sqrt(2 * G * h), "drag slows the fall"
            assert speed < math.sqrt(m * G / c), "never faster than terminal speed"
        else:
            speed = math.sqrt(v0**2 + 2 * G * h)  # energy conservation
            t = (v0 + math.sqrt(v0**2 + 2 * G * h)) / G  # root of h + v0 t - g t² / 2 = 0
            assert h + v0 * t - G * t**2 / 2 == pytest.approx(0, abs=1e-9)
        expected, unit = (speed, "m/s") if "How fast" in q else (t, "s")
        assert made["unit"] == unit
        assert_rounded(made["answer"], expected)
        assert made["simulated"] == pytest.approx(expected, rel=1e-4)


def motion_of(cart: str, q: str) -> float:
    text = grab(
        rf"cart {cart} \(\d+ kg\),? (?:which is )?(at rest|moving to the \w+ at \d+ m/s)", q
    )
    if text.group(1) == "at rest":
        return 0.0
    speed = number(r"at (\d+) m/s", text.group(1))
    return speed if "right" in text.group(1) else -speed


def test_collision_conserves_momentum_and_energy():
    seen = set()
    for made in scenario_items("physics.collision"):
        q = made["question"].replace("Cart A", "cart A")
        m1, m2 = number(r"cart A \((\d+) kg\)", q), number(r"cart B \((\d+) kg\)", q)
        v1, v2 = motion_of("A", q), motion_of("B", q)
        p, ke = m1 * v1 + m2 * v2, (m1 * v1**2 + m2 * v2**2) / 2
        if "perfectly elastic" in q:
            seen.add("elastic")
            # momentum and energy conservation with u_B eliminated: a quadratic in u_A whose
            # roots are v_A (no collision) and the velocity after the collision
            a, b, c = m1 + m1**2 / m2, -2 * m1 * p / m2, p**2 / m2 - 2 * ke
            roots = [(-b + s * math.sqrt(b * b - 4 * a * c)) / (2 * a) for s in (1, -1)]
            after = max(roots, key=lambda r: abs(r - v1))
            assert made["unit"] == "m/s"
            assert_rounded(made["answer"], after)
        else:
            v = p / (m1 + m2)
            if "energy" in q:
                seen.add("energy")
                assert made["unit"] == "J"
                assert_rounded(made["answer"], ke - (m1 + m2) * v**2 / 2)
            else:
                seen.add("inelastic")
                assert made["unit"] == "m/s"
                assert_rounded(made["answer"], v)
    assert seen == {"elastic", "inelastic", "energy"}


@pytest.mark.parametrize("friction", [True, False])
def test_incline_by_work_energy(friction):
    for made in scenario_items("physics.incline", friction=friction):
        q = made["question"]
        theta = math.radians(number(r"angle of (\d+)°", q))
        mu = number(r"incline is ([\d.]+)\.", q) if friction else 0.0
        if not friction:
            assert "frictionless" in q
        if "pushed up" in q:
            v0 = number(r"starting at (\d+) m/s", q)
            # kinetic energy = work against gravity and friction over the distance d
            expected = v0**2 / (2 * G * (math.sin(theta) + mu * math.cos(theta)))
            assert made["unit"] == "m"
            assert_rounded(made["answer"], expected)
            continue
        length = number(r"incline (\d+) m long", q)
        work_per_mass = G * length * (math.sin(theta) - mu * math.cos(theta))
        speed = math.sqrt(2 * work_per_mass)
        expected, unit = {
            "How fast": (speed, "m/s"),
            "How long": (2 * length / speed, "s"),  # mean speed is half the final speed
            "acceleration": (speed**2 / (2 * length), "m/s²"),
        }[next(k for k in ("How fast", "How long", "acceleration") if k in q)]
        assert made["unit"] == unit
        assert_rounded(made["answer"], expected)


# --- the phrasing check, on real outputs of the embedded model -------------------------------

# (templated problem, the embedded SmolLM2-135M's retelling) recorded from physics.phrase runs
RECORDED = [
    (
        "Cart A (6 kg), moving to the right at 6 m/s, collides head-on with cart B (10 kg), which "
        "is moving to the left at 4 m/s. The collision is perfectly elastic. Taking rightward as "
        "positive, what is the velocity of cart A after the collision?",
        "Cart A (6 kg) collides head-on with cart B (10 kg), which is moving to the left at 4 m/s. "
        "The elastic collision is perfectly elastic, so the velocity of cart A is zero.",
    ),
    (
        "A car moving at 20 m/s accelerates uniformly at 3.5 m/s² for 15 s. How far does it "
        "travel in that time?",
        "The car accelerates uniformly at 3.5 meters per second² for 15 seconds, so it travels a "
        "distance of 15*20 = 300 meters in that time.",
    ),
    (
        "A block is released from rest at the top of an incline 4 m long that makes an angle of "
        "19° with the horizontal. The coefficient of kinetic friction between the block and the "
        "incline is 0.15. How fast is it moving when it reaches the bottom?",
        "The answer is: 13.14423125",
    ),
    (
        "A block is pushed up an incline that makes an angle of 49° with the horizontal, starting "
        "at 14 m/s. The coefficient of kinetic friction between the block and the incline is "
        "0.28. How far up the incline does it slide before it stops?",
        "The block is pushed up an incline that makes an angle of 49° with the horizontal, "
        "starting at 14 m/s. The coefficient of kinetic friction between the block and the "
        "incline is 0.28. The block starts at 14 m/s.",
    ),
    (
        "A 3.0 kg ball is dropped from rest from a height of 100 m. Air drag on it has magnitude "
        "c v² with c = 0.17 kg/m. How fast is it moving when it hits the ground?",
        "Demonstrating the concept of air resistance in physics, using a 3.0 kg ball, a 100 m "
        "height, air drag, and 0.17 kg/m as the velocity.",
    ),
    (
        "A car travelling at 9 m/s brakes with a constant deceleration of 3.2 m/s². How far does "
        "it travel before it stops?",
        "1. This problem involves circular motion with constant acceleration, which is a "
        "fundamental concept in physics. 2. The car's deceleration is a linear acceleration of "
        "3.2 m/s², which is a constant acceleration, and the deceleration is a rotational "
        "acceleration that is the rotational motion of the car's motion. 3. The deceleration can "
        "be thought of as a rotational motion, and this motion is what the car travels. 4. The "
        "car travels",
    ),
]


def test_numbers_are_canonical_and_counted():
    assert numbers("moves at 6 m/s, 6 kg, g = 9.80 m/s², 1,200 m, cart A2") == [
        "6",
        "6",
        "9.8",
        "1200",
    ]


def test_recorded_phrasings_are_judged():
    verdicts = [check_numbers(problem, clean_phrasing(text)) for problem, text in RECORDED]
    # dropped "6 m/s" (6 now occurs once) and no longer asks anything
    assert verdicts[0]["missing"] == ["6"] and not verdicts[0]["asks_question"]
    # kept every number but worked the problem: 15 again and the (wrong) answer 300
    assert verdicts[1]["missing"] == [] and verdicts[1]["extra"] == ["15", "300"]
    # answered instead of retelling
    assert verdicts[2]["missing"] == ["0.15", "4", "19"] and verdicts[2]["extra"] == ["13.14423125"]
    # numbers kept (14 even twice) but the question is gone
    assert verdicts[3]["extra"] == ["14"] and not verdicts[3]["asks_question"]
    # every number kept, nothing added, but no question left
    assert verdicts[4]["missing"] == verdicts[4]["extra"] == [] and not verdicts[4]["asks_question"]
    # dropped the speed, numbered its sentences
    assert verdicts[5]["missing"] == ["9"] and verdicts[5]["extra"] == ["1", "2", "3", "4"]
    assert not any(v["ok"] for v in verdicts)
    problem = RECORDED[3][0]
    retold = (
        "Sam shoves a crate up a ramp tilted at 49° to the ground, starting at 14 m/s. The "
        "coefficient of kinetic friction between crate and ramp is 0.28. How far up does it go?"
    )
    assert check_numbers(problem, retold)["ok"]
    assert not check_numbers(problem, retold.replace("0.28", "0.3"))["ok"]
    assert check_numbers(problem, retold + " It is 2 m wide.", allow_extra=True)["ok"]


def test_instruction_and_label_handling():
    made = regenerate("physics.incline", 3, {})
    problem, instruction = split_instruction(made["question"])
    assert problem + " " + instruction == made["question"]
    assert instruction.startswith("Take g = 9.8 m/s² and give the answer in")
    assert clean_phrasing('Rewritten problem: "Ann rolls a ball."\n\nProblem: more') == (
        "Ann rolls a ball."
    )
    assert SimulateParams(scenarios=["free_fall"], params={"free_fall": {"drag": True}}).params == {
        "physics.free_fall": {"drag": True}
    }


# --- end to end on the embedded model --------------------------------------------------------


def test_physics_recipe_keeps_the_computed_answer(tmp_path):
    records = run_recipe_twice(
        tmp_path, "physics", "--limit", "2", "--set", "steps[1].params.max_tokens=96"
    )
    assert len(records) == 2
    for record in records:
        check = record["verification"]
        assert check["kind"] == "generator" and check["verified"]
        again = regenerate(check["generator"], check["seed"], check["params"])
        assert record["answer"] == again["answer"] == check["answer"]  # unchanged by phrasing
        assert record["templated_question"] == again["question"]
        assert record["unit"] == again["unit"]
        verdict = record["phrasing_check"]
        assert verdict["numbers"] == numbers(split_instruction(again["question"])[0])
        assert record["phrasing_kept"] is verdict["ok"]
        if record["phrasing_kept"]:
            assert record["question"] != again["question"]
            assert record["question"].endswith(split_instruction(again["question"])[1])
        else:
            assert record["question"] == again["question"]
        assert record["messages"][0] == {"role": "user", "content": record["question"]}
        assert record["messages"][1]["content"] == record["solution"]
        assert record["_meta"]["method"] == "physics.phrase" and record["_meta"]["parents"]
        assert Decimal(record["answer"])  # a plain number string
