"""Training across processes, for real: `accelerate launch --multi_gpu --num_processes 2` on CPU (gloo).

Each arm trains the same tiny model on the same rows twice: in this process with a per-device batch
of B, and in 2 launched processes with B/2 each (the same global batch, seed and data order; the
tiny Llama has no dropout). The logged losses must agree: accelerate gives rank r the r-th half of
each global batch, DDP averages the gradients and the Trainer averages the logged loss over ranks,
so only float rounding (padding to a different length per half) separates the two runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rmbench.cli import app
from tests import tiny
from tests.conftest import write_jsonl
from tests.test_train import separable_pairs

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[1]
LOSS_TOLERANCE = 1e-5  # absolute, per logged step; measured differences are below 1e-7 (fp32 rounding)


def launch(args: list[str], processes: int = 2, config: Path | None = None) -> subprocess.CompletedProcess:
    """`accelerate launch` of `rmbench train ...` as N CPU processes over gloo (accelerate's --cpu starts one)."""
    launcher = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    how = (["--config_file", str(config)] if config else
           ["--multi_gpu", "--mixed_precision", "no", "--dynamo_backend", "no"])
    command = [str(launcher), "launch", *how, "--num_processes", str(processes), "--num_machines", "1",
               "--main_process_port", "0", "-m", "rmbench", "train", *args, "--no-progress"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)


def losses(run: Path, step: int) -> list[float]:
    state = json.loads((run / f"checkpoint-{step}" / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def one_and_two_processes(method: str, model: Path, data: Path, tmp_path: Path, batch: int, steps: int,
                          settings: list[str]) -> tuple[Path, Path, subprocess.CompletedProcess]:
    common = ["--model", str(model), "--data", str(data), "--set", f"max_steps={steps}", "--set", f"save_steps={steps}",
              "--set", "logging_steps=1", "--set", "baselines=[random]"]
    for setting in settings:
        common += ["--set", setting]
    one, two = tmp_path / "one", tmp_path / "two"
    single = CliRunner().invoke(app, ["train", method, *common, "--out", str(one), "--set",
                                      f"per_device_train_batch_size={batch}", "--no-progress"])
    assert single.exit_code == 0, single.output
    launched = launch([method, *common, "--out", str(two), "--set", f"per_device_train_batch_size={batch // 2}"])
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-4000:]
    return one, two, launched


def check_matching_losses(method: str, one: Path, two: Path, steps: int) -> None:
    single, double = losses(one, steps), losses(two, steps)
    print(f"{method} losses, 1 process: {single}; 2 processes: {double}")
    assert len(single) == len(double) == steps
    assert len(set(single)) > 1  # training moved the loss: steps after the first test the synced update
    assert all(abs(a - b) <= LOSS_TOLERANCE for a, b in zip(single, double)), (single, double)


def check_rank_zero_wrote_and_evaluated(run: Path, launched: subprocess.CompletedProcess, steps: int) -> None:
    record = json.loads((run / "rmbench-run.json").read_text())
    assert record["request"]["out"] == str(run)
    assert json.loads((run / "final" / "rmbench.json").read_text())["step"] == steps
    assert (run / "leaderboard.json").is_file()
    # each checkpoint evaluated once, by the main process only (the others would print the same line)
    assert launched.stdout.count(f"checkpoint-{steps} step {steps} on heldout") == 1, launched.stdout[-3000:]
    assert launched.stdout.count(f"final step {steps} on heldout") == 1, launched.stdout[-3000:]


def test_reward_model_on_two_processes_trains_as_one_and_its_checkpoint_scores(tmp_path):
    model = tiny.save_classifier(tmp_path / "start")
    data = write_jsonl(tmp_path / "pairs.jsonl", separable_pairs(20))
    one, two, launched = one_and_two_processes(
        "rm", model, data, tmp_path, batch=4, steps=3,
        settings=["learning_rate=1e-3", "max_length=64", "train_sampling_strategy=random"])
    check_matching_losses("rm", one, two, 3)
    check_rank_zero_wrote_and_evaluated(two, launched, 3)
    scored = CliRunner().invoke(app, ["eval", "--reward", str(two / "final"), "--data", str(two / "heldout.jsonl"),
                                      "--out", str(tmp_path / "scored"), "--no-progress"])
    assert scored.exit_code == 0, scored.output
    score = json.loads((tmp_path / "scored" / "results.json").read_text())["score"]
    assert score == json.loads((two / "evals" / "final" / "heldout" / "results.json").read_text())["score"]


def test_reward_model_under_deepspeed_zero2_on_two_cpu_processes_trains_as_one(tmp_path):
    """The shipped ZeRO-2 config, made CPU-sized: DeepSpeed's CPU accelerator talks over gloo (no oneCCL here),
    each process keeps its own shard of the optimizer state, and the losses are those of one process."""
    if importlib.util.find_spec("deepspeed") is None:
        pytest.skip("deepspeed is not installed (pip install 'rmbench[scale]')")
    config = yaml.safe_load((ROOT / "trainers" / "accelerate" / "deepspeed_zero2.yaml").read_text())
    config.update(num_processes=2, num_machines=1, machine_rank=0, use_cpu=True, mixed_precision="no")
    cpu_config = tmp_path / "zero2-cpu.yaml"
    cpu_config.write_text(yaml.safe_dump(config))
    model = tiny.save_classifier(tmp_path / "start")
    data = write_jsonl(tmp_path / "pairs.jsonl", separable_pairs(20))
    common = ["--model", str(model), "--data", str(data), "--set", "max_steps=3", "--set", "save_steps=3",
              "--set", "logging_steps=1", "--set", "baselines=[random]", "--set", "learning_rate=1e-3",
              "--set", "max_length=64", "--set", "train_sampling_strategy=random"]
    single = CliRunner().invoke(app, ["train", "rm", *common, "--out", str(tmp_path / "one"),
                                      "--set", "per_device_train_batch_size=4", "--no-progress"])
    assert single.exit_code == 0, single.output
    run = tmp_path / "two"
    launched = launch(["rm", *common, "--out", str(run), "--set", "per_device_train_batch_size=2"], config=cpu_config)
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-4000:]
    check_matching_losses("rm zero2", tmp_path / "one", run, 3)
    check_rank_zero_wrote_and_evaluated(run, launched, 3)
    shards = sorted(p.name for p in (run / "checkpoint-3" / "global_step3").glob("zero_pp_rank_*_optim_states.pt"))
    assert shards == ["zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"]


def test_dpo_on_two_processes_with_its_reference_model_trains_as_one(tmp_path):
    model = tiny.save_causal_lm(tmp_path / "start")
    data = write_jsonl(tmp_path / "pairs.jsonl", separable_pairs(20))
    one, two, launched = one_and_two_processes("dpo", model, data, tmp_path, batch=4, steps=3,
                                               settings=["learning_rate=1e-3", "max_length=64"])
    check_matching_losses("dpo", one, two, 3)
    check_rank_zero_wrote_and_evaluated(two, launched, 3)
    scored = CliRunner().invoke(app, ["eval", "--reward", str(two / "final"), "--ref", str(model), "--data",
                                      str(two / "heldout.jsonl"), "--out", str(tmp_path / "scored"), "--no-progress"])
    assert scored.exit_code == 0, scored.output


def test_ppo_on_two_processes_splits_rollouts_and_the_main_process_alone_writes(tmp_path):
    """rmbench's own loop: each process samples its own prompts (its own seed), the update is synced, the
    log, checkpoints (one RNG file per process) and the evaluations come from the main process once.
    Rollouts differ from a 1-process run by design (per-process sampling seeds), so no loss comparison here."""
    from transformers import AutoModelForCausalLM

    model = tiny.save_causal_lm(tmp_path / "start")
    data = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"question {i}: {tiny.CORPUS[i % 8]}",
                                                     "completion": "ok"} for i in range(20)])
    reward = tmp_path / "reward.py"
    reward.write_text("def count_e(prompts, completions):\n    return [float(c.count('e')) for c in completions]\n")
    run = tmp_path / "run"
    launched = launch(["ppo", "--model", str(model), "--data", str(data), "--out", str(run),
                       "--set", f"reward_fn={reward}:count_e", "--set", "max_steps=2", "--set", "save_steps=2",
                       "--set", "response_length=6", "--set", "per_device_train_batch_size=2",
                       "--set", "gradient_accumulation_steps=1", "--set", "num_ppo_epochs=1",
                       "--set", "eval_limit=2", "--set", "eval_max_new_tokens=4"])
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-4000:]
    log = [json.loads(line) for line in (run / "ppo_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]  # one line per step: the main process alone logs
    assert [r["episode"] for r in log] == [4, 8]  # 2 prompts per process per step, 2 processes
    checkpoint = run / "checkpoint-2"
    assert (checkpoint / "value_model").is_dir() and (checkpoint / "ppo_state.pt").is_file()
    assert sorted(p.name for p in checkpoint.glob("rng-*.pt")) == ["rng-0.pt", "rng-1.pt"]
    assert json.loads((run / "final" / "rmbench.json").read_text())["step"] == 2
    assert launched.stdout.count("ppo: 2 steps; policy saved") == 1, launched.stdout[-3000:]
    assert (run / "evals" / "final").is_dir() and (run / "leaderboard.json").is_file()
    AutoModelForCausalLM.from_pretrained(run / "final", use_safetensors=True)
