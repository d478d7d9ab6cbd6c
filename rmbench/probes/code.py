"""Small Python functions: a correct one versus a mutated one that fails a test.

Each task has a reference implementation that computes the expected outputs, a correct
template and plausible mutants (an off-by-one range, a flipped comparison, a wrong start
value, two statements swapped). The generator runs both versions on the tests and keeps a
mutant only if it really fails one, so an equivalent mutation never becomes a wrong label.
Templates use only for-loops over finite ranges and no imports: every run ends, no timeout
is needed, and the namespace they run in has a handful of safe builtins and nothing else.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rmbench.probes.base import Family, Probe, Rng, fill, pick_balanced

_SAFE_BUILTINS = {name: getattr(builtins, name) for name in (
    "abs", "bool", "enumerate", "int", "len", "list", "max", "min", "range", "reversed", "set", "sorted", "str",
    "sum", "zip", "True", "False", "None", "IndexError", "ValueError", "ZeroDivisionError",
)}
_FENCE = re.compile(r"```(?:python)?\n(.*?)```", re.DOTALL)


def run_tests(code: str, func: str, tests: list) -> bool:
    """Whether `code` defines `func` and it returns the expected value on every test.

    Results are compared as JSON, so 2 and 2.0 or 1 and True differ, as a test would insist.
    """
    namespace: dict[str, Any] = {"__builtins__": dict(_SAFE_BUILTINS)}
    try:
        exec(compile(code, "<probe>", "exec"), namespace)  # noqa: S102 - generated code, restricted builtins
        function = namespace[func]
        for args, expected in tests:
            got = function(*json.loads(json.dumps(args)))
            if json.dumps(got, sort_keys=True) != json.dumps(expected, sort_keys=True):
                return False
    except Exception:  # any crash of the function under test is a failed test
        return False
    return True


def extract_code(answer: str) -> str:
    found = _FENCE.search(answer)
    return found.group(1) if found else answer


def check_code(spec: dict, answer: str) -> bool:
    """Execute the answer's code block against the task's tests."""
    return run_tests(extract_code(answer), spec["func"], spec["tests"])


@dataclass(frozen=True)
class Task:
    names: dict[str, tuple[str, ...]]  # placeholder -> choices; "f" is the function, p0.. its parameters
    says: tuple[str, ...]  # what the function must do; may name the parameters
    body: str
    mutants: tuple[str, ...]
    reference: Callable[..., Any]
    fixed: tuple[tuple, ...]  # edge cases that catch the usual mutants
    extra: Callable[[Rng], tuple]  # one random argument tuple


def _ints(rng: Rng, low: int = -20, high: int = 40, size: tuple[int, int] = (2, 7)) -> list[int]:
    return [rng.randint(low, high) for _ in range(rng.randint(*size))]


_WORDS = ("level", "python", "banana", "noon", "rotor", "garden", "Radar", "kayak", "house", "stats", "open door",
          "Data Science", "racecar", "hello world", "AEIOU", "rhythm", "queue", "civic", "abba", "moon")
_LIST = ("nums", "values", "xs", "numbers", "items", "data")
_ACC = ("total", "result", "acc", "count", "out")
_ITEM = ("n", "x", "item", "value", "v")
_IDX = ("i", "j", "k")
_TEXT = ("text", "s", "word", "string", "phrase")
_CHAR = ("ch", "c", "letter", "char")

TASKS = (
    Task({"f": ("total", "sum_list", "add_all", "list_sum"), "p0": _LIST, "acc": _ACC, "v": _ITEM},
         ("returns the sum of the numbers in the list `{p0}`", "adds up every number in `{p0}` and returns the total"),
         "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        {acc} = {acc} + {v}\n    return {acc}",
         ("def {f}({p0}):\n    {acc} = 1\n    for {v} in {p0}:\n        {acc} = {acc} + {v}\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        {acc} = {acc} + 1\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}[1:]:\n        {acc} = {acc} + {v}\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        {acc} = {acc} + {v}\n        return {acc}"),
         lambda xs: sum(xs), (([],), ([5],), ([1, 2, 3],), ([-4, 10, 3],)), lambda rng: (_ints(rng),)),
    Task({"f": ("count_evens", "num_even", "even_count", "how_many_even"), "p0": _LIST, "acc": _ACC, "v": _ITEM},
         ("returns how many numbers in `{p0}` are even", "counts the even numbers in the list `{p0}`"),
         "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} % 2 == 0:\n            {acc} += 1\n"
         "    return {acc}",
         ("def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} % 2 == 1:\n            {acc} += 1\n"
          "    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} % 2 == 0:\n            {acc} += {v}\n"
          "    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} % 2:\n            {acc} += 1\n"
          "    return {acc}",
          "def {f}({p0}):\n    {acc} = 1\n    for {v} in {p0}:\n        if {v} % 2 == 0:\n            {acc} += 1\n"
          "    return {acc}"),
         lambda xs: sum(1 for x in xs if x % 2 == 0), (([],), ([1, 3],), ([2, 4, 5],), ([0, -2, 7, 8],)),
         lambda rng: (_ints(rng),)),
    Task({"f": ("largest", "find_max", "biggest", "max_value"), "p0": _LIST, "acc": ("best", "top", "biggest_so_far"),
          "v": _ITEM},
         ("returns the largest number in the non-empty list `{p0}` without calling max()",
          "finds the biggest value in `{p0}` (never empty) using a loop, not max()"),
         "def {f}({p0}):\n    {acc} = {p0}[0]\n    for {v} in {p0}:\n        if {v} > {acc}:\n            {acc} = {v}\n"
         "    return {acc}",
         ("def {f}({p0}):\n    {acc} = {p0}[0]\n    for {v} in {p0}:\n        if {v} < {acc}:\n"
          "            {acc} = {v}\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} > {acc}:\n            {acc} = {v}\n"
          "    return {acc}",
          "def {f}({p0}):\n    {acc} = {p0}[0]\n    for {v} in {p0}[:-1]:\n        if {v} > {acc}:\n"
          "            {acc} = {v}\n    return {acc}"),
         lambda xs: max(xs), (([3],), ([1, 5, 2],), ([-7, -3, -9],), ([2, 9],)),
         lambda rng: (_ints(rng, size=(1, 7)),)),
    Task({"f": ("reverse", "reversed_text", "flip", "backwards"), "p0": _TEXT, "acc": ("out", "result", "rev"),
          "v": _CHAR},
         ("returns the string `{p0}` reversed", "gives back `{p0}` with its characters in reverse order"),
         "def {f}({p0}):\n    {acc} = \"\"\n    for {v} in {p0}:\n        {acc} = {v} + {acc}\n    return {acc}",
         ("def {f}({p0}):\n    {acc} = \"\"\n    for {v} in {p0}:\n        {acc} = {acc} + {v}\n    return {acc}",
          "def {f}({p0}):\n    {acc} = \"\"\n    for {v} in {p0}[1:]:\n        {acc} = {v} + {acc}\n    return {acc}",
          "def {f}({p0}):\n    {acc} = \"\"\n    for {v} in {p0}:\n        {acc} = {v} + {acc}\n    return {acc}[1:]"),
         lambda s: s[::-1], (("",), ("a",), ("abc",), ("hello world",)), lambda rng: (rng.choice(_WORDS),)),
    Task({"f": ("factorial", "fact", "product_up_to"), "p0": ("n", "num", "m"), "acc": ("result", "prod", "acc"),
          "v": _IDX},
         ("returns the factorial of the non-negative integer `{p0}`, with the factorial of 0 being 1",
          "computes `{p0}`! (1 x 2 x ... x `{p0}`, and 1 when `{p0}` is 0)"),
         "def {f}({p0}):\n    {acc} = 1\n    for {v} in range(1, {p0} + 1):\n        {acc} = {acc} * {v}\n"
         "    return {acc}",
         ("def {f}({p0}):\n    {acc} = 1\n    for {v} in range(1, {p0}):\n        {acc} = {acc} * {v}\n"
          "    return {acc}",
          "def {f}({p0}):\n    {acc} = 1\n    for {v} in range({p0} + 1):\n        {acc} = {acc} * {v}\n"
          "    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in range(1, {p0} + 1):\n        {acc} = {acc} * {v}\n"
          "    return {acc}",
          "def {f}({p0}):\n    {acc} = 1\n    for {v} in range(2, {p0}):\n        {acc} = {acc} * {v}\n"
          "    return {acc}"),
         lambda n: _factorial(n), ((0,), (1,), (4,), (6,)), lambda rng: (rng.randint(2, 10),)),
    Task({"f": ("is_palindrome", "reads_same", "palindrome"), "p0": _TEXT, "v": _IDX},
         ("returns True if the string `{p0}` reads the same forwards and backwards, otherwise False",
          "checks whether `{p0}` is a palindrome (exact characters, case-sensitive) and returns a bool"),
         "def {f}({p0}):\n    for {v} in range(len({p0}) // 2):\n        if {p0}[{v}] != {p0}[len({p0}) - 1 - {v}]:\n"
         "            return False\n    return True",
         ("def {f}({p0}):\n    for {v} in range(len({p0}) // 2):\n        if {p0}[{v}] != {p0}[len({p0}) - {v}]:\n"
          "            return False\n    return True",
          "def {f}({p0}):\n    for {v} in range(len({p0}) // 2 - 1):\n"
          "        if {p0}[{v}] != {p0}[len({p0}) - 1 - {v}]:\n            return False\n    return True",
          "def {f}({p0}):\n    for {v} in range(len({p0}) // 2):\n        if {p0}[{v}] == {p0}[len({p0}) - 1 - {v}]:\n"
          "            return False\n    return True",
          "def {f}({p0}):\n    for {v} in range(len({p0}) // 2):\n        if {p0}[{v}] != {p0}[len({p0}) - 1 - {v}]:\n"
          "            return True\n    return False"),
         lambda s: s == s[::-1], (("",), ("a",), ("ab",), ("aba",), ("abca",), ("racecar",), ("hello",)),
         lambda rng: (rng.choice(_WORDS),)),
    Task({"f": ("count_vowels", "vowels", "num_vowels"), "p0": _TEXT, "acc": _ACC, "v": _CHAR},
         ("returns how many vowels (a, e, i, o, u, in either case) the string `{p0}` contains",
          "counts the vowels in `{p0}`, treating upper- and lower-case letters alike"),
         "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}.lower():\n        if {v} in \"aeiou\":\n"
         "            {acc} += 1\n    return {acc}",
         ("def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}.lower():\n        if {v} in \"aeio\":\n"
          "            {acc} += 1\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} in \"aeiou\":\n"
          "            {acc} += 1\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in {p0}.lower():\n        if {v} not in \"aeiou\":\n"
          "            {acc} += 1\n    return {acc}"),
         lambda s: sum(1 for ch in s.lower() if ch in "aeiou"), (("",), ("Apple",), ("sky",), ("EDUCATION",),
                                                                 ("umbrella",)),
         lambda rng: (rng.choice(_WORDS),)),
    Task({"f": ("multiples", "divisible_up_to", "find_multiples"), "p0": ("n", "limit", "upto"),
          "p1": ("k", "d", "step"), "v": ("i", "x", "m")},
         ("returns a list of the numbers from 1 to `{p0}` inclusive that are divisible by `{p1}`",
          "lists, in increasing order, every number between 1 and `{p0}` (inclusive) that `{p1}` divides"),
         "def {f}({p0}, {p1}):\n    return [{v} for {v} in range(1, {p0} + 1) if {v} % {p1} == 0]",
         ("def {f}({p0}, {p1}):\n    return [{v} for {v} in range(1, {p0}) if {v} % {p1} == 0]",
          "def {f}({p0}, {p1}):\n    return [{v} for {v} in range({p0} + 1) if {v} % {p1} == 0]",
          "def {f}({p0}, {p1}):\n    return [{v} for {v} in range(1, {p0} + 1) if {v} % {p1} != 0]",
          "def {f}({p0}, {p1}):\n    return [{v} for {v} in range({p1}, {p0}, {p1})]"),
         lambda n, k: [i for i in range(1, n + 1) if i % k == 0], ((10, 3), (12, 4), (5, 5), (1, 2)),
         lambda rng: (rng.randint(5, 40), rng.randint(2, 7))),
    Task({"f": ("clamp", "limit", "bound"), "p0": ("x", "value", "v"), "p1": ("low", "lo", "minimum"),
          "p2": ("high", "hi", "maximum")},
         ("limits `{p0}` to the range `{p1}`..`{p2}`: it returns `{p1}` when `{p0}` is below it, `{p2}` when "
          "above it, else `{p0}`",
          "clamps the number `{p0}` between `{p1}` and `{p2}` (inclusive)"),
         "def {f}({p0}, {p1}, {p2}):\n    if {p0} < {p1}:\n        return {p1}\n    if {p0} > {p2}:\n"
         "        return {p2}\n    return {p0}",
         ("def {f}({p0}, {p1}, {p2}):\n    if {p0} < {p1}:\n        return {p2}\n    if {p0} > {p2}:\n"
          "        return {p1}\n    return {p0}",
          "def {f}({p0}, {p1}, {p2}):\n    if {p0} > {p1}:\n        return {p1}\n    if {p0} > {p2}:\n"
          "        return {p2}\n    return {p0}",
          "def {f}({p0}, {p1}, {p2}):\n    if {p0} < {p1}:\n        return {p1}\n    if {p0} < {p2}:\n"
          "        return {p2}\n    return {p0}"),
         lambda x, lo, hi: min(max(x, lo), hi), ((5, 0, 10), (-3, 0, 10), (15, 0, 10), (0, 0, 10), (10, 0, 10)),
         lambda rng: (rng.randint(-20, 30), rng.randint(-5, 0), rng.randint(5, 15))),
    Task({"f": ("average", "mean", "avg"), "p0": _LIST},
         ("returns the arithmetic mean of the non-empty list of numbers `{p0}` as a float",
          "computes the average of `{p0}` (never empty), with true division"),
         "def {f}({p0}):\n    return sum({p0}) / len({p0})",
         ("def {f}({p0}):\n    return sum({p0}) // len({p0})",
          "def {f}({p0}):\n    return sum({p0}) / (len({p0}) - 1)",
          "def {f}({p0}):\n    return sum({p0}[1:]) / len({p0})"),
         lambda xs: sum(xs) / len(xs), (([4],), ([1, 2],), ([1, 2, 3, 4],), ([-3, 3, 6],)),
         lambda rng: (_ints(rng, 0, 50, (2, 6)),)),
    Task({"f": ("fib", "fibonacci", "nth_fib"), "p0": ("n", "k", "index")},
         ("returns the `{p0}`-th Fibonacci number, where fib(0) is 0 and fib(1) is 1",
          "computes Fibonacci number `{p0}` (0, 1, 1, 2, 3, 5, ... counting from 0)"),
         "def {f}({p0}):\n    a, b = 0, 1\n    for _ in range({p0}):\n        a, b = b, a + b\n    return a",
         ("def {f}({p0}):\n    a, b = 0, 1\n    for _ in range({p0} - 1):\n        a, b = b, a + b\n    return a",
          "def {f}({p0}):\n    a, b = 0, 1\n    for _ in range({p0}):\n        a, b = b, a + b\n    return b",
          "def {f}({p0}):\n    a, b = 1, 1\n    for _ in range({p0}):\n        a, b = b, a + b\n    return a"),
         lambda n: _fib(n), ((0,), (1,), (2,), (7,)), lambda rng: (rng.randint(3, 20),)),
    Task({"f": ("second_largest", "runner_up", "second_max"), "p0": _LIST, "acc": ("ordered", "distinct", "ranked")},
         ("returns the second largest distinct value in `{p0}`, which holds at least two different values",
          "finds the runner-up value of `{p0}`, ignoring repeats of the largest"),
         "def {f}({p0}):\n    {acc} = sorted(set({p0}))\n    return {acc}[-2]",
         ("def {f}({p0}):\n    {acc} = sorted({p0})\n    return {acc}[-2]",
          "def {f}({p0}):\n    {acc} = sorted(set({p0}))\n    return {acc}[1]",
          "def {f}({p0}):\n    {acc} = sorted(set({p0}))\n    return {acc}[-1]"),
         lambda xs: sorted(set(xs))[-2], (([1, 2],), ([5, 5, 3],), ([4, 1, 4, 2],), ([10, 20, 30],)),
         lambda rng: ([rng.randint(0, 9) for _ in range(4)] + [10, 11],)),
    Task({"f": ("unique", "dedupe", "remove_duplicates"), "p0": _LIST, "acc": ("seen", "result", "kept"),
          "v": _ITEM},
         ("returns the items of `{p0}` without repeats, keeping the order in which they first appear",
          "drops duplicates from `{p0}` while preserving first-seen order"),
         "def {f}({p0}):\n    {acc} = []\n    for {v} in {p0}:\n        if {v} not in {acc}:\n"
         "            {acc}.append({v})\n    return {acc}",
         ("def {f}({p0}):\n    {acc} = []\n    for {v} in {p0}:\n        if {v} not in {acc}:\n"
          "            {acc}.append({v})\n    return sorted({acc})",
          "def {f}({p0}):\n    {acc} = []\n    for {v} in {p0}[1:]:\n        if {v} not in {acc}:\n"
          "            {acc}.append({v})\n    return {acc}",
          "def {f}({p0}):\n    {acc} = []\n    for {v} in {p0}:\n        if {v} in {acc}:\n"
          "            {acc}.append({v})\n    return {acc}"),
         lambda xs: list(dict.fromkeys(xs)), (([],), ([1, 1, 2],), ([3, 1, 3, 2, 1],)),
         lambda rng: (_ints(rng, 0, 6, (3, 8)),)),
    Task({"f": ("count_words", "word_count", "num_words"), "p0": _TEXT},
         ("returns how many words the string `{p0}` has, where words are separated by any run of whitespace",
          "counts the whitespace-separated words in `{p0}` (extra spaces must not create empty words)"),
         "def {f}({p0}):\n    return len({p0}.split())",
         ("def {f}({p0}):\n    return len({p0}.split(\" \"))",
          "def {f}({p0}):\n    return {p0}.count(\" \") + 1"),
         lambda s: len(s.split()), (("",), ("hello",), ("hello world",), ("  two   spaces ",), ("one two three",)),
         lambda rng: (" ".join(rng.sample(_WORDS, rng.randint(1, 4))),)),
    Task({"f": ("digit_sum", "sum_digits", "add_digits"), "p0": ("n", "number", "num"), "acc": _ACC, "v": _CHAR},
         ("returns the sum of the decimal digits of the non-negative integer `{p0}`",
          "adds up the digits of `{p0}` (a whole number, zero or more)"),
         "def {f}({p0}):\n    {acc} = 0\n    for {v} in str({p0}):\n        {acc} += int({v})\n    return {acc}",
         ("def {f}({p0}):\n    {acc} = 0\n    for {v} in str({p0}):\n        {acc} += 1\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 0\n    for {v} in str({p0})[1:]:\n        {acc} += int({v})\n    return {acc}",
          "def {f}({p0}):\n    {acc} = 1\n    for {v} in str({p0}):\n        {acc} += int({v})\n    return {acc}"),
         lambda n: sum(int(c) for c in str(n)), ((0,), (7,), (123,), (9999,), (1005,)),
         lambda rng: (rng.randint(10, 99999),)),
    Task({"f": ("running_total", "cumulative_sum", "prefix_sums"), "p0": _LIST, "acc": ("out", "sums", "result"),
          "t": ("so_far", "running", "tally"), "v": _ITEM},
         ("returns a list whose i-th item is the sum of the first i + 1 numbers of `{p0}`",
          "computes the running totals of `{p0}` (same length as the input)"),
         "def {f}({p0}):\n    {acc} = []\n    {t} = 0\n    for {v} in {p0}:\n        {t} += {v}\n"
         "        {acc}.append({t})\n    return {acc}",
         ("def {f}({p0}):\n    {acc} = []\n    {t} = 0\n    for {v} in {p0}:\n        {acc}.append({t})\n"
          "        {t} += {v}\n    return {acc}",
          "def {f}({p0}):\n    {acc} = []\n    {t} = 0\n    for {v} in {p0}:\n        {t} += {v}\n"
          "        {acc}.append({v})\n    return {acc}",
          "def {f}({p0}):\n    {acc} = []\n    {t} = 0\n    for {v} in {p0}:\n        {t} = {v}\n"
          "        {acc}.append({t})\n    return {acc}"),
         lambda xs: [sum(xs[:i + 1]) for i in range(len(xs))], (([],), ([5],), ([1, 2, 3],), ([4, -1, 2],)),
         lambda rng: (_ints(rng),)),
    Task({"f": ("is_prime", "prime", "check_prime"), "p0": ("n", "num", "candidate"), "v": ("d", "i", "factor")},
         ("returns True if the integer `{p0}` is a prime number, otherwise False",
          "tells whether `{p0}` is prime (numbers below 2 are not) as a bool"),
         "def {f}({p0}):\n    if {p0} < 2:\n        return False\n    for {v} in range(2, {p0}):\n"
         "        if {p0} % {v} == 0:\n            return False\n    return True",
         ("def {f}({p0}):\n    if {p0} < 1:\n        return False\n    for {v} in range(2, {p0}):\n"
          "        if {p0} % {v} == 0:\n            return False\n    return True",
          "def {f}({p0}):\n    if {p0} < 2:\n        return False\n    for {v} in range(3, {p0}):\n"
          "        if {p0} % {v} == 0:\n            return False\n    return True",
          "def {f}({p0}):\n    if {p0} < 2:\n        return False\n    for {v} in range(2, {p0} + 1):\n"
          "        if {p0} % {v} == 0:\n            return False\n    return True"),
         lambda n: n >= 2 and all(n % d for d in range(2, n)), ((0,), (1,), (2,), (4,), (9,), (13,), (15,)),
         lambda rng: (rng.randint(16, 60),)),
    Task({"f": ("count_char", "occurrences", "char_count"), "p0": _TEXT, "p1": ("target", "ch", "letter"),
          "acc": _ACC, "v": ("c", "symbol", "piece")},
         ("returns how many times the character `{p1}` appears in the string `{p0}`",
          "counts the occurrences of the single character `{p1}` in `{p0}`"),
         "def {f}({p0}, {p1}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} == {p1}:\n            {acc} += 1\n"
         "    return {acc}",
         ("def {f}({p0}, {p1}):\n    {acc} = 0\n    for {v} in {p0}:\n        if {v} != {p1}:\n            {acc} += 1\n"
          "    return {acc}",
          "def {f}({p0}, {p1}):\n    {acc} = 1\n    for {v} in {p0}:\n        if {v} == {p1}:\n            {acc} += 1\n"
          "    return {acc}",
          "def {f}({p0}, {p1}):\n    {acc} = 0\n    for {v} in {p0}[1:]:\n        if {v} == {p1}:\n"
          "            {acc} += 1\n    return {acc}"),
         lambda s, c: s.count(c), (("", "a"), ("banana", "a"), ("apple", "a"), ("xyz", "q")),
         lambda rng: (rng.choice(_WORDS), rng.choice("aeionrst"))),
    Task({"f": ("index_of", "find_first", "position"), "p0": _LIST, "p1": ("target", "wanted", "needle"),
          "v": _IDX},
         ("returns the index of the first occurrence of `{p1}` in the list `{p0}`, or -1 if it is absent",
          "finds where `{p1}` first appears in `{p0}` (its index), returning -1 when it does not appear"),
         "def {f}({p0}, {p1}):\n    for {v} in range(len({p0})):\n        if {p0}[{v}] == {p1}:\n"
         "            return {v}\n    return -1",
         ("def {f}({p0}, {p1}):\n    for {v} in range(1, len({p0})):\n        if {p0}[{v}] == {p1}:\n"
          "            return {v}\n    return -1",
          "def {f}({p0}, {p1}):\n    for {v} in range(len({p0}) - 1):\n        if {p0}[{v}] == {p1}:\n"
          "            return {v}\n    return -1",
          "def {f}({p0}, {p1}):\n    for {v} in range(len({p0})):\n        if {p0}[{v}] == {p1}:\n"
          "            return {v}\n    return 0"),
         lambda xs, t: xs.index(t) if t in xs else -1, (([4, 5, 6], 4), ([1, 2, 3], 3), ([], 1), ([7, 8], 9),
                                                         ([2, 9, 2], 2)),
         lambda rng: (_ints(rng, 0, 9), rng.randint(0, 9))),
)


def _factorial(n: int) -> int:
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


_PROMPTS = (
    "Write a Python function `{sig}` that {says}.",
    "Implement `{sig}` in Python: it {says}.",
    "I need a Python function called `{f}`. `{sig}` {says}.",
    "Can you write `{sig}`? It {says}. Plain Python, no imports.",
    "Python exercise: define `{sig}`, which {says}.",
)
_INTROS = ("", "Here is the function:\n\n", "Sure:\n\n", "Here's one way to write it:\n\n",
           "You can write it like this:\n\n", "Here is a simple implementation that uses only built-ins:\n\n",
           "This should do it:\n\n")


def make_code(rng: Rng) -> Probe:
    while True:
        task = rng.choice(TASKS)
        names: dict[str, str] = {}
        for slot, options in task.names.items():
            free = [o for o in options if o not in names.values()]
            names[slot] = rng.choice(free)
        params = [names[p] for p in ("p0", "p1", "p2") if p in names]
        sig = f"{names['f']}({', '.join(params)})"
        cases = list(task.fixed) + [task.extra(rng) for _ in range(3)]
        tests = [[list(args), task.reference(*args)] for args in cases]
        correct = task.body.format(**names)
        failing = [m.format(**names) for m in task.mutants if not run_tests(m.format(**names), names["f"], tests)]
        if run_tests(correct, names["f"], tests) and failing:
            break
    mutant = rng.choice(failing)
    says = task.says[rng.below(len(task.says))].format(**names)
    prompt = fill(rng.choice(_PROMPTS), sig=sig, f=names["f"], says=says)
    chosen = f"{rng.choice(_INTROS)}```python\n{correct}\n```"
    rejected = pick_balanced(rng, chosen, [f"{intro}```python\n{mutant}\n```" for intro in _INTROS])
    return Probe(prompt, chosen, rejected, {"func": names["f"], "tests": tests})


FAMILIES = (Family("code", "Reasoning", make_code, check_code),)
