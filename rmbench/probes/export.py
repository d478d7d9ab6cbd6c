"""`rmbench data generate`: the probe suite as a TRL preference file, for training or evaluating
elsewhere. The file round-trips through `rmbench eval --data FILE` and `rmbench train --data FILE`."""

from __future__ import annotations

import json
from pathlib import Path

from rmbench import validate
from rmbench.data.schema import PreferenceExample
from rmbench.errors import RmbenchError
from rmbench.probes import GENERATED_SUITES, SPLITS, generate_suite, trl_row
from rmbench.results import RESULTS_FILE, SCORES_FILE, atomic_write


def export(suite: str, n: int, seed: int, split: str, out: Path) -> list[PreferenceExample]:
    """Generate and write; every mistake is one RmbenchError line, checked before any work."""
    if suite not in GENERATED_SUITES:
        raise RmbenchError(f"unknown generated suite {suite!r}; generated suites: {', '.join(GENERATED_SUITES)}")
    if isinstance(n, int) and n < 1:
        raise RmbenchError(f"--n must be a positive number of pairs, got {n}")
    validate.integer("--n", n, low=1, high=validate.GENERATE_MAX)
    validate.seed("--seed", seed)
    validate.choice("--split", split, SPLITS)
    out = Path(out)
    if out.is_dir():
        raise RmbenchError(f"--out {out} is a folder; give a file name ending in .jsonl")
    if not out.name.endswith(".jsonl"):
        raise RmbenchError(f"--out {out}: write a .jsonl file (one TRL preference pair per line)")
    if out.name == SCORES_FILE and (out.parent / RESULTS_FILE).is_file():
        raise RmbenchError(f"--out {out} is the per-example scores of the eval record beside it; name another file")
    examples = generate_suite(suite, n, seed=seed, split=split)
    atomic_write(out, (json.dumps(trl_row(e), ensure_ascii=False) + "\n" for e in examples))
    return examples
