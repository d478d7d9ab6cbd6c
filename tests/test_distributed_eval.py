"""Data-parallel evaluation: how work is split, and a real 2-process `accelerate launch` on CPU."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.evals import run as run_module
from rmbench.models import load_tokenizer
from rmbench.scoring import distributed
from rmbench.scoring.batching import plan_batches
from rmbench.scoring.distributed import cache_files, shard_path, split_batches
from rmbench.scoring.judge import JudgeRequest, LocalJudge
from rmbench.trainers.methods import get_method
from rmbench.trainers.run import fit_lengths
from tests import tiny
from tests.conftest import PAIRS, write_jsonl


def test_whole_batches_are_balanced_by_tokens_and_keep_their_global_order():
    batches = [[0, 1], [2], [3, 4, 5], [6], [7, 8]]
    weights = [100, 90, 60, 50, 40]
    ranks = split_batches(batches, weights, 2)
    assert ranks == [[0, 1, 6, 7, 8], [2, 3, 4, 5]]  # loads 190 and 150: heaviest first to the least loaded
    assert sorted(i for r in ranks for i in r) == list(range(9))
    assert split_batches(batches, weights, 1) == [list(range(9))]
    assert split_batches([[0]], [5], 3) == [[0], [], []]  # more processes than batches: some idle


def test_a_share_of_whole_batches_is_cut_into_the_same_batches_again():
    """What makes a data-parallel run bit-identical: each process re-plans its share (a union of
    whole batches, in plan order) into exactly the batches one process would have run."""
    rng = random.Random(0)
    for trial in range(200):
        lengths = [rng.randint(1, 300) for _ in range(rng.randint(1, 120))]
        budget = rng.choice([64, 256, 700, 2048])
        rows = rng.choice([4, 16, 256])
        batches = plan_batches(lengths, budget, max_rows=rows)
        weights = [sum(lengths[i] for i in b) for b in batches]
        for size in (2, 3, 5):
            for share in split_batches(batches, weights, size):
                again = plan_batches([lengths[i] for i in share], budget, max_rows=rows)
                replanned = sorted(sorted(share[j] for j in b) for b in again)
                original = sorted(sorted(b) for b in batches if set(b) <= set(share))
                assert replanned == original, (trial, size)


def test_every_shard_of_any_earlier_run_is_read_back(tmp_path):
    main = tmp_path / "scores-abc.jsonl"
    for path in (main, shard_path(main, 0, 2), shard_path(main, 1, 2), shard_path(main, 2, 3),
                 tmp_path / "scores-other.rank0-of-2.jsonl"):
        path.write_text("")
    assert [p.name for p in cache_files(main)] == [
        "scores-abc.jsonl", "scores-abc.rank0-of-2.jsonl", "scores-abc.rank1-of-2.jsonl", "scores-abc.rank2-of-3.jsonl"]


def _launch(args: list[str], processes: int) -> subprocess.CompletedProcess:
    """`accelerate launch --multi_gpu --num_processes N -m rmbench eval ...`: CPU processes over gloo here
    (accelerate's --cpu would start one), one thread each, this checkout's rmbench."""
    launcher = Path(sys.executable).with_name("accelerate")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(root), "CUDA_VISIBLE_DEVICES": ""}
    command = [str(launcher), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
               "--main_process_port", "0", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "rmbench", "eval", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=root)


def _one_then_two(common: list[str], tmp_path: Path) -> tuple[dict, subprocess.CompletedProcess]:
    """The same eval in one process into tmp_path/one and in a 2-process launch into tmp_path/two:
    byte-identical scores.jsonl; returns the launch's record and the launch itself."""
    single = CliRunner().invoke(app, ["eval", *common, "--out", str(tmp_path / "one")])
    assert single.exit_code == 0, single.output
    launched = _launch([*common, "--out", str(tmp_path / "two")], 2)
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert (tmp_path / "two" / "scores.jsonl").read_bytes() == (tmp_path / "one" / "scores.jsonl").read_bytes()
    return json.loads((tmp_path / "two" / "results.json").read_text()), launched


def test_two_processes_score_exactly_as_one_and_resume_from_their_shards(tiny_rm, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS + [
        {"prompt": f"question {n} about the sea?", "chosen": "answer " * (n + 1), "rejected": f"no {n}"}
        for n in range(10)])
    common = ["--reward", str(tiny_rm), "--data", str(data), "--dtype", "fp32", "--device", "cpu",
              "--batch-tokens", "96", "--no-progress"]
    record, launched = _one_then_two(common, tmp_path)
    two = tmp_path / "two"
    assert record["timing"]["processes"] == 2
    shards = sorted((two / ".cache").glob("scores-*.rank*-of-2.jsonl"))
    assert len(shards) == 2 and all(s.read_text() for s in shards)  # both processes did work
    assert launched.stdout.count("score ") == 1  # one report, from the main process

    # Interrupted: one process's shard lost. One process finishes the job from the other's shard.
    lost = len(shards[1].read_text().splitlines())
    shards[1].unlink()
    (two / "results.json").unlink()
    resumed = CliRunner().invoke(app, ["eval", *common, "--out", str(two)])
    assert resumed.exit_code == 0, resumed.output
    record = json.loads((two / "results.json").read_text())
    assert record["timing"]["scored"] == lost and record["timing"]["processes"] == 1
    assert (two / "scores.jsonl").read_bytes() == (tmp_path / "one" / "scores.jsonl").read_bytes()


def test_policy_sampling_and_kl_split_across_processes_give_the_same_record_rows(tiny_lm, tmp_path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"write about the sea {n}"} for n in range(9)])
    common = ["--policy", str(tiny_lm), "--ref", str(tiny_lm), "--data", str(prompts), "--judge-rm",
              "baseline:length", "--max-new-tokens", "6", "--temperature", "0.7", "--dtype", "fp32", "--device", "cpu",
              "--batch-tokens", "64", "--no-progress"]
    record, _ = _one_then_two(common, tmp_path)
    assert record["timing"]["generation"]["processes"] == 2
    assert len(list((tmp_path / "two" / ".cache").glob("generations-*.rank*-of-2.jsonl"))) == 2


