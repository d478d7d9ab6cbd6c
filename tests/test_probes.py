"""The generated probe suite: every label is true by the generator's own checker (the code is
run, the JSON parsed, the sum recomputed), train and test never share a problem, the same
seed gives the same items in any process, and the exported file reads back through the
harness unchanged."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data import load_preferences
from rmbench.errors import RmbenchError, SuiteError
from rmbench.evals.run import EvalRequest, run_eval
from rmbench.evals.suites import load_suite, parse_suite
from rmbench.probes import FAMILIES, SECTIONS, SUBSETS, VERSION, Rng, generate, split_of, verify
from rmbench.probes.arithmetic import check_arithmetic, check_units
from rmbench.probes.code import check_code
from rmbench.probes.constraints import check_json, check_list, check_word_limit
from rmbench.probes.length import check_length
from rmbench.probes.passage import check_passage
from rmbench.probes.safety import check_refusal

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def _digest(examples) -> str:
    rows = [[e.id, e.subset, e.prompt, e.chosen, e.rejected, e.meta] for e in examples]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("subset", SUBSETS)
def test_checker_accepts_chosen_and_refuses_rejected(subset):
    family = FAMILIES[subset]
    for seed in range(6):
        rng = Rng("test", seed, subset)
        for _ in range(50):
            probe = family.make(rng)
            assert family.check(probe.spec, probe.chosen), (probe.prompt, probe.chosen)
            assert not family.check(probe.spec, probe.rejected), (probe.prompt, probe.rejected)
            json.dumps(probe.spec)  # specs travel in exported files


def test_checkers_judge_answers_they_never_saw():
    """The checkers recompute the truth; they do not just compare with the generator's text."""
    assert check_arithmetic({"expr": "17 + 25"}, "Adding them gives 42.")
    assert not check_arithmetic({"expr": "17 + 25"}, "17 + 25 = 43.")
    assert check_arithmetic({"expr": "15 * 240 / 100"}, "36")
    assert check_units({"value": "2.5", "from": "kilometres", "to": "metres"}, "That's 2500 metres.")
    assert not check_units({"value": "2.5", "from": "kilometres", "to": "metres"}, "250 metres")
    assert check_units({"value": "-40", "from": "celsius", "to": "fahrenheit"}, "It is -40 degrees.")
    spec = {"func": "add", "tests": [[[1, 2], 3], [[-1, 1], 0]]}
    assert check_code(spec, "```python\ndef add(a, b):\n    return b + a\n```")
    assert not check_code(spec, "```python\ndef add(a, b):\n    return a - b\n```")
    assert not check_code(spec, "```python\nimport os\ndef add(a, b):\n    return a + b\n```")  # no imports
    assert not check_code(spec, "```python\ndef add(a, b):\n    return open('x')\n```")  # no file access
    assert not check_code(spec, "no code at all")
    fields = {"name": "Mira", "age": 34}
    assert check_json({"fields": fields}, ' {"age": 34, "name": "Mira"}\n')
    assert not check_json({"fields": fields}, 'Here you go: {"name": "Mira", "age": 34}')
    assert not check_json({"fields": fields}, '{"name": "Mira", "age": "34"}')
    assert check_word_limit({"max": 3}, "one two three") and not check_word_limit({"max": 3}, "one two three four")
    assert check_word_limit({"min": 2}, "one two") and not check_word_limit({"min": 2}, "one")
    assert check_list({"n": 2, "style": "bullets"}, "Two:\n- a\n- b")
    assert not check_list({"n": 2, "style": "bullets"}, "- a\n- a")
    assert not check_list({"n": 2, "style": "numbered"}, "1. a\n3. b")
    assert check_passage({"answer": "1998", "competing": ["2004"]}, "It opened in 1998.")
    assert not check_passage({"answer": "1998", "competing": ["2004"]}, "In 1998 or 2004.")
    assert check_refusal({"should_refuse": True}, "I can't help with that.")
    assert not check_refusal({"should_refuse": False}, "I'm sorry, but I won't.")
    assert check_length({"kind": "capital", "answer": "Canberra"}, "Canberra.")
    assert not check_length({"kind": "capital", "answer": "Canberra"}, "Canberra, not Sydney.")


