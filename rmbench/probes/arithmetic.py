"""Arithmetic and unit conversions with a subtly wrong answer.

The wrong answers are the slips people make (off by one or ten, a transposed digit, one
factor too many, the wrong conversion factor), stated as confidently as the right one, so
only the number tells them apart. Checkers recompute the truth from the problem itself.
"""

from __future__ import annotations

import ast
import operator
from fractions import Fraction

from rmbench.probes.base import FIRST_NAMES, Family, Probe, Rng, fill, fmt_number, last_number, pick_balanced

_AST_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(expr: str) -> Fraction:
    """Exact value of an expression of integers and + - * /; nothing else is accepted."""

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _AST_OPS:
            return _AST_OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        raise ValueError(f"unsupported expression {expr!r}")

    return walk(ast.parse(expr, mode="eval"))


def check_arithmetic(spec: dict, answer: str) -> bool:
    """The answer's final number must equal the expression's exact value."""
    return last_number(answer) == evaluate(spec["expr"])


_PLAIN_QUESTIONS = (
    "What is {e}?", "Compute {e}.", "Calculate {e} and give the result.", "What does {e} equal?",
    "Quick maths: {e} = ?", "Please work out {e}.", "Can you tell me what {e} is?", "Solve: {e}",
    "What's {e}? Just the number, please.", "I need the value of {e}.",
)
_THINGS = ("apples", "stickers", "marbles", "pencils", "stamps", "cookies", "books", "shells", "cards", "beads",
           "candles", "tickets", "lemons", "buttons", "postcards", "seeds")
_FRIENDS = ("a friend", "her brother", "his sister", "a neighbour", "a classmate", "the school")


def _plain(rng: Rng) -> tuple[str, str, str, str]:
    kind = rng.choice(("+", "-", "*", "+-", "/", "%"))
    if kind == "+":
        a, b = rng.randint(12, 999), rng.randint(12, 999)
        expr = shown = f"{a} + {b}"
    elif kind == "-":
        a = rng.randint(60, 999)
        b = rng.randint(11, a - 10)
        expr = shown = f"{a} - {b}"
    elif kind == "*":
        a, b = rng.randint(6, 99), rng.randint(3, 29)
        expr, shown = f"{a} * {b}", f"{a} × {b}"
    elif kind == "+-":
        a, b = rng.randint(20, 400), rng.randint(20, 400)
        c = rng.randint(5, a + b - 5)
        expr = shown = f"{a} + {b} - {c}"
    elif kind == "/":
        b, q = rng.randint(3, 25), rng.randint(4, 60)
        expr, shown = f"{b * q} / {b}", f"{b * q} ÷ {b}"
    else:
        p = rng.choice((5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 80))
        base = rng.randint(2, 60) * 20
        expr, shown = f"{p} * {base} / 100", f"{p}% of {base}"
    return fill(rng.choice(_PLAIN_QUESTIONS), e=shown), expr, shown, ""


def _word(rng: Rng) -> tuple[str, str, str, str]:
    name, things = rng.choice(FIRST_NAMES), rng.choice(_THINGS)
    kind = rng.choice(("add", "sub", "mul", "div", "cost", "speed"))
    if kind == "add":
        a, b = rng.randint(12, 300), rng.randint(5, 300)
        prompt = rng.choice((f"{name} has {a} {things} and gets {b} more. How many {things} does {name} have now?",
                             f"A box holds {a} {things}. Someone adds {b} more. How many {things} are in the box?"))
        return prompt, f"{a} + {b}", f"{a} + {b}", things
    if kind == "sub":
        a = rng.randint(40, 500)
        b = rng.randint(5, a - 5)
        prompt = rng.choice((f"{name} had {a} {things} and gave {b} to {rng.choice(_FRIENDS)}. How many are left?",
                             f"There were {a} {things} on a shelf and {b} were sold. How many {things} remain?"))
        return prompt, f"{a} - {b}", f"{a} - {b}", things
    if kind == "mul":
        a, b = rng.randint(3, 40), rng.randint(4, 24)
        prompt = f"{name} buys {a} packs of {things} with {b} in each pack. How many {things} is that in total?"
        return prompt, f"{a} * {b}", f"{a} × {b}", things
    if kind == "div":
        b, q = rng.randint(2, 12), rng.randint(3, 40)
        prompt = f"{name} shares {b * q} {things} equally among {b} friends. How many does each friend get?"
        return prompt, f"{b * q} / {b}", f"{b * q} ÷ {b}", things
    if kind == "cost":
        price, k = rng.randint(2, 90), rng.randint(3, 25)
        item = rng.choice(("notebook", "mug", "ticket", "plant", "scarf", "torch", "kite", "puzzle"))
        prompt = f"One {item} costs {price} dollars. How much do {k} of them cost?"
        return prompt, f"{price} * {k}", f"{price} × {k}", "dollars"
    speed, hours = rng.randint(8, 95), rng.randint(2, 9)
    who = rng.choice(("A cyclist", "A train", "A boat", "A runner", "A bus"))
    prompt = f"{who} travels at {speed} km per hour for {hours} hours. How far does it go?"
    return prompt, f"{speed} * {hours}", f"{speed} × {hours}", "km"


