"""`rmbench pipeline`: a declared graph runs in order, skips what is complete, redoes what is
asked, ends with leaderboards; a malformed file is one clear line."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from tests.conftest import PAIRS

runner = CliRunner()


def write(tmp_path, text: str):
    path = tmp_path / "pipe.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def skipped(output: str) -> list[str]:
    return re.findall(r"^skip ([\w-]+):", output, flags=re.M)


def run(path, out, *extra):
    return runner.invoke(app, ["pipeline", str(path), "--out", str(out), "--no-progress", *extra])


GRAPH = """
name: small
defaults: {{logging_steps: 1, heldout_fraction: 0.25, per_device_train_batch_size: 4, learning_rate: 1.0e-3}}
stages:
  - name: pairs
    generate: {{n: 40, seed: 3, split: train}}
  - name: base
    tiny: {{tokenizer: {tokenizer}, layers: 1, hidden_size: 32}}
  - name: sft
    train: sft
    model: base
    data: pairs
    set: {{max_steps: 2, save_steps: 2, eval_limit: 4, eval_max_new_tokens: 4}}
  - name: rm
    train: rm
    model: sft
    data: pairs
    set: {{max_steps: 2, save_steps: 2, baselines: [random]}}
  - name: dpo
    train: dpo
    model: sft
    data: [pairs]
    set: {{max_steps: 2, save_steps: 2, baselines: []}}
  - name: rm-on-probes
    eval: {{reward: rm, suite: probes}}