def test_generate_sizes_sections_and_ids():
    examples = generate(203, seed=5)
    assert len(examples) == 203
    counts = Counter(e.subset for e in examples)
    assert set(counts) == set(SUBSETS) and max(counts.values()) - min(counts.values()) <= 1
    assert len({(e.subset, e.id) for e in examples}) == len(examples)
    assert [e.subset for e in examples[:len(SUBSETS)]] == list(SUBSETS)  # interleaved: any prefix is balanced
    assert sorted(s for members in SECTIONS.values() for s in members) == sorted(SUBSETS)
    for e in examples:
        assert e.meta["section"] in SECTIONS and e.subset in SECTIONS[e.meta["section"]]
        assert (e.meta["version"], e.meta["seed"], e.meta["split"]) == (VERSION, 5, "test")
        assert verify(e) == (True, False)
        # short enough for a 256-token encoder with room to spare
        assert len((e.prompt[0]["content"] + " " + max(e.chosen[0], e.rejected[0], key=len)).split()) < 160


def test_splits_never_share_a_problem():
    train = generate(1000, seed=1, split="train")
    test = generate(1000, seed=2, split="test")
    same_seed = generate(500, seed=1, split="test")
    prompts = {e.prompt[0]["content"] for e in train}
    assert not prompts & {e.prompt[0]["content"] for e in test}
    assert not prompts & {e.prompt[0]["content"] for e in same_seed}
    # the split is a hash of the problem alone: stable, and about half of all problems each
    assert split_of("What is 2 + 2?") == split_of("what  is 2 + 2?")
    share = sum(split_of(f"problem {i}") == "test" for i in range(2000)) / 2000
    assert 0.45 < share < 0.55


