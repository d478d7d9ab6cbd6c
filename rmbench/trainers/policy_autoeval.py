"""Policy checkpoints judged by what they write, against the model the run started from.

A policy method (sft, ppo, rloo, grpo, kd, seqkd, gkd) has no reward of its own to score
held-out pairs with, so each saved checkpoint goes through the policy harness
(rmbench.evals.policy) on the run's held-out prompts (RUN/heldout-prompts.jsonl). The
start is both the baseline and the KL reference of every checkpoint, so every figure
reads as "how far from, and how much better than, where the run began": KL to the start,
ROUGE against the data's answers, lengths, and with a judge the judge's reward and the
win-rate against the start's own completions of the same prompts (same seed, so both
sides draw the same random numbers). At the end the start is evaluated the same way and
everything is ranked by the leaderboard's paired bootstrap.

Without a judge there is no win-rate; KL, ROUGE and lengths are still recorded, because
they say whether a run moved at all and whether it still writes like its data.

One cache per run (RUN/evals/.cache): the start is sampled once however many checkpoints
there are, the judge scores each completion once, and a resumed run re-samples nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from pathlib import Path

import numpy as np
import torch
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rmbench import models, runs, worker
from rmbench.errors import RmbenchError
from rmbench.evals.policy import PolicyEvalRequest
from rmbench.leaderboard import build_boards
from rmbench.leaderboard.render import to_dict
from rmbench.leaderboard.stats import natural_key
from rmbench.options import ModelOptions
from rmbench.terminal import console
from rmbench.trainers.methods import get_method

PROMPTS_FILE = "heldout-prompts.jsonl"
TARGET = "policy"  # RUN/evals/<checkpoint>/policy/results.json
START = "start"
START_LABEL = "start (untrained)"
JUDGE_BASELINES = ("random", "length")  # baseline:bow learns from pairs, which a policy run does not have



def explicit_judge(settings: dict) -> str | None:
    """eval_judge as the user wrote it: None when unset, "none" when switched off."""
    value = settings.get("eval_judge")
    return None if value is None else str(value)


def default_judge(meta: dict, settings: dict) -> str | None:
    """eval_judge, else the reward model the run trained against: the judge whose opinion the
    training optimised, so its win-rate says whether the run did what it was asked (a judge
    the run never saw says more about quality; name one with eval_judge)."""
    chosen = explicit_judge(settings)
    if chosen is not None:
        return None if chosen.lower() == "none" else chosen
    for reward in meta.get("rewards") or []:
        if isinstance(reward, dict) and reward.get("reward_model"):
            return str(reward["reward_model"])
    return str(meta["reward_model"]) if meta.get("reward_model") else None


def check_settings(method: str, settings: dict) -> None:
    """A judge that cannot score is found before training, not at the first checkpoint hours in."""
    judge = explicit_judge(settings)
    if get_method(method).scorer != "none":
        if judge is not None:
            raise RmbenchError(f"eval_judge applies to policy methods (sft, ppo, rloo, grpo, kd, seqkd, gkd); {method} "
                               "checkpoints are scored as reward models on the held-out pairs")
        return
    temperature, budget = settings.get("eval_temperature"), settings.get("eval_max_new_tokens")
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise RmbenchError(f"eval_temperature must be a number >= 0 (0 = greedy), not {temperature!r}")
    if not isinstance(budget, int) or budget < 1:
        raise RmbenchError(f"eval_max_new_tokens must be a positive whole number, not {budget!r}")
    if judge is None or judge.lower() == "none":
        return
    if judge.startswith("baseline:"):
        if judge.split(":", 1)[1] not in JUDGE_BASELINES:
            raise RmbenchError(f"eval_judge={judge}: a policy run can be judged by "
                               f"{' or '.join('baseline:' + b for b in JUDGE_BASELINES)} or a reward model "
                               "(baseline:bow needs preference pairs to learn from)")
        return
    if models.scorer_spec(models.read_metadata(judge)).get("kind") in ("classifier", "implicit"):
        return
    kind = models.checkpoint_kind(judge)
    if kind != "classifier":
        raise RmbenchError(f"eval_judge={judge} is a {kind.replace('_', ' ')} model, not a reward model: name a "
                           "sequence-classification reward model, an rmbench-trained checkpoint or baseline:length, "
                           "or eval_judge=none")


class PolicyAutoEval:
    """Evaluates a policy run's checkpoints and ranks them; also rmbench's PPO on_save hook.

    meta may be left out (PPO builds it inside its trainer): it is then read from the run's
    rmbench-run.json, which the trainer writes before its first step.
    """

    def __init__(self, run: Path, settings: dict, meta: dict | None = None, show_progress: bool = False):
        self.run, self.settings, self._meta, self.show_progress = run, settings, meta, show_progress
        self.prompts = run / PROMPTS_FILE

    @property
    def meta(self) -> dict:
        if self._meta is None:
            self._meta = runs.read_run(self.run)
        return self._meta

    @property
    def judge(self) -> str | None:
        return default_judge(self.meta, self.settings)

    @property
    def start(self) -> str:
        return self.meta["base_model_resolved"]

    def __call__(self, folder: Path, step: int) -> None:
        self.score_checkpoint(folder, step, isolated=runs.is_distributed())

    def request(self, policy: str, name: str) -> PolicyEvalRequest:
        judge = self.judge
        chat_template = self.meta.get("chat_template")
        evals = self.run / "evals"
        return PolicyEvalRequest(
            policy=policy, data=[str(self.prompts)], judge_rm=judge, baseline_policy=self.start if judge else None,
            ref=self.start, max_new_tokens=int(self.settings["eval_max_new_tokens"]),
            temperature=float(self.settings["eval_temperature"]), top_p=1.0, seed=int(self.meta.get("seed") or 0),
            limit=self.settings.get("eval_limit"), out=evals / name / TARGET, cache_dir=evals / ".cache",
            policy_options=ModelOptions(chat_template=chat_template or None),
            show_progress=self.show_progress)

    def score_checkpoint(self, folder: Path, step: int, isolated: bool = False, name: str | None = None) -> dict | None:
        if not self.prompts.is_file():
            return None  # heldout_fraction 0: nothing held out to evaluate on
        name = name or folder.name
        record = self._evaluate(str(folder), name, isolated)
        console.print(checkpoint_line(name, step, record), highlight=False, soft_wrap=True)
        return record

    def _evaluate(self, policy: str, name: str, isolated: bool) -> dict:
        request = self.request(policy, name)
        with _training_rng_kept():
            if isolated:
                return worker.run_in_subprocess(request)  # under ZeRO-3 or several processes
            return worker.run_request(request)

    def rank(self, isolated: bool = False) -> dict:
        """Evaluate the start as every checkpoint was, rank them all, print the table, write
        RUN/leaderboard.json. The start against itself ties every prompt (win-rate 0.5, KL 0):
        its row is where the run began."""
        if not self.prompts.is_file():
            console.print("no held-out prompts (heldout_fraction is 0): checkpoints were not evaluated")
            return {"entries": []}
        start = self._evaluate(self.start, START, isolated)
        paths, stale = self._comparable_records(start)
        boards = self._boards(paths) if start["score"] is not None else []
        ranks, rule = _ranks(boards)
        entries = [_entry(path, json.loads(path.read_text()), ranks.get(path.resolve()), self.run) for path in paths]
        if ranks:
            entries.sort(key=lambda e: (e["rank"] is None, e["rank"] or 0, -(e["score"] or 0), e["kind"] == "baseline",
                                        natural_key(e["name"])))
        else:
            entries.sort(key=lambda e: (e["kind"] != "baseline", e["step"] or 0, e["name"] == "final",
                                        natural_key(e["name"])))
        judge = self.judge
        generation = start["config"]["generation"]
        board = {"run": str(self.run), "method": self.meta["method"], "eval": TARGET, "prompts": str(self.prompts),
                 "n": start["overall"]["n"], "judge": judge, "baseline": START_LABEL,
                 "score": "win-rate vs start" if judge else None,
                 "note": None if judge else "no judge (eval_judge) was given, so there is no win-rate: KL to the "
                                            "start, ROUGE and lengths only",
                 "generation": {k: generation.get(k) for k in ("max_new_tokens", "temperature", "top_p", "seed")},
                 "ranking": rule, "skipped_stale": [str(p) for p in stale], "entries": entries}
        (self.run / runs.BOARD_FILE).write_text(json.dumps({**to_dict(boards), **board}, indent=2))
        for renderable in policy_run_table(board, self.run.name):
            console.print(renderable)
        if rule:
            console.print(rule, style="dim", highlight=False)
        if stale:
            console.print(f"[yellow]note:[/] {len(stale)} older checkpoint evaluations used other prompts, settings "
                          "or judge and were left out of the table", highlight=False)
        return board

    def _comparable_records(self, start: dict) -> tuple[list[Path], list[Path]]:
        """Records of this run that rank fairly against the start's: the same prompts, sampling
        settings, judge and baseline (a resumed run with other eval settings leaves older ones)."""
        kept, stale = [], []
        for path in sorted((self.run / "evals").glob(f"*/{TARGET}/results.json")):
            record = json.loads(path.read_text())
            (kept if _comparison_key(record) == _comparison_key(start) else stale).append(path)
        return kept, stale

    def _boards(self, paths: list[Path]) -> list:
        """The leaderboard's boards for these records, with its defaults (resamples, seed), so the
        ranks are those `rmbench leaderboard` gives; a record it cannot read leaves the table
        unranked rather than failing a finished run."""
        try:
            return build_boards(paths)
        except RmbenchError as err:
            console.print(f"[yellow]note:[/] the checkpoints could not be ranked: {escape(str(err))}")
            return []


def _ranks(boards: list) -> tuple[dict, str | None]:
    """(results path -> rank and interval, the rule's wording) read off the boards."""
    ranks = {}
    for board in boards:
        for ranked in board.ranked:
            ranks[ranked.entry.path.resolve()] = {"rank": ranked.rank, "ci95": [ranked.score.low, ranked.score.high]}
    return ranks, boards[0].rule if len(boards) == 1 else None


def _comparison_key(record: dict) -> tuple:
    generation = record["config"]["generation"]
    model = record["model"]
    return (tuple(sorted(str(s["sha256"]) for s in record["data"])),
            tuple(generation.get(k) for k in ("max_new_tokens", "temperature", "top_p", "seed")),
            (model.get("judge") or {}).get("fingerprint"), (model.get("baseline") or {}).get("fingerprint"),
            (model.get("reference") or {}).get("fingerprint"))


def _entry(path: Path, record: dict, ranked: dict | None, run: Path) -> dict:
    name = path.parent.parent.name
    overall = record["overall"]
    ci = (ranked or {}).get("ci95") or overall["ci95"]
    return {"name": START_LABEL if name == START else name, "kind": "baseline" if name == START else "checkpoint",
            "step": 0 if name == START else runs.checkpoint_step(run / name), "rank": (ranked or {}).get("rank"),
            "score": record["score"], "ci95": [None if v is None or math.isnan(v) else v for v in ci],
            "n": overall["n"], "model": record["model"].get("source", record["model"]["name"]),
            "reward": _mean(overall["reward"]), "start_reward": _mean(overall["baseline_reward"]),
            "kl": _mean(overall["kl"]), "rougeL": (overall["rouge"] or {}).get("rougeL"),
            "tokens_mean": overall["length"]["tokens_mean"], "hit_max_fraction": overall["length"]["hit_max_fraction"],
            "path": str(path)}


def _mean(figure: dict | None) -> float | None:
    return figure["mean"] if figure else None


# -- display ---------------------------------------------------------------------------------


def _percent(value) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}"


