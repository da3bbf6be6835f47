"""Amounts compared across units of the same kind (g, mg and mcg are all mass)."""

MASS_IN_MG = {"g": 1000.0, "mg": 1.0, "mcg": 0.001}


def convert(amount, unit, to_unit):
    """`amount` in `to_unit`, or None when the units measure different things (mg vs capsules)."""
    if unit == to_unit:
        return amount
    if unit in MASS_IN_MG and to_unit in MASS_IN_MG:
        return amount * MASS_IN_MG[unit] / MASS_IN_MG[to_unit]
    return None


def display(amount, unit):
    return f"{amount:g} {unit}"
