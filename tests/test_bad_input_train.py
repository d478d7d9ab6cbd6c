"""`rmbench train` on bad input: one clear line, exit 2, and nothing of the user's lost.

Each case runs the CLI in-process in a folder holding a tiny model, data and whatever the
case puts beside them; after the refusal every file outside --out (and every file the
case put inside it) is byte-for-byte as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.runs import MARKER, RUN_FILE
from tests import tiny
from tests.conftest import write_jsonl

runner = CliRunner()
PAIRS = [{"prompt": f"question {i}", "chosen": "the capital of france is paris", "rejected": "no."}
         for i in range(8)]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bad-input-models")
    return {"rm": tiny.save_classifier(root / "rm"), "lm": tiny.save_causal_lm(root / "lm")}


def snapshot(root: Path) -> dict:
    """Every file under root with its content hash (folders too, so a removed empty one shows)."""
    state = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        state[key] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return state


def fake_run(folder: Path, method: str = "rm", model: str = "m") -> Path:
    """A finished run as rmbench leaves one: marker, run file, a checkpoint, a board."""
    (folder / "checkpoint-2").mkdir(parents=True)
    (folder / MARKER).write_text("{}\n")
    (folder / RUN_FILE).write_text(json.dumps({"method": method, "base_model": model}))
    (folder / "checkpoint-2" / "model.safetensors").write_bytes(b"weights")
    (folder / "leaderboard.json").write_text("{}")
    return folder


def own_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "thesis.tex").write_text("years of work")
    (folder / "notes").mkdir()
    (folder / "notes" / "a.txt").write_text("keep me")
    return folder


# (id, method, model key, extra arguments, what --out is before the run, words the error must hold)
CASES = [
    ("missing-data", "rm", "rm", ["--data", "{tmp}/nosuch.jsonl"], None, "nosuch"),
    ("missing-model", "rm", "nosuch-model-folder", [], None, "nosuch-model-folder"),
    ("unknown-method", "ppo2", "rm", [], None, "unknown method"),
    ("max-steps-text", "rm", "rm", ["--set", "max_steps=abc"], None, "max_steps takes a whole number"),
    ("learning-rate-text", "rm", "rm", ["--set", "learning_rate=fast"], None, "learning_rate takes a number"),
    ("batch-size-fraction", "rm", "rm", ["--set", "per_device_train_batch_size=1.5"], None,
     "per_device_train_batch_size"),
    ("save-steps-list", "rm", "rm", ["--set", "save_steps=[1, 2]"], None, "save_steps takes a number"),
    ("beta-text", "dpo", "lm", ["--set", "beta=high"], None, "beta takes a number"),
    ("heldout-over-one", "rm", "rm", ["--set", "heldout_fraction=2"], None, "heldout_fraction must be"),
    ("heldout-text", "rm", "rm", ["--set", "heldout_fraction=half"], None, "heldout_fraction must be"),
    ("unknown-baseline", "rm", "rm", ["--set", "baselines=[nosuch]"], None, "'nosuch'"),
    ("baselines-number", "rm", "rm", ["--set", "baselines=3"], None, "baselines must be"),
    ("unknown-eval-suite", "rm", "rm", ["--set", "eval_suite=nosuch"], None, "unknown suite 'nosuch'"),
    ("eval-limit-negative", "rm", "rm", ["--set", "eval_limit=-1"], None, "eval_limit must be"),
    ("max-examples-zero", "rm", "rm", ["--set", "max_examples=0"], None, "max_examples must be"),
    ("lora-maybe", "rm", "rm", ["--set", "lora=maybe"], None, "lora must be true or false"),
    ("misspelled-key", "rm", "rm", ["--set", "learning_rat=1e-3"], None, "learning_rate"),
    ("set-without-equals", "rm", "rm", ["--set", "max_steps"], None, "KEY=VALUE"),
    ("missing-recipe", "rm", "rm", ["--recipe", "{tmp}/nosuch.yaml"], None, "no such recipe"),
    ("eval-temperature-negative", "sft", "lm", ["--set", "eval_temperature=-1"], None, "eval_temperature"),
    ("ppo-without-reward", "ppo", "lm", [], None, "ppo needs a reward"),
    ("ppo-max-steps-text", "ppo", "lm", ["--set", "max_steps=abc", "--set", "reward_fn=len"], None,
     "max_steps takes a whole number"),
    ("ppo-unknown-baseline", "ppo", "lm", ["--set", "baselines=[nosuch]"], None, "'nosuch'"),
    ("kd-without-teacher", "kd", "lm", [], None, "--set teacher="),
    ("negative-seed", "rm", "rm", ["--seed", "-1"], None, "--seed must be"),
    ("unknown-format", "rm", "rm", ["--format", "nosuch"], None, "nosuch"),
    ("out-is-a-file", "rm", "rm", [], "file", "is a file"),
    ("out-below-a-file", "rm", "rm", [], "below-file", "is a file"),
    ("own-folder-overwrite", "rm", "rm", ["--overwrite"], "own", "not an rmbench run"),
    ("own-folder-plain", "rm", "rm", [], "own", "not an rmbench run"),
    ("own-folder-resume", "rm", "rm", ["--resume"], "own", "not an rmbench run"),
    ("resume-nothing", "rm", "rm", ["--resume"], None, "holds no run to resume"),
    ("resume-other-method", "rm", "rm", ["--resume"], "run-of-dpo", "holds a dpo run"),
    ("resume-and-overwrite", "rm", "rm", ["--resume", "--overwrite"], "run", "pass one"),
    ("run-without-flag", "rm", "rm", [], "run", "--overwrite to replace it"),
    ("run-overwrite-missing-data", "rm", "rm", ["--overwrite", "--data", "{tmp}/pairs.jsonll"], "run",
     "pairs.jsonll"),
    ("run-overwrite-bad-setting", "rm", "rm", ["--overwrite", "--set", "max_steps=abc"], "run", "max_steps"),
    ("run-overwrite-unknown-suite", "rm", "rm", ["--overwrite", "--set", "eval_suite=nosuch"], "run", "nosuch"),
]


@pytest.mark.parametrize(("method", "model", "extra", "before", "words"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_train_input_is_one_line_and_changes_nothing(method, model, extra, before, words, models, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    out = tmp_path / "run"
    model_path = str(models[model]) if model in models else str(tmp_path / model)
    if before == "file":
        out.write_text("not a folder")
    elif before == "below-file":
        (tmp_path / "plain-file").write_text("x")
        out = tmp_path / "plain-file" / "run"
    elif before == "own":
        own_folder(out)
    elif before == "run":
        fake_run(out, "rm", model_path)
    elif before == "run-of-dpo":
        fake_run(out, "dpo", model_path)
    args = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    if "--data" not in args:
        args += ["--data", str(data)]
    before_state = snapshot(tmp_path)

    result = runner.invoke(app, ["train", method, "--model", model_path, "--out", str(out), "--no-progress", *args])

    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    assert words in lines[0], lines[0]
    after = snapshot(tmp_path)
    if before is None and out.is_dir() and not any(out.iterdir()):
        after = {k: v for k, v in after.items() if k != "run"}  # an empty folder at most; nothing lost
    assert after == before_state


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: an unwritable folder cannot be made")
def test_an_unwritable_out_is_one_line(models, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = runner.invoke(app, ["train", "rm", "--model", str(models["rm"]), "--out", str(locked / "run"),
                                     "--data", str(write_jsonl(tmp_path / "p.jsonl", PAIRS))])
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 2 and "not writable" in result.output


def test_overwrite_replaces_a_run_keeps_other_folders_and_resume_ignores_stray_checkpoints(models, tmp_path):
    """--overwrite empties a folder rmbench made (its stray files go), never one it did not; a
    `checkpoint-old` copy beside the checkpoints is not mistaken for one on --resume."""
    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    own = own_folder(tmp_path / "mine")
    kept = snapshot(own)
    refused = runner.invoke(app, ["train", "rm", "--model", str(models["rm"]), "--data", str(data), "--out", str(own),
                                  "--overwrite"])
    assert refused.exit_code == 2 and snapshot(own) == kept

    run = fake_run(tmp_path / "run", "rm", str(models["rm"]))
    (run / "stray.txt").write_text("from the old run")
    common = ["train", "rm", "--model", str(models["rm"]), "--data", str(data), "--out", str(run), "--no-progress",
              "--set", "save_steps=2", "--set", "baselines=[]", "--set", "heldout_fraction=0.25"]
    replaced = runner.invoke(app, [*common, "--overwrite", "--set", "max_steps=2"])
    assert replaced.exit_code == 0, replaced.output
    assert not (run / "stray.txt").exists() and (run / MARKER).is_file()
    assert json.loads((run / RUN_FILE).read_text())["method"] == "rm"

    (run / "checkpoint-old").mkdir()
    (run / "checkpoint-old" / "README").write_text("a copy the user made")
    resumed = runner.invoke(app, [*common, "--resume", "--set", "max_steps=4"])
    assert resumed.exit_code == 0, resumed.output
    assert (run / "checkpoint-4" / "rmbench.json").is_file() and (run / "checkpoint-old" / "README").is_file()


# --strict: a training record the loader would skip stops the run before anything is written. Each method
# family reaches the loaders by its own path (pairs as SFT's chosen answers, pairs split for KTO, prompts
# for the online methods and rmbench's PPO), and a fallback loader must never hide the refusal.
STRICT_METHODS = [
    ("rm", "rm", []),
    ("dpo", "lm", []),
    ("sft", "lm", []),
    ("kto", "lm", []),
    ("grpo", "lm", ["--set", "reward_fn=tests.test_online:count_fox"]),
    ("ppo", "lm", ["--set", "reward_fn=tests.test_online:count_fox"]),
]


@pytest.mark.parametrize("before", [None, "run"], ids=["fresh-out", "overwrite-a-run"])
@pytest.mark.parametrize(("method", "model", "extra"), STRICT_METHODS, ids=[m[0] for m in STRICT_METHODS])
def test_strict_refuses_a_malformed_training_record_and_changes_nothing(method, model, extra, before, models,
                                                                        tmp_path):
    rows = [dict(row) for row in PAIRS]
    rows[3]["chosen"] = 5  # a completion that is neither text nor messages
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = tmp_path / "run"
    if before == "run":
        fake_run(out, method, str(models[model]))
        extra = [*extra, "--overwrite"]
    before_state = snapshot(tmp_path)

    result = runner.invoke(app, ["train", method, "--model", str(models[model]), "--data", str(data), "--out",
                                 str(out), "--no-progress", "--strict", *extra])

    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "pairs.jsonl record 3" in lines[0] and "reason: bad-value" in lines[0], lines[0]
    assert "without --strict" in lines[0] and "Traceback" not in result.output
    assert snapshot(tmp_path) == before_state  # no run folder made, and a finished run left whole
