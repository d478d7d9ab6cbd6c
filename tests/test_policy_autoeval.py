"""Policy runs evaluate every checkpoint by sampling on the held-out prompts and end with a
table against the starting model: sft without a judge (KL, ROUGE, lengths), PPO judged by
the reward model it trained against (win-rates ranked by the leaderboard's bootstrap)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rmbench import worker
from rmbench.cli import app
from rmbench.errors import DataError
from rmbench.leaderboard import build_boards
from rmbench.results import build_record, write_results
from rmbench.trainers import policy_autoeval
from rmbench.trainers.policy_autoeval import PolicyAutoEval, default_judge
from tests import tiny
from tests.conftest import write_jsonl

runner = CliRunner()
GOOD = ["the capital of france is paris", "what is two plus two? four.", "here is a python function"]
FAST_EVAL = ["--set", "eval_max_new_tokens=8"]


def train(method: str, *args):
    return runner.invoke(app, ["train", method, *args])


def results(run: Path, name: str) -> dict:
    return json.loads((run / "evals" / name / "policy" / "results.json").read_text())


def test_sft_without_a_judge_records_kl_rouge_and_lengths_per_checkpoint(tmp_path):
    rows = [{"instruction": f"say something {i}", "input": "", "output": GOOD[i % 3]} for i in range(16)]
    data = write_jsonl(tmp_path / "sft.jsonl", rows)
    start = tiny.save_causal_lm(tmp_path / "start")
    run = tmp_path / "run"
    result = train("sft", "--model", str(start), "--data", str(data), "--out", str(run), "--set", "max_steps=4",
                   "--set", "save_steps=2", "--set", "learning_rate=5e-3", "--set", "heldout_fraction=0.25",
                   *FAST_EVAL)
    assert result.exit_code == 0, result.output

    heldout = [json.loads(line) for line in (run / "heldout-prompts.jsonl").read_text().splitlines()]
    assert heldout and all(row["completion"] in GOOD for row in heldout)  # the data's answer: ROUGE's reference
    for name in ("checkpoint-2", "checkpoint-4", "final", "start"):
        record = results(run, name)
        overall = record["overall"]
        assert record["score"] is None and record["score_rule"] == "none (no judge)"
        assert overall["n"] == len(heldout) and overall["rouge"]["n"] == len(heldout)
        assert overall["kl"] is not None and overall["length"]["tokens_mean"] > 0
        assert record["model"]["reference"]["name"] == str(start) and "baseline" not in record["model"]
        assert record["config"]["generation"]["max_new_tokens"] == 8
    assert results(run, "start")["overall"]["kl"]["mean"] == pytest.approx(0.0, abs=1e-6)

    board = json.loads((run / "leaderboard.json").read_text())
    assert board["eval"] == "policy" and board["judge"] is None and "no win-rate" in board["note"]
    assert [e["name"] for e in board["entries"]] == ["start (untrained)", "checkpoint-2", "checkpoint-4", "final"]
    assert [e["step"] for e in board["entries"]] == [0, 2, 4, 4]
    assert all(e["rank"] is None and e["rougeL"] is not None for e in board["entries"])
    output = " ".join(result.output.split())
    for name, step in (("checkpoint-2", 2), ("checkpoint-4", 4), ("final", 4)):
        assert f"{name} step {step} on {len(heldout)} held-out prompts: KL to start" in output
    assert "no judge, no win-rate" in output and "sft checkpoints vs the start" in output
    assert "no judge was given" in output


def test_ppo_judged_by_its_reward_model_ends_with_a_ranked_table(tmp_path):
    start = tiny.save_causal_lm(tmp_path / "start")
    rm = tiny.save_classifier(tmp_path / "rm")
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"question {i}: {tiny.CORPUS[i % 8]}",
                                                        "completion": "the quick brown fox"} for i in range(24)])
    run = tmp_path / "run"
    result = train("ppo", "--model", str(start), "--data", str(prompts), "--out", str(run),
                   "--set", f"reward_model={rm}", "--set", "max_steps=2", "--set", "save_steps=1",
                   "--set", "response_length=4", "--set", "learning_rate=1e-2", "--set", "heldout_fraction=0.25",
                   "--set", "eval_limit=3", *FAST_EVAL)
    assert result.exit_code == 0, result.output

    for name in ("checkpoint-1", "checkpoint-2", "final"):
        record = results(run, name)
        assert record["score_rule"] == "win_rate_vs_baseline" and 0 <= record["score"] <= 1
        assert record["model"]["judge"]["kind"] == "classifier" and record["model"]["baseline"]["name"] == str(start)
        assert record["overall"]["n"] == 3  # eval_limit
    start_record = results(run, "start")
    assert start_record["score"] == 0.5 and start_record["overall"]["ties"] == 3  # the start against itself
    assert start_record["timing"]["generation"]["from_cache"] == 3  # sampled once, as the baseline
    assert results(run, "checkpoint-2")["timing"]["baseline_generation"]["from_cache"] == 3

    board = json.loads((run / "leaderboard.json").read_text())
    assert board["judge"] == str(rm) and board["score"] == "win-rate vs start" and board["ranking"]
    names = {e["name"]: e for e in board["entries"]}
    assert set(names) == {"start (untrained)", "checkpoint-1", "checkpoint-2", "final"}
    assert all(e["rank"] is not None and e["reward"] is not None for e in board["entries"])
    start_entry = names["start (untrained)"]
    assert start_entry["kind"] == "baseline" and start_entry["kl"] == pytest.approx(0.0, abs=1e-6)
    assert names["checkpoint-2"]["step"] == 2 and names["final"]["step"] == 2
    output = " ".join(result.output.split())
    assert "checkpoint-1 step 1 on 3 held-out prompts: win-rate vs start" in output
    assert "final step 2 on 3 held-out prompts: win-rate vs start" in output
    assert "ppo checkpoints vs the start" in output and "Ranks: 1 +" in output
    (ranked,) = build_boards([run])  # `rmbench leaderboard RUN` ranks the same records
    assert len(ranked.ranked) == 4


def test_default_judge_is_the_reward_model_trained_against():
    assert default_judge({"rewards": [{"reward_fn": "m:f"}, {"reward_model": "rm"}]}, {}) == "rm"
    assert default_judge({"reward_model": "rm", "rewards": []}, {}) == "rm"  # ppo's meta
    assert default_judge({"rewards": [{"reward_fn": "m:f"}]}, {}) is None
    assert default_judge({"reward_model": "rm"}, {"eval_judge": "none"}) is None
    assert default_judge({}, {"eval_judge": "baseline:length"}) == "baseline:length"


@pytest.mark.parametrize("method, setting, message", [
    ("dpo", "eval_judge=baseline:length", "eval_judge applies to policy methods"),
    ("sft", "eval_judge=baseline:bow", "baseline:bow needs preference pairs"),
    ("sft", "eval_judge=START", "not a reward model"),
    ("sft", "eval_temperature=-1", "eval_temperature must be"),
    ("ppo", "eval_max_new_tokens=0", "eval_max_new_tokens must be"),
])
def test_eval_settings_are_checked_before_training(method, setting, message, tmp_path):
    start = tiny.save_causal_lm(tmp_path / "start")
    data = write_jsonl(tmp_path / "sft.jsonl", [{"prompt": "say hi", "chosen": "hi", "rejected": "no"}] * 4)
    run = tmp_path / "run"
    reward = ["--set", "reward_fn=m:f"] if method == "ppo" else []
    result = train(method, "--model", str(start), "--data", str(data), "--out", str(run), *reward,
                   "--set", setting.replace("START", str(start)))
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
    assert not run.exists()


def test_an_isolated_evaluation_carries_the_whole_request(tmp_path, monkeypatch):
    """Under DeepSpeed the evaluation runs in a process of its own: the request (shared cache
    included) must survive the trip, and the distributed environment must not."""
    start = tiny.save_causal_lm(tmp_path / "start")
    run = tmp_path / "run"
    run.mkdir()
    write_jsonl(run / "heldout-prompts.jsonl", [{"id": "p1", "prompt": [{"role": "user", "content": "hi"}],
                                                 "completion": "hello"}])
    calls = []

    def fake_run(command, env, **kwargs):
        calls.append((command, env))
        assert worker.main([command[-1]]) == 0
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setattr(subprocess, "run", fake_run)
    settings = {"eval_judge": "baseline:length", "eval_max_new_tokens": 4, "eval_temperature": 0.7,
                "eval_limit": None}
    evaluator = PolicyAutoEval(run, settings, {"base_model_resolved": str(start), "seed": 1, "method": "sft"})
    record = evaluator.score_checkpoint(start, 0, isolated=True, name="start")
    (command, env), = calls
    assert command[1:3] == ["-m", "rmbench.worker"] and "RANK" not in env
    assert record["score"] == 0.5 and record["config"]["seed"] == 1
    assert list((run / "evals" / ".cache").glob("generations-*.jsonl"))


def test_evaluation_leaves_the_training_random_streams_alone():
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    with policy_autoeval._training_rng_kept():
        random.random(), np.random.rand(), torch.rand(3)
    after = random.random(), np.random.rand(), torch.rand(1).item()
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    assert after == (random.random(), np.random.rand(), torch.rand(1).item())


# -- the leaderboard ranks policy records ------------------------------------------------------


def policy_record(folder: Path, model: str, outcomes: dict[str, list[float | None]]) -> Path:
    """A policy record as rmbench.evals.policy writes it: the score pools every prompt."""
    rows = [{"id": f"{subset}-{n}", "subset": subset, "correct": c,  # rewards that give the outcome
             **({} if c is None else {"reward": c, "baseline_reward": 0.5})}
            for subset, values in outcomes.items() for n, c in enumerate(values)]
    pooled = [c for values in outcomes.values() for c in values]
    judged = pooled[0] is not None
    subsets = {s: {"n": len(v), "metric": "win_rate", "accuracy": float(np.mean(v)) if judged else None}
               for s, v in outcomes.items()}
    record = build_record(
        suite={"name": "policy", "version": "1", "manifest": None,
               "score_rule": "win_rate_vs_baseline" if judged else "none (no judge)"},
        data=[{"source": f"{s}.jsonl", "n": len(v), "sha256": s} for s, v in outcomes.items()],
        model={"name": model, "kind": "policy"}, config={}, timing={},
        summary={"subsets": subsets, "sections": {}, "score": float(np.mean(pooled)) if judged else None})
    write_results(folder, record, rows)
    return folder / "results.json"


def test_policy_win_rates_pool_prompts_across_subsets(tmp_path):
    # 2 of 2 won in a, 1 of 4 in b: pooled 3/6 = 0.5, where a mean of subsets would say 0.625
    better = policy_record(tmp_path / "better", "better", {"a": [1.0, 1.0], "b": [1.0, 0.0, 0.0, 0.0]})
    same = policy_record(tmp_path / "same", "same", {"a": [0.5, 0.5], "b": [0.5, 0.5, 0.5, 0.5]})
    (board,) = build_boards([better, same], resamples=200)
    assert {r.entry.label: r.score.value for r in board.ranked} == {"better": 0.5, "same": 0.5}
    assert board.group.title.startswith("policies on a.jsonl, b.jsonl")


def test_a_policy_record_without_a_win_rate_is_refused_clearly(tmp_path):
    unjudged = policy_record(tmp_path / "plain", "plain", {"a": [None, None]})
    with pytest.raises(DataError, match="without a win-rate"):
        build_boards([unjudged], resamples=200)