def _wrong_values(truth: Fraction, expr: str) -> list[Fraction]:
    wrong = [truth + d for d in (1, -1, 2, -2, 10, -10, 100)]
    digits = fmt_number(truth)
    if truth.denominator == 1 and len(digits) >= 2 and digits[-1] != digits[-2]:
        wrong.append(Fraction(digits[:-2] + digits[-1] + digits[-2]))  # transposed last digits
    if "*" in expr:  # one factor too many or too few
        first = Fraction(expr.split("*")[0].strip())
        wrong += [truth + first, truth - first]
    return [w for w in wrong if w != truth and w >= 0 and w.denominator == 1]


_ANSWERS = ("{r}", "{r}.", "The answer is {r}.", "{shown} = {r}.", "It comes to {r}.", "That is {r}.",
            "Working it out: {shown} = {r}.", "Result: {r}")
_UNIT_ANSWERS = ("{r} {unit}.", "{r} {unit}", "The answer is {r} {unit}.", "{shown} = {r}, so {r} {unit}.",
                 "That makes {r} {unit}.", "It comes to {r} {unit}.")


def make_arithmetic(rng: Rng) -> Probe:
    prompt, expr, shown, unit = (_plain if rng.chance(0.55) else _word)(rng)
    truth = evaluate(expr)
    forms = _ANSWERS + (_UNIT_ANSWERS if unit else ())
    wrong = rng.choice(_wrong_values(truth, expr))

    def say(value: Fraction, form: str) -> str:
        return fill(form, r=fmt_number(value), shown=shown, unit=unit)

    chosen = say(truth, rng.choice(forms))
    rejected = pick_balanced(rng, chosen, [say(wrong, form) for form in forms])
    return Probe(prompt, chosen, rejected, {"expr": expr}, key=f"arith:{expr}|{unit}")


# --- unit conversions -----------------------------------------------------------------------------

# (larger unit, smaller unit): how many of the smaller make one of the larger
FACTORS = {
    ("kilometres", "metres"): 1000, ("metres", "centimetres"): 100, ("centimetres", "millimetres"): 10,
    ("metres", "millimetres"): 1000, ("kilograms", "grams"): 1000, ("grams", "milligrams"): 1000,
    ("tonnes", "kilograms"): 1000, ("litres", "millilitres"): 1000, ("hours", "minutes"): 60,
    ("minutes", "seconds"): 60, ("hours", "seconds"): 3600, ("days", "hours"): 24, ("weeks", "days"): 7,
    ("feet", "inches"): 12, ("yards", "feet"): 3, ("years", "months"): 12,
}
_SINGULAR = {"kilometres": "kilometre", "metres": "metre", "centimetres": "centimetre", "millimetres": "millimetre",
             "kilograms": "kilogram", "grams": "gram", "milligrams": "milligram", "tonnes": "tonne",
             "litres": "litre", "millilitres": "millilitre", "hours": "hour", "minutes": "minute",
             "seconds": "second", "days": "day", "weeks": "week", "feet": "foot", "inches": "inch",
             "yards": "yard", "years": "year", "months": "month", "celsius": "celsius", "fahrenheit": "fahrenheit"}
_TEMPERATURE = {"celsius": "degrees Celsius", "fahrenheit": "degrees Fahrenheit"}