def test_same_seed_same_items_in_another_process():
    first = generate(120, seed=11, split="train")
    assert generate(120, seed=11, split="train") == first
    assert _digest(generate(120, seed=12, split="train")) != _digest(first)
    script = ("import hashlib, json; from rmbench.probes import generate; "
              "rows = [[e.id, e.subset, e.prompt, e.chosen, e.rejected, e.meta] for e in generate(120, 11, 'train')]; "
              "print(hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert out.stdout.strip() == _digest(first)


def test_more_items_keep_the_ones_already_drawn():
    small, large = generate(50, seed=3), generate(150, seed=3)
    for subset in SUBSETS:
        a = [e.id for e in small if e.subset == subset]
        b = [e.id for e in large if e.subset == subset]
        assert b[:len(a)] == a


def test_generate_refuses_bad_requests():
    with pytest.raises(RmbenchError, match="positive"):
        generate(0)
    with pytest.raises(RmbenchError, match="split"):
        generate(10, split="dev")
    with pytest.raises(RmbenchError, match="no probe subset"):
        generate(10, subsets=["poetry"])


def test_lengths_do_not_give_the_answer_away():
    """Outside the length-bias subset the longer answer wins about half the time; inside it, never."""
    examples = generate(3000, seed=0, split="train")
    longer = {s: [len(e.chosen[0]) > len(e.rejected[0]) for e in examples if e.subset == s] for s in SUBSETS}
    assert not any(longer["length"])
    for subset, wins in longer.items():
        if subset != "length":
            assert 0.35 < sum(wins) / len(wins) < 0.65, subset


def test_suite_runs_with_the_length_baseline_and_records_the_draw():
    record, rows = run_eval(EvalRequest(reward="baseline:length", suite="probes", show_progress=False))
    assert record["subsets"]["length"]["accuracy"] == 0.0
    assert record["score"] < 0.55  # longer-wins does not solve the suite
    assert set(record["sections"]) == set(SECTIONS)
    (source,) = record["data"]
    assert source["generator"] == {"name": "probes", "version": VERSION, "seed": 0, "n": 600, "split": "test"}
    assert source["n"] == len(rows) == 600


def test_suite_subsets_and_limit():
    request = EvalRequest(reward="baseline:random", suite="probes", subsets=["code", "json"], limit=40,
                          show_progress=False)
    record, rows = run_eval(request)
    assert set(record["subsets"]) == {"code", "json"}
    assert len(rows) == sum(s["n"] for s in record["subsets"].values()) <= 40


def test_manifest_checks_generated_sources():
    suite = load_suite("probes")
    assert suite.sources[0].generate == "probes" and suite.sources[0].split == "test"
    assert "probes" in runner.invoke(app, ["suites"]).output
    with pytest.raises(SuiteError, match="unknown generator"):
        parse_suite({"name": "x", "sources": [{"generate": "poems", "n": 5}]}, "x.yaml")
    with pytest.raises(SuiteError, match="'n'"):
        parse_suite({"name": "x", "sources": [{"generate": "probes"}]}, "x.yaml")
    with pytest.raises(SuiteError, match="split"):
        parse_suite({"name": "x", "sources": [{"generate": "probes", "n": 5, "split": "dev"}]}, "x.yaml")


def test_cli_export_round_trips_through_the_harness(tmp_path):
    out = tmp_path / "sub" / "probes-test.jsonl"
    result = runner.invoke(app, ["data", "generate", "--suite", "probes", "--n", "600", "--seed", "0",
                                 "--split", "test", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 600
    first = rows[0]
    assert first["prompt"][0]["role"] == "user" and first["chosen"][0]["role"] == "assistant"
    assert {"id", "subset", "section", "spec", "version", "seed", "split"} <= first.keys()

    loaded = load_preferences(str(out))
    expected = generate(600, seed=0, split="test")
    assert [(e.id, e.subset, e.prompt, e.chosen, e.rejected) for e in loaded] == \
           [(e.id, e.subset, e.prompt, e.chosen, e.rejected) for e in expected]
    assert all(verify(e) == (True, False) for e in loaded)  # the spec survives the file

    from_file, _ = run_eval(EvalRequest(reward="baseline:length", data=[str(out)], show_progress=False))
    from_suite, _ = run_eval(EvalRequest(reward="baseline:length", suite="probes", show_progress=False))
    assert from_file["data"][0]["sha256"] == from_suite["data"][0]["sha256"]  # same items, same data version
    assert from_file["subsets"] == from_suite["subsets"]

    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--data", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output


def test_bow_baseline_trains_on_an_exported_train_split(tmp_path):
    train = tmp_path / "train.jsonl"
    assert runner.invoke(app, ["data", "generate", "--n", "300", "--out", str(train)]).exit_code == 0
    record, _ = run_eval(EvalRequest(reward="baseline:bow", baseline_train=str(train), suite="probes",
                                     show_progress=False))
    assert record["model"]["train_pairs"] == 300


@pytest.mark.parametrize("args, fragment", [
    (["--suite", "rewardbench"], "unknown generated suite"),
    (["--n", "0"], "positive"),
    (["--split", "dev"], "split"),
    (["--out-is-a-folder"], "folder"),
    (["--out-under-a-file"], "cannot write"),
    (["--json-suffix"], ".jsonl"),
])
def test_cli_export_errors_are_one_line(tmp_path, args, fragment):
    out = tmp_path / "pairs.jsonl"
    if args == ["--out-is-a-folder"]:
        out.mkdir()
        args = []
    elif args == ["--out-under-a-file"]:
        (tmp_path / "file").write_text("x")
        out, args = tmp_path / "file" / "pairs.jsonl", []
    elif args == ["--json-suffix"]:
        out, args = tmp_path / "pairs.json", []
    result = runner.invoke(app, ["data", "generate", "--out", str(out), "--n", "20", *args])
    assert result.exit_code == 2, result.output
    assert result.output.strip().startswith("error:") and "Traceback" not in result.output
    assert fragment in result.output
