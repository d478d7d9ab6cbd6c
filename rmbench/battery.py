"""`rmbench eval --suite battery`: every standard benchmark a model card reports, in one run.

Papers and model cards report a row of benchmarks side by side; running each one's own
scripts means loading the model again per benchmark and scoring the same answers twice.
The battery builds the scorer once, shares one score cache (OUT/.cache) across suites, so
a completion text met in two suites (RM-Bench and RewardBench share sources) is scored
once, and writes an ordinary record per suite (OUT/SUITE/results.json + scores.jsonl,
rankable by `rmbench leaderboard`) plus OUT/battery.json. Each suite's interval is the
leaderboard's: a bootstrap of prompts through the suite's own headline rule.

A suite is reachable when `--data-root` holds a folder named after it (one folder per
suite, e.g. DATA/judgebench/, DATA/rmb/RMB_dataset/...) or, without that folder, when every
source names a hub id. A suite that cannot be reached or loaded is listed with the reason,
never dropped.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from rmbench.errors import RmbenchError
from rmbench.evals.run import EvalRequest, run_eval
from rmbench.evals.suites import load_suite
from rmbench.leaderboard import build_boards
from rmbench.results import atomic_write
from rmbench.scoring import build_scorer

BATTERY = ("rewardbench", "rewardbench2", "rm-bench", "judgebench", "rmb", "m-rewardbench", "ppe-human",
           "ppe-correctness", "llmbar")
SUMMARY_FILE = "battery.json"
RESAMPLES = 1000


@dataclass
class Line:
    suite: str
    status: str  # "scored" or "unreachable"
    reason: str = ""
    label: str = ""
    score: float | None = None
    ci95: list[float | None] = field(default_factory=lambda: [None, None])
    n: int = 0
    seconds: float = 0.0
    partial: bool = False


def locate(name: str, data_root: str | None) -> tuple[str | None, list[str] | None, str | None]:
    """(data root for the suite or None for the hub, the subsets whose files are there when
    only some are (a partial run, labelled so), the reason it is unreachable or None)."""
    suite = load_suite(name)
    folder = Path(data_root) / name if data_root else None
    if folder is not None and folder.is_dir():
        local = [src for src in suite.sources if src.file]
        present = [src for src in local if (folder / src.file).exists()]
        if len(present) == len(local):
            return str(folder), None, None
        if present and all(src.subset for src in local):
            return str(folder), [src.subset for src in present], None
        missing = ", ".join(src.file for src in local if src not in present)
        if not any(src.hub for src in suite.sources):
            return None, None, f"{folder} lacks {missing}"
    if all(src.hub or src.generate for src in suite.sources):
        return None, None, None
    needed = sorted({src.file for src in suite.sources if src.file and not src.hub})
    files = ", ".join(needed) if len(needed) <= 3 else f"{len(needed)} files such as {needed[0]}"
    where = f"{folder} is absent" if folder is not None else "no --data-root"
    return None, None, f"{where}, and its manifest names no hub id to load instead (needs {files})"


def run_battery(request: EvalRequest, suites: tuple[str, ...] = BATTERY) -> dict:
    """Every reachable suite with one scorer and one score cache; the summary written to OUT."""
    if request.out is None:
        raise RmbenchError("--suite battery writes one record per suite: pass --out DIR")
    if request.data or request.subsets or request.format:
        raise RmbenchError("--suite battery runs whole suites: --data, --subsets and --format do not apply")
    plan = {name: locate(name, request.data_root) for name in suites}
    scorer = None
    lines: list[Line] = []
    for name, (root, subsets, reason) in plan.items():
        if reason:
            lines.append(Line(name, "unreachable", reason))
            continue
        scorer = scorer or build_scorer(request.reward, judge=request.judge, seed=request.seed,
                                        baseline_train=request.baseline_train, **request.scorer_options.kwargs(),
                                        **request.model_options.kwargs())
        started = time.perf_counter()
        out = request.out / name
        try:
            record, _ = run_eval(replace(request, suite=name, data_root=root, subsets=subsets, out=out, scorer=scorer,
                                         cache_dir=request.out / ".cache"))
        except RmbenchError as err:  # data that cannot be had (hub offline, a file missing): listed, not fatal
            lines.append(Line(name, "unreachable", " ".join(str(err).split())))
            continue
        board = build_boards([out], resamples=RESAMPLES, seed=request.seed)[0].ranked[0].score
        lines.append(Line(name, "scored", label=record.get("label", name), score=record["score"],
                          ci95=[board.low, board.high], n=sum(s["n"] for s in record["subsets"].values()),
                          seconds=round(time.perf_counter() - started, 3), partial=bool(record.get("partial"))))
    summary = {"model": scorer.describe() if scorer else {"name": request.reward},
               "suites": [vars(line) for line in lines],
               "scored": [line.suite for line in lines if line.status == "scored"],
               "unreachable": {line.suite: line.reason for line in lines if line.status == "unreachable"},
               "score_cache": str(request.out / ".cache"), "resamples": RESAMPLES, "seed": request.seed}
    request.out.mkdir(parents=True, exist_ok=True)
    atomic_write(request.out / SUMMARY_FILE, [json.dumps(summary, indent=2, ensure_ascii=False) + "\n"])
    return summary


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def battery_table(summary: dict) -> Table:
    """suite | score [95% CI] | n | time, and for a suite not scored, why."""
    table = Table(title=f"battery: {escape(str(summary['model'].get('name')))}")
    for column in ("suite", "score [95% CI]", "n", "time", "note"):
        table.add_column(column, justify="right" if column in ("n", "time") else "left",
                         overflow="fold" if column == "note" else "ellipsis")
    for line in summary["suites"]:
        if line["status"] == "scored":
            low, high = line["ci95"]
            table.add_row(escape(line["suite"]), f"{_pct(line['score'])} [{_pct(low)}, {_pct(high)}]",
                          str(line["n"]), f"{line['seconds']:.1f}s",
                          escape(line["label"]) if line["partial"] else "")
        else:
            table.add_row(escape(line["suite"]), "-", "-", "-", f"unreachable: {escape(line['reason'])}")
    return table