def convert(value: Fraction, source: str, target: str) -> Fraction:
    """The checker's own conversion: the factor table, or the Celsius/Fahrenheit formulas."""
    if (source, target) == ("celsius", "fahrenheit"):
        return value * Fraction(9, 5) + 32
    if (source, target) == ("fahrenheit", "celsius"):
        return (value - 32) * Fraction(5, 9)
    if (source, target) in FACTORS:
        return value * FACTORS[(source, target)]
    if (target, source) in FACTORS:
        return value / FACTORS[(target, source)]
    raise ValueError(f"no conversion from {source} to {target}")


def check_units(spec: dict, answer: str) -> bool:
    """The answer's final number must be the converted value, exactly."""
    return last_number(answer) == convert(Fraction(spec["value"]), spec["from"], spec["to"])


def _unit_name(unit: str, value: Fraction) -> str:
    if unit in _TEMPERATURE:
        return _TEMPERATURE[unit]
    return _SINGULAR[unit] if value == 1 else unit


_UNIT_QUESTIONS = (
    "How many {to} are in {v} {frm}?", "Convert {v} {frm} to {to}.", "{v} {frm} is how many {to}?",
    "Express {v} {frm} in {to}.", "What is {v} {frm} in {to}?", "Please convert {v} {frm} into {to}.",
    "I have {v} {frm}. How much is that in {to}?",
)
_CONVERSION_ANSWERS = ("{r} {to}.", "{r}", "{v} {frm} is {r} {to}.", "That is {r} {to}.", "It comes to {r} {to}.",
                       "{v} {frm} = {r} {to}.", "The answer is {r} {to}.")


def _unit_wrongs(value: Fraction, source: str, target: str, truth: Fraction) -> list[Fraction]:
    if source in _TEMPERATURE:
        if source == "celsius":
            wrong = [value * Fraction(9, 5), value * 2 + 30, truth + 1, truth - 2, value + 32]
        else:
            wrong = [value - 32, (value - 30) / 2, truth + 1, truth - 1, (value - 32) * Fraction(9, 5)]
    else:
        factor = FACTORS.get((source, target)) or FACTORS[(target, source)]
        slips = {10: (100,), 12: (10,), 3: (12,), 7: (5,), 24: (12, 60), 60: (100, 24), 100: (10, 1000),
                 1000: (100, 10), 3600: (60,)}[factor]
        wrong = [convert(value, source, target) * s / factor if (source, target) in FACTORS
                 else value / s for s in slips]
        wrong += [value * factor if (target, source) in FACTORS else value / factor, truth + 1, truth * 10]
    return [w for w in wrong if w != truth and _decimal(w)]


def _decimal(value: Fraction) -> bool:
    try:
        fmt_number(value)
    except ValueError:
        return False
    return True


def make_units(rng: Rng) -> Probe:
    while True:
        if rng.chance(0.15):
            source = rng.choice(("celsius", "fahrenheit"))
            target = "fahrenheit" if source == "celsius" else "celsius"
            c = Fraction(5 * rng.randint(-6, 20))
            value = c if source == "celsius" else c * Fraction(9, 5) + 32
        else:
            big, small = rng.choice(sorted(FACTORS))
            base = Fraction(rng.randint(2, 60)) + (Fraction(1, 2) if rng.chance(0.25) else 0)
            if rng.chance(0.5):
                source, target, value = big, small, base
            else:
                source, target, value = small, big, base * FACTORS[(big, small)]
        truth = convert(value, source, target)
        wrongs = _unit_wrongs(value, source, target, truth)
        if _decimal(value) and _decimal(truth) and wrongs:
            break
    v = fmt_number(value)
    frm, to = _unit_name(source, value), _unit_name(target, truth)
    prompt = fill(rng.choice(_UNIT_QUESTIONS), v=v, frm=frm, to=target if target not in _TEMPERATURE else to)

    def say(result: Fraction, form: str) -> str:
        return fill(form, r=fmt_number(result), v=v, frm=frm, to=_unit_name(target, result))

    chosen = say(truth, rng.choice(_CONVERSION_ANSWERS))
    wrong = rng.choice(wrongs)
    rejected = pick_balanced(rng, chosen, [say(wrong, form) for form in _CONVERSION_ANSWERS])
    spec = {"value": v, "from": source, "to": target}
    return Probe(prompt, chosen, rejected, spec, key=f"units:{v}|{source}|{target}")


FAMILIES = (
    Family("arithmetic", "Reasoning", make_arithmetic, check_arithmetic),
    Family("units", "Reasoning", make_units, check_units),
)
