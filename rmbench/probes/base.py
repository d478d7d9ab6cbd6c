"""What every probe family shares: the probe record, a portable random source, the split rule
and the small text helpers the checkers use.

A probe is only worth having if its preference is true by construction, so each family
ships a checker that judges any answer from the problem's structured `spec` alone; the
generator keeps an item only when the checker accepts its chosen answer and refuses its
rejected one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Probe:
    prompt: str
    chosen: str
    rejected: str
    spec: dict[str, Any]  # the problem in structured, JSON-serialisable form: all the checker reads
    key: str | None = None  # the problem's identity for the train/test split; the prompt when None

    def split_key(self) -> str:
        return self.key if self.key is not None else self.prompt


@dataclass(frozen=True)
class Family:
    """One subset: how to draw a probe and how to judge an answer to it."""

    subset: str
    section: str
    make: Callable[[Rng], Probe]
    check: Callable[[dict[str, Any], str], bool]


class Rng:
    """Draws from sha256 in counter mode.

    random.Random does not promise the same stream across Python releases, and a benchmark
    whose items silently change with the interpreter cannot be compared across machines;
    hashing is the same everywhere.
    """

    def __init__(self, *parts: object):
        self._key = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
        self._counter = 0
        self._buffer = b""

    def _bits64(self) -> int:
        if len(self._buffer) < 8:
            self._buffer += hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        value, self._buffer = int.from_bytes(self._buffer[:8], "big"), self._buffer[8:]
        return value

    def below(self, n: int) -> int:
        """Uniform in [0, n); the modulo bias is under n / 2**64, far below anything measurable."""
        if n < 1:
            raise ValueError("below() needs n >= 1")
        return self._bits64() % n

    def randint(self, low: int, high: int) -> int:
        return low + self.below(high - low + 1)

    def random(self) -> float:
        return self._bits64() / 2**64

    def chance(self, p: float) -> bool:
        return self.random() < p

    def choice(self, seq: Sequence[T]) -> T:
        return seq[self.below(len(seq))]

    def sample(self, seq: Sequence[T], k: int) -> list[T]:
        pool = list(seq)
        return [pool.pop(self.below(len(pool))) for _ in range(k)]

    def shuffled(self, seq: Sequence[T]) -> list[T]:
        return self.sample(seq, len(seq))


def split_of(key: str) -> str:
    """'train' or 'test' from a hash of the problem alone (not the seed, not the version), so
    no problem drawn for training under any seed can ever be drawn for testing."""
    normal = " ".join(key.lower().split())
    digest = hashlib.sha256(f"rmbench-probes-split\n{normal}".encode()).digest()
    return "test" if digest[0] & 1 else "train"


def pick_balanced(rng: Rng, chosen: str, candidates: Sequence[str]) -> str:
    """A rejected answer longer or shorter than the chosen one by a coin flip, so that answer
    length says nothing about which side is right."""
    want_longer = rng.chance(0.5)
    side = [c for c in candidates if (len(c) > len(chosen)) == want_longer and len(c) != len(chosen)]
    return rng.choice(side or list(candidates))


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")


def numbers(text: str) -> list[Fraction]:
    return [Fraction(m) for m in _NUMBER.findall(text)]


def last_number(text: str) -> Fraction | None:
    found = numbers(text)
    return found[-1] if found else None


def fmt_number(value: Fraction | int) -> str:
    """Plain decimal text (no thousands separators, no trailing zeros): what the checkers parse."""
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    if Fraction(text) != value:
        raise ValueError(f"{value} has no short decimal form")
    return text


def mentions(text: str, value: str) -> bool:
    """Whether `value` occurs in `text` as a whole word or phrase (case-insensitive)."""
    return re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text, re.IGNORECASE) is not None


def word_count(text: str) -> int:
    return len(text.split())


def fill(template: str, **values: object) -> str:
    text = template.format(**values)
    return text[:1].upper() + text[1:]


FIRST_NAMES = (
    "Amara", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ines", "Jonas", "Kofi", "Lena",
    "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Viktor", "Wen", "Ximena",
    "Yusuf", "Zora", "Aiko", "Bilal", "Carmen", "Dmitri", "Elif", "Finn", "Grace", "Hugo", "Ivana", "Jamal",
    "Kira", "Luca", "Mira", "Nico", "Olga", "Pablo", "Rania", "Sven", "Tomas", "Vera", "Wale", "Yara",
    "Arjun", "Beatriz", "Cyrus", "Dana", "Esther", "Felix", "Gita", "Haruto", "Isla", "Juno", "Kwame", "Leila",
)
SURNAMES = (
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Haddad", "Fischer", "Costa", "Nguyen", "Kowalski",
    "Mensah", "Ortega", "Petrov", "Sato", "Barros", "Ivanova", "Dubois", "Rahman", "Keller", "Silva",
    "Brennan", "Castillo", "Eriksen", "Farouk", "Gallo", "Horvat", "Jensen", "Kaur", "Laine", "Mwangi",
)
TOWNS = (
    "Lisbon", "Porto", "Oslo", "Bergen", "Leeds", "Cork", "Lyon", "Nantes", "Graz", "Ghent", "Turin", "Seville",
    "Krakow", "Tartu", "Aarhus", "Utrecht", "Basel", "Brno", "Kyoto", "Pune", "Mysore", "Cusco", "Recife",
    "Hobart", "Nairobi", "Accra", "Tunis", "Izmir", "Halifax", "Tucson", "Boise", "Dunedin", "Valencia",
    "Bologna", "Gdansk", "Tampere", "Malmo", "Salzburg", "Bilbao", "Galway",
)
