"""Probability generators (AMPS-style, Hendrycks et al., 2021): dice sums by counting outcomes,
coin flips by binomial coefficients, draws from an urn (hypergeometric or with replacement).
Answers are exact ``Fraction``s in lowest terms."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from math import comb
from typing import Any

from .common import exact, item, need_bool, need_choice, need_int

DICE_EVENTS = ("sum_equals", "sum_at_least", "sum_at_most")
COIN_EVENTS = ("exactly", "at_least", "at_most")
SIDES = (4, 6, 8, 10, 12, 20)
BIASES = (Fraction(1, 3), Fraction(2, 3), Fraction(1, 4), Fraction(3, 4), Fraction(2, 5))
COLORS = ("red", "blue", "green")
HOLDS = {
    "sum_equals": lambda total, target: total == target,
    "sum_at_least": lambda total, target: total >= target,
    "sum_at_most": lambda total, target: total <= target,
}
WORDS = {"sum_equals": "exactly", "sum_at_least": "at least", "sum_at_most": "at most"}


def _event(rng: random.Random, event: str, events: tuple[str, ...]) -> str:
    need_choice("event", event, ("any", *events))
    return rng.choice(events) if event == "any" else event


def _ratio(numerator: int, denominator: int) -> str:
    """'6/36 = 1/6', or just '15/28' when already in lowest terms."""
    value = exact(Fraction(numerator, denominator))
    written = f"{numerator}/{denominator}"
    return written if written == value else f"{written} = {value}"


def _heads(k: int) -> str:
    return "1 head" if k == 1 else f"{k} heads"


def dice(
    rng: random.Random, dice: int | None = None, sides: int | None = None, event: str = "any"
) -> dict[str, Any]:
    """The probability that ``dice`` (1-4; default 1-3 at random) fair dice with ``sides`` (4, 6,
    8, 10, 12, 20; default any of them) have a sum equal to / at least / at most a target
    (``event``: one of those or ``any``)."""
    fixed = {"dice": dice, "sides": sides}
    dice = rng.randint(1, 3) if dice is None else need_int("dice", dice, 1, 4)
    if sides is None:
        sides = rng.choice(SIDES)
    elif sides not in SIDES:
        raise ValueError(f"sides must be one of {', '.join(map(str, SIDES))}, got {sides!r}")
    chosen = _event(rng, event, DICE_EVENTS)
    target = rng.randint(dice + 1, dice * sides - 1)
    holds = HOLDS[chosen]
    total = sides**dice
    by_first = [
        sum(
            holds(first + sum(rest), target)
            for rest in itertools.product(range(1, sides + 1), repeat=dice - 1)
        )
        for first in range(1, sides + 1)
    ]
    favourable = sum(by_first)
    value = Fraction(favourable, total)
    if dice == 1:
        question = f"A fair {sides}-sided die is rolled. What is the probability that the number "
        question += f"rolled is {WORDS[chosen]} {target}?"
        faces = [str(face) for face, n in enumerate(by_first, 1) if n]
        steps = [
            f"The die has {sides} equally likely faces.",
            f"Favourable faces: {', '.join(faces)} ({favourable} of them).",
        ]
    else:
        question = f"{dice} fair {sides}-sided dice are rolled. What is the probability that the "
        question += f"sum is {WORDS[chosen]} {target}?"
        counted = ", ".join(f"{first}: {n}" for first, n in enumerate(by_first, 1) if n)
        steps = [
            f"The {dice} dice give {sides}**{dice} = {total} equally likely outcomes.",
            f"Count the favourable outcomes by the first die's value: {counted} "
            f"(total {favourable}).",
        ]
    steps.append(f"P = {_ratio(favourable, total)}.")
    return item(question, exact(value), steps, {**fixed, "event": event})


def coins(
    rng: random.Random, max_coins: int = 10, biased: bool = False, event: str = "any"
) -> dict[str, Any]:
    """The probability of exactly / at least / at most k heads in n flips (2 to ``max_coins``,
    at most 20); ``biased`` uses a coin with a given probability of heads."""
    need_int("max_coins", max_coins, 2, 20)
    need_bool("biased", biased)
    chosen = _event(rng, event, COIN_EVENTS)
    n = rng.randint(2, max_coins)
    k = rng.randint(1, n - 1)
    p = rng.choice(BIASES) if biased else Fraction(1, 2)
    counts = {
        "exactly": [k],
        "at_least": list(range(k, n + 1)),
        "at_most": list(range(0, k + 1)),
    }[chosen]
    question = f"You flip a fair coin {n} times."
    if biased:
        question = f"A coin lands heads with probability {p}. You flip it {n} times."
    question += f" What is the probability of getting {chosen.replace('_', ' ')} {_heads(k)}?"
    terms = {j: comb(n, j) * p**j * (1 - p) ** (n - j) for j in counts}
    steps = [
        f"The number of heads is binomial: P(j heads) = C({n}, j) * p**j * (1 - p)**({n} - j) "
        f"with p = {p}."
    ]
    for j, term in terms.items():
        steps.append(
            f"j = {j}: C({n}, {j}) = {comb(n, j)}, so P = {comb(n, j)} * ({p})**{j} * "
            f"({1 - p})**{n - j} = {exact(term)}."
        )
    value = sum(terms.values(), Fraction(0))
    if len(terms) > 1:
        steps.append(f"Adding: {' + '.join(exact(t) for t in terms.values())} = {exact(value)}.")
    params = {"max_coins": max_coins, "biased": biased, "event": event}
    return item(question, exact(value), steps, params)


def urn(
    rng: random.Random,
    colors: int = 2,
    max_balls: int = 6,
    max_draws: int = 3,
    replacement: bool = False,
) -> dict[str, Any]:
    """The probability of exactly k balls of one colour among draws (1 to ``max_draws``, at most
    5) from an urn with ``colors`` (2-3) colours of up to ``max_balls`` (2-20) balls each."""
    need_int("colors", colors, 2, 3)
    need_int("max_balls", max_balls, 2, 20)
    need_int("max_draws", max_draws, 1, 5)
    need_bool("replacement", replacement)
    counts = [rng.randint(1, max_balls) for _ in range(colors)]
    total = sum(counts)
    draws = rng.randint(1, min(max_draws, total))
    target = counts[0]
    low, high = (
        (0, draws) if replacement else (max(0, draws - (total - target)), min(draws, target))
    )
    k = rng.randint(low, high)
    contents = ", ".join(f"{n} {c}" for n, c in zip(counts[:-1], COLORS, strict=False))
    contents += f" and {counts[-1]} {COLORS[colors - 1]}"
    question = f"An urn contains {contents} balls. "
    if draws == 1:
        question += "1 ball is drawn at random. What is the probability that it is "
        question += "red?" if k else "not red?"
    else:
        how = "with replacement" if replacement else "without replacement"
        question += f"{draws} balls are drawn at random {how}. What is the probability that "
        question += f"exactly {k} of them are red?"
    other = total - target
    if replacement:
        p = Fraction(target, total)
        value = comb(draws, k) * p**k * (1 - p) ** (draws - k)
        steps = [
            f"Each draw is red with probability {_ratio(target, total)}, independently.",
            f"P = C({draws}, {k}) * ({exact(p)})**{k} * ({exact(1 - p)})**{draws - k} = "
            f"{comb(draws, k)} * {exact(p**k)} * {exact((1 - p) ** (draws - k))} = {exact(value)}.",
        ]
    else:
        ways, all_ways = comb(target, k) * comb(other, draws - k), comb(total, draws)
        value = Fraction(ways, all_ways)
        steps = [
            f"There are {total} balls, {target} red and {other} not red.",
            f"Choose {draws} of {total}: C({total}, {draws}) = {all_ways} equally likely sets.",
            f"Sets with exactly {k} red: C({target}, {k}) * C({other}, {draws - k}) = "
            f"{comb(target, k)} * {comb(other, draws - k)} = {ways}.",
            f"P = {_ratio(ways, all_ways)}.",
        ]
    params = {"colors": colors, "max_balls": max_balls, "max_draws": max_draws}
    params["replacement"] = replacement
    return item(question, exact(value), steps, params)


GENERATORS = {
    "probability.dice": dice,
    "probability.coins": coins,
    "probability.urn": urn,
}