"""


def test_graph_runs_skips_complete_stages_and_redoes_on_request(tmp_path, tiny_lm):
    path = write(tmp_path, GRAPH.format(tokenizer=tiny_lm))
    out = tmp_path / "out"
    first = run(path, out)
    assert first.exit_code == 0, first.output
    for stage in ("sft", "rm", "dpo"):
        assert (out / stage / "final" / "rmbench.json").is_file()
    assert (out / "rm-on-probes" / "results.json").is_file()
    page = (out / "leaderboard.html").read_text()
    assert "rm/final" in page and "dpo/final" in page and "rm-on-probes" not in page.split("<body")[0]
    board = (out / "leaderboard.md").read_text()
    assert "baseline:random (rm)" in board and "probes" in board

    again = run(path, out)
    assert again.exit_code == 0, again.output
    assert skipped(again.output) == ["pairs", "base", "sft", "rm", "dpo", "rm-on-probes"]

    redo = run(path, out, "--redo", "dpo")
    assert redo.exit_code == 0, redo.output
    assert skipped(redo.output) == ["pairs", "base", "sft", "rm", "rm-on-probes"] and "dpo: train dpo" in redo.output
    downstream = run(path, out, "--redo", "rm")  # what was built from rm is stale too
    assert skipped(downstream.output) == ["pairs", "base", "sft", "dpo"]


@pytest.mark.parametrize("text, message", [
    ("stages: []", "non-empty `stages`"),
    ("stages:\n  - {name: a, train: rm, model: m}", "needs `model` and `data`"),
    ("stages:\n  - {name: a, generate: {n: 4}}\n  - {name: a, generate: {n: 4}}", "declared twice"),
    ("stages:\n  - {name: a, train: rm, model: sft, data: x.jsonl}", "'sft', which is not an earlier stage"),
    ("stages:\n  - {name: a, tiny: {}, generate: {}}", "exactly one of"),
    ("stages:\n  - {name: a, generate: {n: 4}, modle: x}", "unknown key(s) modle"),
    ("nmae: x\nstages:\n  - {name: a, generate: {n: 4}}", "unknown top-level key(s) nmae"),
    ("stages: [", "invalid YAML"),
    ("stages:\n  - {name: a, eval: x}", "takes a mapping"),
    ("stages:\n  - {name: a, train: [rm], model: m, data: d}", "takes a method name"),
])
def test_malformed_pipelines_are_one_clear_line(tmp_path, text, message):
    result = run(write(tmp_path, text), tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and message in result.output and "Traceback" not in result.output


def test_redo_of_an_unknown_stage(tmp_path):
    result = run(write(tmp_path, "stages:\n  - {name: a, generate: {n: 4}}"), tmp_path / "out", "--redo", "b")
    assert result.exit_code == 2 and "no such stage" in result.output


def test_shipped_example_parses_and_is_found_by_name(tmp_path):
    from rmbench.pipeline import load_pipeline

    example = load_pipeline("tiny-sft-rm-dpo")
    assert [s.name for s in example.stages] == ["pairs", "base", "sft", "rm", "dpo", "kto", "ppo"]
    assert example.stages[-1].settings["reward_model"] == "rm"
    result = run("no-such-pipeline", tmp_path / "out")
    assert result.exit_code == 2 and "tiny-sft-rm-dpo" in result.output


def test_a_mistake_in_a_late_stage_stops_the_run_before_the_first_stage(tmp_path):
    path = write(tmp_path, """
        stages:
          - {name: pairs, generate: {n: 8}}
          - {name: more, generate: {n: 1.7}}
        """)
    result = run(path, tmp_path / "out")
    assert result.exit_code == 2 and "n must be a whole number, not 1.7" in result.output, result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["../escaped", "/abs/stage", "a/b", "..", ".cache"])
def test_stage_names_never_reach_outside_out(tmp_path, name):
    path = write(tmp_path, f"""
        stages:
          - {{name: '{name}', tiny: {{layers: 1, hidden_size: 16}}}}
        """)
    victim = tmp_path / "escaped"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    result = run(path, tmp_path / "box" / "out")
    assert result.exit_code == 2 and "not a plain name" in result.output, result.output
    assert (victim / "keep.txt").read_text() == "mine" and not (tmp_path / "box").exists()


def test_strict_reaches_train_and_eval_stages_and_is_checked_like_any_key(tmp_path, tiny_lm):
    """`strict: true` is `--strict`: a train stage beside `model`, an eval stage inside its mapping."""
    from rmbench.pipeline import load_pipeline

    bad = tmp_path / "pairs.jsonl"
    bad.write_text(json.dumps(PAIRS[0]) + "\n" + json.dumps({"id": "broken", "prompt": "hi"}) + "\n"
                   + "\n".join(json.dumps(p) for p in PAIRS[1:]) + "\n")
    lenient = run(write(tmp_path, f"stages:\n  - {{name: e, eval: {{reward: 'baseline:length', data: {bad}}}}}"),
                  tmp_path / "lenient")
    assert lenient.exit_code == 0, lenient.output
    assert json.loads((tmp_path / "lenient" / "e" / "results.json").read_text())["skipped"]["count"] == 1
    strict = run(write(tmp_path, f"stages:\n  - {{name: e, eval: {{reward: 'baseline:length', data: {bad}, "
                                 "strict: true}}"), tmp_path / "strict")
    assert strict.exit_code == 2 and "pairs.jsonl record 1" in strict.output, strict.output
    train = f"stages:\n  - {{name: t, train: rm, model: {tiny_lm}, data: {bad}, strict: true}}"
    assert load_pipeline(write(tmp_path, train)).stages[0].strict is True
    refused = run(write(tmp_path, train), tmp_path / "train")
    assert refused.exit_code == 2 and "pairs.jsonl record 1" in refused.output, refused.output
    assert not (tmp_path / "train" / "t" / "final").exists()
    for text, message in ((train.replace("true", "'yes'"), "strict must be true or false, not 'yes'"),
                          (f"stages:\n  - {{name: e, eval: {{reward: r, data: {bad}}}, strict: true}}",
                           "inside an eval stage's mapping"),
                          ("stages:\n  - {name: g, generate: {n: 4}, strict: true}", "reads no data")):
        result = run(write(tmp_path, text), tmp_path / "refused")
        assert result.exit_code == 2 and message in result.output, result.output