def _several_per_prompt(path: Path) -> Path:
    """RewardBench 2 rows (1 chosen, 3 rejected of unlike lengths per prompt) and one example whose
    two answers are one text: a prompt with a single completion, scored in a full pass of its own."""
    rows = [{"id": f"q{n}", "subset": "sea", "prompt": f"question {n} about the sea?", "num_correct": 1,
             "chosen": ["answer " * (n + 2)], "rejected": [f"no {n}", "the sea " * (n + 1), "i cannot help " * n]}
            for n in range(1, 7)]
    rows.append({"id": "same", "subset": "sea", "prompt": "please help", "num_correct": 1,
                 "chosen": ["here is a python function"], "rejected": ["here is a python function"]})
    return write_jsonl(path, rows)


def _same_scores_in_one_and_two_processes(common: list[str], tmp_path: Path) -> dict:
    record, _ = _one_then_two(common, tmp_path)
    assert record["timing"]["processes"] == 2
    assert all(s.read_text() for s in (tmp_path / "two" / ".cache").glob("*.rank*-of-2.jsonl"))
    assert len(list((tmp_path / "two" / ".cache").glob("*.rank*-of-2.jsonl"))) == 2  # both processes did work
    return record


def test_an_implicit_reward_with_a_reference_scores_exactly_as_in_one_process(tiny_lm, tmp_path):
    """Each prompt's completions share its KV cache, so a process takes a prompt's completions whole
    (split, they would be batched, or scored in full passes, unlike one process: 1e-6 off)."""
    ref = tiny.save_causal_lm(tmp_path / "ref", seed=1)
    common = ["--reward", str(tiny_lm), "--ref", str(ref), "--data", str(_several_per_prompt(tmp_path / "d.jsonl")),
              "--dtype", "fp32", "--device", "cpu", "--batch-tokens", "48", "--no-progress"]
    record = _same_scores_in_one_and_two_processes(common, tmp_path)
    assert record["model"]["kind"] == "implicit" and record["model"]["reference"] == str(ref)


def test_a_local_rating_judge_scores_exactly_as_in_one_process(tiny_lm, tmp_path):
    template = tmp_path / "rate.txt"
    template.write_text("Question: {prompt}\nAnswer: {answer}\nRate the answer from 1 to 10.\n")
    common = ["--judge", str(tiny_lm), "--judge-mode", "rating", "--judge-template", str(template),
              "--data", str(_several_per_prompt(tmp_path / "d.jsonl")), "--dtype", "fp32", "--device", "cpu",
              "--batch-tokens", "400", "--max-length", "60", "--no-progress"]
    record = _same_scores_in_one_and_two_processes(common, tmp_path)
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    assert record["model"]["truncated"] == one["model"]["truncated"] > 0  # every process's count, added up


