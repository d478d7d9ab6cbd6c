"""Scoring checkpoints as they are saved, and ranking a run against its baselines.

Every save gets rmbench.json and an evaluation on the run's held-out prompts (plus the
recipe's suite), with the scorer that fits the method: a classifier for `rm`, an implicit
reward against the reference for the DPO family and KTO. At the end the untrained start
and the baselines are scored on the same held-out set and everything is ranked. Policy
methods (scorer "none") are evaluated by what they write instead: see policy_autoeval.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from rich.markup import escape
from transformers import TrainerCallback

from rmbench import models, runs, worker
from rmbench.errors import RmbenchError
from rmbench.evals.run import EvalRequest
from rmbench.leaderboard import build_boards
from rmbench.leaderboard.render import to_dict, to_rich
from rmbench.leaderboard.stats import Board, Ranked
from rmbench.options import ModelOptions, ScorerOptions
from rmbench.terminal import console
from rmbench.trainers.metadata import write_checkpoint_metadata
from rmbench.trainers.methods import get_method
from rmbench.trainers.policy_autoeval import START_LABEL


def _score(reward: str, data: Path | None, suite: str | None, out: Path, settings: dict, show_progress: bool,
           scorer_options: ScorerOptions | None = None, baseline_train: str | None = None,
           isolated: bool = False) -> dict:
    model_options = ModelOptions(chat_template=settings.get("chat_template") or None)
    request = EvalRequest(reward=reward, data=[str(data)] if data else [], suite=suite,
                          data_root=settings.get("eval_data_root"), limit=settings.get("eval_limit"), out=out,
                          baseline_train=baseline_train, scorer_options=scorer_options or ScorerOptions(),
                          model_options=model_options if not reward.startswith("baseline:") else ModelOptions(),
                          show_progress=show_progress)
    if isolated:
        return worker.run_in_subprocess(request)  # under ZeRO-3 or several processes: see rmbench.worker
    return worker.run_request(request)


HELDOUT = "heldout"  # RUN/evals/<checkpoint>/heldout/results.json


class AutoEvalCallback(TrainerCallback):
    def __init__(self, run: Path, meta: dict, heldout: Path | None, settings: dict, tokenizer, show_progress: bool,
                 policy_eval=None):
        self.run, self.meta, self.heldout, self.settings = run, meta, heldout, settings
        self.tokenizer = tokenizer
        self.show_progress = show_progress
        self.isolated = runs.zero3_active()
        self.policy_eval = policy_eval  # a PolicyAutoEval for policy methods

    def on_save(self, args, state, control, model=None, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.isolated = args.world_size > 1 or runs.zero3_active()
        if state.is_world_process_zero and folder.is_dir():
            self.score_checkpoint(folder, state.global_step, model)

    def finish(self, folder: Path, step: int, is_main: bool = True) -> None:
        if is_main:
            self.score_checkpoint(folder, step, None)

    def score_checkpoint(self, folder: Path, step: int, model) -> None:
        if model is not None and hasattr(model, "merge_and_unload"):  # LoRA: score the merged weights
            merged = folder / "merged"
            copy.deepcopy(model).merge_and_unload().save_pretrained(merged)
            self.tokenizer.save_pretrained(merged)
            folder = merged
        write_checkpoint_metadata(folder, self.meta, step)
        name = folder.name if folder.name != "merged" else folder.parent.name
        if get_method(self.meta["method"]).scorer == "none":  # a policy: judged by what it writes
            if self.policy_eval is not None:
                self.policy_eval.score_checkpoint(folder, step, isolated=self.isolated, name=name)
            return
        for label, data, suite in self._targets():
            record = _score(str(folder), data, suite, self.run / "evals" / name / label, self.settings,
                            self.show_progress, isolated=self.isolated)
            console.print(f"[bold]{name}[/] step {step} on {label}: score {100 * record['score']:.1f}")

    def _targets(self):
        if self.heldout:
            yield HELDOUT, self.heldout, None
        if self.settings.get("eval_suite"):
            yield Path(self.settings["eval_suite"]).stem, None, self.settings["eval_suite"]


def rank_run(run: Path, meta: dict, heldout: Path | None, train_split: Path | None, settings: dict,
             show_progress: bool) -> dict:
    """Score the start and the baselines on the held-out set, then rank the run as
    `rmbench leaderboard RUN` ranks it (the leaderboard's paired bootstrap, its defaults)."""
    if heldout is None:
        return {"entries": []}
    spec = models.scorer_spec(meta)  # the start is scored as its checkpoints are, less what training adds:
    start_options = (ScorerOptions(allow_random_head=True) if spec.get("kind") == "classifier"  # untrained head
                     else ScorerOptions(ref="none", length_normalize=bool(spec.get("length_normalize"))))  # own ref
    isolated = runs.zero3_active()
    _score(meta["base_model_resolved"], heldout, None, run / "evals" / "start" / "heldout", settings,
           show_progress, scorer_options=start_options, isolated=isolated)
    for name in settings["baselines"]:
        _score(f"baseline:{name}", heldout, None, run / "evals" / f"baseline-{name}" / "heldout", settings,
               show_progress, baseline_train=str(train_split) if name == "bow" else None)
    return write_run_board(run, meta, HELDOUT)


def write_run_board(run: Path, meta: dict, target: str, boards: list[Board] | None = None,
                    extra: dict | None = None) -> dict:
    """RUN/leaderboard.json: the leaderboard's JSON for every record in the run, plus this run's
    entries on `target` read off that board (name, kind, rank, score, interval), so a reader of
    the run needs no second ranking rule. Printed as `rmbench leaderboard` prints it."""
    if boards is None:
        try:
            boards = build_boards([run])
        except RmbenchError as err:  # a finished run is not failed by an unreadable record: it stays unranked
            console.print(f"[yellow]note:[/] the run could not be ranked: {escape(str(err))}")
            boards = []
    entries = [run_entry(ranked, target) for board in boards for ranked in board.ranked
               if ranked.entry.path.parent.name == target]
    data = {**to_dict(boards), "run": str(run), "method": meta["method"], "eval": target, **(extra or {}),
            "entries": [e for e in entries if e is not None]}
    (run / runs.BOARD_FILE).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    if boards and target == HELDOUT:
        to_rich(boards, console)
    return data


def run_entry(ranked: Ranked, target: str) -> dict:
    """One of the run's entries as the board ranked it, named by its folder under RUN/evals."""
    entry, folder = ranked.entry, ranked.entry.path.parent.parent.name
    if folder == "start":
        name, kind = START_LABEL, "baseline"
    elif folder.startswith("baseline-"):
        name, kind = "baseline:" + folder.removeprefix("baseline-"), "baseline"
    else:
        name, kind = folder, "checkpoint"
    subset = next(iter(entry.record["subsets"].values()), {}) if entry.record.get("subsets") else {}
    score = ranked.score.as_dict()
    return {"name": name, "kind": kind, "rank": ranked.rank, "score": score["value"], "ci95": score["ci95"],
            "n": subset.get("n"), "step": entry.step, "target": target, "path": str(entry.path),
            "model": entry.record["model"].get("source", entry.record["model"]["name"])}
