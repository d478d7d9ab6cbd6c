"""One entry for every evaluation a trainer runs in a process of its own.

Under DeepSpeed ZeRO-3 or several training processes, a model loaded inside the training
process would be partitioned or join collectives, so rank 0 evaluates each checkpoint in a
plain process instead: `python -m rmbench.worker request.json`. The request travels whole,
serialised from its dataclass (an EvalRequest or a PolicyEvalRequest), so nothing is
re-spelled as command-line flags and nothing (seed, beta, subsets, format, cache folder)
can be dropped on the way.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from rmbench import runs
from rmbench.errors import RmbenchError
from rmbench.evals.policy import PolicyEvalRequest, run_policy_eval
from rmbench.evals.run import EvalRequest, run_eval
from rmbench.options import ModelOptions, ScorerOptions, from_dict

KINDS = {"eval": EvalRequest, "policy": PolicyEvalRequest}
PATH_FIELDS = ("out", "cache_dir")
OPTION_FIELDS = {"scorer_options": ScorerOptions, "model_options": ModelOptions, "policy_options": ModelOptions,
                 "judge_options": ModelOptions, "judge_scoring": ScorerOptions}  # typed options, sent as objects
NOT_SENT = ("scorer", "prompts")  # objects in memory: a worker builds its own from the rest


def to_json(request) -> dict:
    kind = next((k for k, cls in KINDS.items() if isinstance(request, cls)), None)
    if kind is None:
        raise TypeError(f"no worker kind for {type(request).__name__}")
    fields = {f.name: getattr(request, f.name) for f in dataclasses.fields(request) if f.name not in NOT_SENT}
    fields.update({k: dataclasses.asdict(v) for k, v in fields.items() if k in OPTION_FIELDS})
    return {"kind": kind, "request": runs.jsonable(fields)}


def from_json(data: dict):
    cls = KINDS[data["kind"]]
    fields = dict(data["request"])
    known = {f.name for f in dataclasses.fields(cls)} - set(NOT_SENT)
    unknown = sorted(set(fields) - known)
    if unknown:
        raise RmbenchError(f"worker request: unknown {cls.__name__} field {unknown[0]!r}")
    for name, option_cls in OPTION_FIELDS.items():
        if name in fields:
            fields[name] = from_dict(option_cls, fields[name])
    for name in PATH_FIELDS:
        if fields.get(name):
            fields[name] = Path(fields[name])
    return cls(**fields)


def run_request(request) -> dict:
    """Run one request here; returns its record."""
    if isinstance(request, PolicyEvalRequest):
        record, _ = run_policy_eval(request)
    else:
        record, _ = run_eval(request)
    return record


def run_in_subprocess(request) -> dict:
    """Run one request in a fresh Python without the distributed launch's environment; its record."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump(to_json(request), handle)
    try:
        result = subprocess.run([sys.executable, "-m", __name__, handle.name], capture_output=True, text=True,
                                env=runs.plain_environment())
    finally:
        os.unlink(handle.name)
    name = getattr(request, "reward", None) or getattr(request, "policy", None) or getattr(request, "judge", None)
    if result.returncode != 0:
        raise RmbenchError(f"evaluating {name} in a worker process failed:\n{result.stderr[-2000:]}")
    return json.loads((request.out / "results.json").read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m rmbench.worker REQUEST.json", file=sys.stderr)
        return 2
    try:
        run_request(from_json(json.loads(Path(argv[0]).read_text(encoding="utf-8"))))
    except RmbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
