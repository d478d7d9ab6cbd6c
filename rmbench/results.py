"""Results records: what ran, on what, with which versions, and what it scored.

One immutable results.json per run plus scores.jsonl (one line per example), both
written to a temporary file and renamed, so a reader never sees half a record and an
interrupted run never leaves one behind.
"""

from __future__ import annotations

import json
import math
import os
import platform
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 1


def versions() -> dict[str, str]:
    import datasets
    import torch
    import transformers

    from rmbench import __version__

    return {"rmbench": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "datasets": datasets.__version__, "python": platform.python_version()}


def build_record(*, suite: dict, data: list[dict], model: dict, config: dict, summary: dict,
                 timing: dict) -> dict:
    return {"schema_version": SCHEMA_VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "suite": suite, "data": data, "model": model, "config": config, **summary, "timing": timing,
            "versions": versions()}


def _clean(value):
    """JSON has no NaN: write null, so every reader (not just Python's) can parse the file."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def atomic_write(path: Path, lines: Iterable[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared like any other file
        with os.fdopen(fd, "w") as handle:
            for line in lines:
                handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_results(out_dir: Path, record: dict, rows: list[dict]) -> None:
    # scores first: a results.json on disk always has its scores.jsonl beside it.
    atomic_write(out_dir / "scores.jsonl", (json.dumps(_clean(r), ensure_ascii=False) + "\n" for r in rows))
    atomic_write(out_dir / "results.json", [json.dumps(_clean(record), indent=2, ensure_ascii=False) + "\n"])