def _number(value, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def checkpoint_line(name: str, step: int, record: dict) -> str:
    """One line per checkpoint while training runs: enough to see a run going wrong early."""
    overall = record["overall"]
    parts = []
    if overall["accuracy"] is not None:
        low, high = overall["ci95"]
        parts.append(f"win-rate vs start {_percent(overall['accuracy'])}% [{_percent(low)}-{_percent(high)}] "
                     f"({overall['wins']} won, {overall['ties']} tied, {overall['losses']} lost)")
    if overall["reward"]:
        start = overall["baseline_reward"]
        parts.append(f"reward {_number(overall['reward']['mean'])}"
                     + (f" (start {_number(start['mean'])})" if start else ""))
    if overall["kl"]:
        parts.append(f"KL to start {_number(overall['kl']['mean'])}")
    if overall["rouge"]:
        parts.append(f"ROUGE-L {_percent(overall['rouge']['rougeL'])}")
    parts.append(f"{overall['length']['tokens_mean']:.1f} tokens")
    if overall["accuracy"] is None and overall["reward"] is None:
        parts.append("no judge, no win-rate")
    return f"[bold]{escape(name)}[/] step {step} on {overall['n']} held-out prompts: " + ", ".join(parts)


def policy_run_table(board: dict, run_name: str) -> list:
    """Title, table and caption as separate renderables: a caption inside a narrow table wraps
    into a column of words, on its own it takes the terminal's width."""
    judged = board["judge"] is not None
    title = f"{run_name}: {board['method']} checkpoints vs the start on {board['n']} held-out prompts"
    caption = (f"win-rate against the start, judged by {board['judge']} (the start ties itself); KL to the "
               "start; ROUGE-L against the data's answers" if judged else
               "no judge was given, so there is no win-rate: add --set eval_judge=RM_FOLDER (or baseline:length)")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    shared = {e["rank"] for e in board["entries"] if e["rank"] is not None
              and sum(1 for other in board["entries"] if other["rank"] == e["rank"]) > 1}
    if judged:
        table.add_column("#", justify="right")
    table.add_column("entry", min_width=12, no_wrap=True)
    table.add_column("step", justify="right")
    if judged:
        table.add_column("win %", justify="right")
        table.add_column("95% CI", justify="right", no_wrap=True)
        table.add_column("reward", justify="right")
    table.add_column("KL", justify="right")
    table.add_column("ROUGE-L", justify="right")
    table.add_column("tokens", justify="right")
    for e in board["entries"]:
        cells = [] if not judged else ["-" if e["rank"] is None else f"{e['rank']}{'=' if e['rank'] in shared else ''}"]
        cells += [escape(e["name"]), "-" if e["step"] is None else str(e["step"])]
        if judged:
            low, high = e["ci95"]
            interval = f"{_percent(low)}-{_percent(high)}" if low is not None and high is not None else "-"
            cells += [_percent(e["score"]), interval, _number(e["reward"])]
        cells += [_number(e["kl"]), _percent(e["rougeL"]), _number(e["tokens_mean"], 1)]
        table.add_row(*cells, style="dim" if e["kind"] == "baseline" else None)
    return [Text(title, style="bold"), table, Text(caption, style="dim")]


# -- isolation -------------------------------------------------------------------------------


@contextlib.contextmanager
def _training_rng_kept():
    """Evaluating between steps must not shift the training's random streams: a run evaluated
    at every checkpoint trains as one that is not, and a resumed run as a straight one."""
    saved = (random.getstate(), np.random.get_state(), torch.get_rng_state(),
             torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
        if saved[3] is not None:
            torch.cuda.set_rng_state_all(saved[3])
