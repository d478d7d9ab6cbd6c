"""Scoring checkpoints as they are saved, and ranking a run against its baselines.

Every save gets rmbench.json and an evaluation on the run's held-out prompts (plus the
recipe's suite), with the scorer that fits the method: a classifier for `rm`, an implicit
reward against the reference for the DPO family and KTO. At the end the untrained start
and the baselines are scored on the same held-out set and everything is ranked. Policy
methods (scorer "none") are evaluated by what they write instead: see policy_autoeval.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table
from transformers import TrainerCallback

from rmbench import runs
from rmbench.evals.run import EvalRequest, run_eval
from rmbench.terminal import console
from rmbench.trainers.metadata import write_checkpoint_metadata
from rmbench.trainers.methods import get_method


def _score(reward: str, data: Path | None, suite: str | None, out: Path, settings: dict, show_progress: bool,
           scorer_options: dict | None = None, baseline_train: str | None = None, isolated: bool = False) -> dict:
    model_options = {"chat_template": settings["chat_template"]} if settings.get("chat_template") else {}
    request = EvalRequest(reward=reward, data=[str(data)] if data else [], suite=suite,
                          data_root=settings.get("eval_data_root"), limit=settings.get("eval_limit"), out=out,
                          baseline_train=baseline_train, scorer_options=scorer_options or {},
                          model_options=model_options if not reward.startswith("baseline:") else {},
                          show_progress=show_progress)
    if isolated:
        return _score_in_subprocess(request)
    record, _ = run_eval(request)
    return record


def _score_in_subprocess(request: EvalRequest) -> dict:
    """Under DeepSpeed or several processes, a model loaded in the training process would be
    partitioned (ZeRO-3) or join collectives; a plain process of its own scores it cleanly."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "rmbench", "eval", "--reward", request.reward, "--out", str(request.out),
               "--no-progress"]
    for data in request.data:
        command += ["--data", data]
    if request.suite:
        command += ["--suite", request.suite]
    if request.data_root:
        command += ["--data-root", request.data_root]
    if request.limit:
        command += ["--limit", str(request.limit)]
    options = request.scorer_options
    if options.get("allow_random_head"):
        command.append("--allow-random-head")
    if options.get("ref"):
        command += ["--ref", options["ref"]]
    if options.get("length_normalize"):
        command.append("--length-normalize")
    if request.model_options.get("chat_template"):
        command += ["--chat-template", request.model_options["chat_template"]]
    result = subprocess.run(command, capture_output=True, text=True, env=runs.plain_environment())
    if result.returncode != 0:
        raise RuntimeError(f"scoring {request.reward} failed:\n{result.stderr[-2000:]}")
    return json.loads((request.out / "results.json").read_text())


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
            import copy

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
            yield "heldout", self.heldout, None
        if self.settings.get("eval_suite"):
            yield Path(self.settings["eval_suite"]).stem, None, self.settings["eval_suite"]


def rank_run(run: Path, meta: dict, heldout: Path | None, train_split: Path | None, settings: dict,
             show_progress: bool) -> dict:
    """Score the start and the baselines on the held-out set, then rank every entry."""
    if heldout is None:
        return {"entries": []}
    entries = []
    for results in sorted((run / "evals").glob("*/heldout/results.json")):
        record = json.loads(results.read_text())
        entries.append(_entry(results.parent.parent.name, "checkpoint", record))
    start_options = ({"allow_random_head": True} if meta["method"] == "rm"
                     else {"ref": "none", "length_normalize": meta["method"] == "simpo"})
    isolated = runs.zero3_active()
    start = _score(meta["base_model_resolved"], heldout, None, run / "evals" / "start" / "heldout", settings,
                   show_progress, scorer_options=start_options, isolated=isolated)
    entries.append(_entry("start (untrained)", "baseline", start))
    for name in settings["baselines"]:
        record = _score(f"baseline:{name}", heldout, None, run / "evals" / f"baseline-{name}" / "heldout", settings,
                        show_progress, baseline_train=str(train_split) if name == "bow" else None)
        entries.append(_entry(f"baseline:{name}", "baseline", record))
    entries.sort(key=lambda e: -(e["score"] if e["score"] is not None else -1))
    board = {"run": str(run), "method": meta["method"], "eval": "heldout", "entries": entries}
    (run / "leaderboard.json").write_text(json.dumps(board, indent=2))
    table = Table("rank", "entry", "kind", "held-out accuracy", "95% CI", title=f"{run.name}: {meta['method']}")
    for rank, e in enumerate(entries, 1):
        low, high = e["ci95"]
        table.add_row(str(rank), e["name"], e["kind"], f"{100 * e['score']:.1f}",
                      f"{100 * low:.1f}-{100 * high:.1f}" if low is not None else "-")
    console.print(table)
    return board


def _entry(name: str, kind: str, record: dict) -> dict:
    subset = next(iter(record["subsets"].values()))
    return {"name": name, "kind": kind, "score": record["score"], "ci95": subset.get("ci95") or [None, None],
            "n": subset["n"], "model": record["model"].get("source", record["model"]["name"])}