def test_a_local_pairwise_judge_judges_a_share_in_the_batches_of_its_plan(tiny_lm, tmp_path):
    """What the 2-process launch relies on for pairwise judges, checked in one process: a share of
    whole planned batches is judged in exactly those batches, each verdict as in the whole run."""
    template = tmp_path / "pairwise.txt"
    template.write_text("Question: {prompt}\nFirst: {answer_a}\nSecond: {answer_b}\nWhich is better?")
    judge = LocalJudge(str(tiny_lm), template=str(template), dtype="fp32", device="cpu", batch_tokens=300)
    requests = [JudgeRequest([{"role": "user", "content": f"question {n}?"}], "yes " * n, "no " * (7 - n))
                for n in range(1, 7)] * 2
    batches, weights = judge.plan(requests)
    assert judge.truncated == 0 and len(batches) > 2  # planning counts nothing
    whole = list(judge.judge(requests))
    assert sorted(sorted(i) for i, _ in whole) == sorted(sorted(b) for b in batches)
    verdicts = {i: v for indices, vs in whole for i, v in zip(indices, vs)}
    for share in split_batches(batches, weights, 2):
        judged = list(judge.judge([requests[i] for i in share]))
        assert sorted(sorted(share[i] for i in indices) for indices, _ in judged) == sorted(
            sorted(b) for b in batches if set(b) <= set(share))
        assert all(v == verdicts[share[i]] for indices, vs in judged for i, v in zip(indices, vs))


def test_a_launch_prints_training_length_notes_once(tiny_lm, monkeypatch, capsys):
    """Every process of `accelerate launch ... train` counts its over-long rows; only rank 0 says so."""
    tokenizer = load_tokenizer(str(tiny_lm))
    rows = [{"chosen": "the sea " * 40, "rejected": "no"}] * 3
    for rank, notes in (("0", 1), ("1", 0)):
        monkeypatch.setenv("RANK", rank)
        assert fit_lengths(rows, tokenizer, SimpleNamespace(max_length=16), get_method("rm"), {}) == 3
        assert capsys.readouterr().out.count("3 of 3 training rows exceed max_length=16") == notes


def test_under_a_launch_the_main_process_alone_claims_out_and_says_what_is_wrong(tmp_path, monkeypatch):
    """The main process checks and locks --out and prints the one error line; another process
    touches nothing, waits for its outcome and stops quietly (exit 2) instead of scoring on."""
    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    out = tmp_path / "out"
    args = ["eval", "--data", str(data), "--out", str(out), "--no-progress"]
    assert CliRunner().invoke(app, [*args, "--reward", "baseline:random"]).exit_code == 0
    sent = []
    monkeypatch.setattr(distributed, "world", lambda: (0, 2))
    monkeypatch.setattr(distributed, "from_main", lambda value: sent.append(value) or value)
    main = CliRunner().invoke(app, [*args, "--reward", "baseline:length"])
    assert main.exit_code == 2 and main.output.count("error:") == 1
    assert "holds the record of baseline:random" in main.output
    assert len(sent) == 1 and "holds the record of baseline:random" in sent[0]  # told the others why

    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setattr(distributed, "world", lambda: (1, 2))
    monkeypatch.setattr(distributed, "from_main", lambda value: "another rmbench run is writing into --out")
    other = CliRunner().invoke(app, [*args[:-3], "--out", str(elsewhere), "--reward", "baseline:length"])
    assert other.exit_code == 2 and other.output == ""
    assert not elsewhere.exists()  # the main process refused it: no shard, no folder


def test_under_a_launch_another_process_never_enters_the_claim(monkeypatch):
    entered = []

    @contextmanager
    def claim():
        entered.append(1)
        yield

    monkeypatch.setattr(distributed, "world", lambda: (1, 2))
    monkeypatch.setattr(distributed, "from_main", lambda value: None)  # the main process claimed it
    with distributed.main_claims(claim()):
        ran = True
    assert ran and entered == []
    monkeypatch.setattr(distributed, "world", lambda: (0, 2))
    with distributed.main_claims(claim()):
        pass
    assert entered == [1]


def test_an_interrupted_launch_says_so_once(monkeypatch, tmp_path):
    """Ctrl-C reaches every process of `accelerate launch`: the main one alone prints the resume hint."""
    def interrupted(request):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "run_eval", interrupted)
    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank, lines in (("0", 1), ("1", 0)):
        monkeypatch.setenv("RANK", rank)
        result = CliRunner().invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data), "--no-progress"])
        assert result.exit_code == 130 and result.output.count("interrupted") == lines
