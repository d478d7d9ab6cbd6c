"""The probe suite: procedurally generated preference pairs whose labels are true by construction.

Every subset draws (prompt, chosen, rejected) from templates and a seed, in any quantity,
and ships a checker that judges an answer from the problem alone (it recomputes the sum,
runs the code, parses the JSON, counts the words, looks the fact up). An item is kept
only when its checker accepts the chosen answer and refuses the rejected one.

Why generate instead of ship: a fixed benchmark leaks into training data sooner or later;
these items can be drawn fresh for every run. Why a hash split: a problem belongs to train
or test by a hash of the problem itself, independent of seed and version, so no training
draw under any seed can ever contain a test problem.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from rmbench.data.schema import PreferenceExample
from rmbench.errors import RmbenchError
from rmbench.probes import arithmetic, code, constraints, length, passage, safety
from rmbench.probes.base import Family, Probe, Rng, split_of

# Bump whenever any generator's output for a given seed changes: records of different versions
# hold different items and must not be compared.
VERSION = "1"
SPLITS = ("train", "test")

FAMILIES: dict[str, Family] = {f.subset: f for module in (arithmetic, code, constraints, passage, safety, length)
                               for f in module.FAMILIES}
SUBSETS: tuple[str, ...] = tuple(FAMILIES)
SECTIONS: dict[str, list[str]] = {}
for _family in FAMILIES.values():
    SECTIONS.setdefault(_family.section, []).append(_family.subset)

# Names a suite manifest's `generate:` and `rmbench data generate --suite` accept.
GENERATED_SUITES = ("probes",)


def generate(n: int, seed: int = 0, split: str = "test", subsets: list[str] | None = None) -> list[PreferenceExample]:
    """n examples spread evenly over the subsets (the first ones get the remainder), interleaved
    so that any prefix is balanced too.

    Each subset has its own stream, seeded by (seed, subset), so asking for more items or
    fewer subsets never changes the items a subset already produced.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise RmbenchError(f"n must be a positive number of examples, got {n!r}")
    if split not in SPLITS:
        raise RmbenchError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    names = list(subsets) if subsets else list(SUBSETS)
    unknown = [s for s in names if s not in FAMILIES]
    if unknown:
        raise RmbenchError(f"no probe subset {unknown[0]!r}; subsets: {', '.join(SUBSETS)}")
    per_subset = [_draw(FAMILIES[name], n // len(names) + (i < n % len(names)), seed, split)
                  for i, name in enumerate(names)]
    return [items[i] for i in range(max(map(len, per_subset))) for items in per_subset if i < len(items)]


def _draw(family: Family, count: int, seed: int, split: str) -> list[PreferenceExample]:
    rng = Rng("rmbench-probes", VERSION, seed, family.subset)
    examples: list[PreferenceExample] = []
    seen: set[str] = set()
    attempts, budget = 0, 400 * count + 2000
    while len(examples) < count:
        attempts += 1
        if attempts > budget:
            raise RmbenchError(f"probe subset {family.subset} ran out of distinct {split} items after {len(examples)}; "
                               "ask for fewer")
        probe = family.make(rng)
        if split_of(probe.split_key()) != split or not _verified(family, probe):
            continue
        digest = hashlib.sha256(json.dumps([probe.prompt, probe.chosen, probe.rejected]).encode()).hexdigest()[:12]
        if digest in seen:
            continue
        seen.add(digest)
        meta = {"section": family.section, "generator": "probes", "version": VERSION, "seed": seed, "split": split,
                "spec": probe.spec}
        examples.append(PreferenceExample(f"{family.subset}-{digest}", family.subset,
                                          [{"role": "user", "content": probe.prompt}], [probe.chosen],
                                          [probe.rejected], meta))
    return examples


def _verified(family: Family, probe: Probe) -> bool:
    """The label must be true by the family's own checker; a probe that is not is never shown."""
    return family.check(probe.spec, probe.chosen) and not family.check(probe.spec, probe.rejected)


def verify(example: PreferenceExample) -> tuple[bool, bool]:
    """(chosen passes, rejected passes) for a probe example, from the spec in its meta; works on
    examples read back from an exported file too. Code probes execute their code: only verify
    files you made."""
    family = FAMILIES.get(example.subset)
    if family is None:
        raise RmbenchError(f"{example.id}: subset {example.subset!r} is not a probe subset")
    spec = example.meta.get("spec")
    if isinstance(spec, str):
        spec = json.loads(spec)
    if not isinstance(spec, dict):
        raise RmbenchError(f"{example.id}: no probe spec in its metadata")
    return family.check(spec, example.chosen[0]), family.check(spec, example.rejected[0])


def describe(name: str, n: int, seed: int, split: str) -> dict[str, Any]:
    """What a results record says about generated data: enough to draw the same items again."""
    return {"name": name, "version": VERSION, "seed": seed, "n": n, "split": split}


def generate_suite(name: str, n: int, seed: int = 0, split: str = "test") -> list[PreferenceExample]:
    """The examples of a generated suite named in a manifest or on the command line."""
    if name not in GENERATED_SUITES:
        raise RmbenchError(f"unknown generated suite {name!r}; generated suites: {', '.join(GENERATED_SUITES)}")
    return generate(n, seed=seed, split=split)


def trl_row(example: PreferenceExample) -> dict[str, Any]:
    """TRL's conversational preference row plus what identifies the item. The spec travels as a
    JSON string: its shape differs per subset, which columnar readers (datasets, Arrow) refuse."""
    meta = example.meta
    return {"id": example.id, "subset": example.subset, "section": meta.get("section"), "prompt": example.prompt,
            "chosen": [{"role": "assistant", "content": example.chosen[0]}],
            "rejected": [{"role": "assistant", "content": example.rejected[0]}],
            "generator": meta.get("generator"), "version": meta.get("version"), "seed": meta.get("seed"),
            "split": meta.get("split"), "spec": json.dumps(meta.get("spec"), ensure_ascii=False, sort_keys=True)}


__all__ = ["FAMILIES", "GENERATED_SUITES", "SECTIONS", "SPLITS", "SUBSETS", "VERSION", "Family", "Probe", "Rng",
           "describe", "generate", "generate_suite", "split_of", "trl_row", "verify"]
