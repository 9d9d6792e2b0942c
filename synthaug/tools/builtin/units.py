"""Unit conversion: the built-in ``convert_units`` tool (exact factors). Runs in the sandbox only."""

from fractions import Fraction

# factor to the dimension's base unit (metre, kilogram, second, litre, metre per second)
FACTORS = {
    "length": {"mm": "0.001", "cm": "0.01", "m": "1", "km": "1000", "in": "0.0254",
               "ft": "0.3048", "yd": "0.9144", "mi": "1609.344"},
    "mass": {"mg": "0.000001", "g": "0.001", "kg": "1", "t": "1000", "oz": "0.028349523125",
             "lb": "0.45359237"},
    "time": {"s": "1", "min": "60", "h": "3600", "day": "86400", "week": "604800"},
    "volume": {"ml": "0.001", "l": "1", "gal": "3.785411784", "cup": "0.2365882365",
               "floz": "0.0295735295625"},
    "speed": {"m/s": "1", "km/h": "5/18", "mph": "0.44704", "kn": "463/900"},
}  # fmt: skip
TEMPERATURES = ("C", "F", "K")


def _to_kelvin(value: Fraction, unit: str) -> Fraction:
    if unit == "C":
        return value + Fraction("273.15")
    if unit == "F":
        return (value - 32) * Fraction(5, 9) + Fraction("273.15")
    return value


def _from_kelvin(value: Fraction, unit: str) -> Fraction:
    if unit == "C":
        return value - Fraction("273.15")
    if unit == "F":
        return (value - Fraction("273.15")) * Fraction(9, 5) + 32
    return value


def convert_units(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a quantity between units of length (mm, cm, m, km, in, ft, yd, mi), mass (mg, g,
    kg, t, oz, lb), time (s, min, h, day, week), volume (ml, l, gal, cup, floz), speed (m/s,
    km/h, mph, kn) or temperature (C, F, K).

    Args:
        value: the quantity to convert
        from_unit: the unit it is in, e.g. "km"
        to_unit: the unit wanted, e.g. "mi"
    """
    amount = Fraction(str(value))
    if from_unit in TEMPERATURES and to_unit in TEMPERATURES:
        return round(float(_from_kelvin(_to_kelvin(amount, from_unit), to_unit)), 10)
    for table in FACTORS.values():
        if from_unit in table and to_unit in table:
            ratio = Fraction(table[from_unit]) / Fraction(table[to_unit])
            return round(float(amount * ratio), 10)
    known = [u for table in FACTORS.values() for u in table] + list(TEMPERATURES)
    raise ValueError(f"cannot convert {from_unit!r} to {to_unit!r}; units: {', '.join(known)}")
