"""`rmbench data generate`: the probe suite as a TRL preference file, for training or evaluating
elsewhere. The file round-trips through `rmbench eval --data FILE` and `rmbench train --data FILE`."""

from __future__ import annotations

import json
from pathlib import Path

from rmbench.data.schema import PreferenceExample
from rmbench.errors import RmbenchError
from rmbench.probes import GENERATED_SUITES, generate_suite, trl_row
from rmbench.results import atomic_write


def export(suite: str, n: int, seed: int, split: str, out: Path) -> list[PreferenceExample]:
    """Generate and write; every mistake is one RmbenchError line, checked before any work."""
    if suite not in GENERATED_SUITES:
        raise RmbenchError(f"unknown generated suite {suite!r}; generated suites: {', '.join(GENERATED_SUITES)}")
    if n < 1:
        raise RmbenchError(f"--n must be a positive number of pairs, got {n}")
    out = Path(out)
    if not out.name.endswith(".jsonl"):
        raise RmbenchError(f"--out {out}: write a .jsonl file (one TRL preference pair per line)")
    if out.is_dir():
        raise RmbenchError(f"--out {out} is a folder; give a file name ending in .jsonl")
    examples = generate_suite(suite, n, seed=seed, split=split)
    try:
        atomic_write(out, (json.dumps(trl_row(e), ensure_ascii=False) + "\n" for e in examples))
    except OSError as err:
        raise RmbenchError(f"cannot write {out}: {err.strerror or err}") from None
    return examples
