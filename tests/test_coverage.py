"""Partial runs say so (record and terminal), driven by the manifest; RewardBench prior-set
files stay whole in the Prior section, as upstream loads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.evals.coverage import coverage, label, notes
from rmbench.evals.sources import _suite_subset
from rmbench.evals.suites import load_suite, parse_suite

runner = CliRunner()
STYLES = ("concise", "detailed plain", "detailed **markdown**")


def rm_bench_file(path: Path, n: int) -> Path:
    records = [{"id": f"{path.stem}-{i}", "subset": "alpacaeval", "prompt": f"question {i}",
                "chosen": [f"right {s}" for s in STYLES], "rejected": [f"wrong, much longer {s}" for s in STYLES]}
               for i in range(n)]
    path.write_text(json.dumps(records))
    return path


@pytest.fixture
def rm_bench_root(tmp_path):
    root = tmp_path / "rm-bench"
    root.mkdir()
    for name in ("chat", "code", "math", "safety-refuse", "safety-response"):
        rm_bench_file(root / f"{name}_filtered.json", 3)
    return root


def eval_cli(*args):
    return runner.invoke(app, ["eval", "--reward", "baseline:length", "--no-progress", *args])


# --------------------------------------------------------------------------------------
# The mechanism, on manifests
# --------------------------------------------------------------------------------------


def test_rm_bench_subsets_missing_make_a_partial_label():
    suite = load_suite("rm-bench")
    cov = coverage(suite, {"chat", "code"}, [], None)
    assert cov["partial"] and cov["missing_subsets"] == ["math", "safety-refuse", "safety-response"]
    assert label(suite, cov) == "rm-bench (partial: chat, code)"
    whole = coverage(suite, {"chat", "code", "math", "safety-refuse", "safety-response"}, [], None)
    assert not whole["partial"] and label(suite, whole) == "rm-bench"


def test_sections_name_what_was_covered_and_limits_are_partial():
    suite = load_suite("rewardbench")
    cov = coverage(suite, {"alpacaeval-easy", "refusals-dangerous", "xstest-should-refuse", "anthropic_hhh"},
                   ["reward-bench-filtered.parquet"], 5)
    assert cov["missing_sections"] == ["Chat Hard", "Reasoning"]
    assert cov["incomplete_sections"] == ["Chat", "Safety"]
    assert cov["unscored_subsets"] == []  # a prior set is scored (Prior Sets), never "missing"
    assert "anthropic_hhh" not in cov["missing_subsets"]
    assert label(suite, cov) == "rewardbench (partial: part of Chat, part of Safety; --limit 5)"


def test_any_new_manifest_gets_the_same_treatment():
    suite = parse_suite({"name": "mine", "sources": [{"file": "all.json"}],
                         "sections": {"A": {"a1": 1, "a2": 1}, "B": {"b": 1}}}, "mine.yaml")
    cov = coverage(suite, {"a1", "a2", "stray"}, [], None)
    assert label(suite, cov) == "mine (partial: A)"
    assert cov["unscored_subsets"] == ["stray"]
    record = {"suite": {"name": "mine"}, "partial": True, "coverage": cov}
    assert notes(record) == ["partial run (sections not evaluated: B; subsets not evaluated: b): this is not the "
                             "mine score", "subsets outside mine's sections (not in its score): stray"]


def test_suites_without_expectations_are_partial_only_when_cut():
    custom = load_suite("demo")
    assert not coverage(custom, {"demo"}, [], 100)["partial"]
    cov = coverage(custom, {"demo"}, ["demo.jsonl"], 3)
    assert cov["partial"] and label(custom, cov) == "demo (partial: --limit 3)"


# --------------------------------------------------------------------------------------
# End to end: results.json and the terminal
# --------------------------------------------------------------------------------------


def test_rm_bench_with_subsets_is_recorded_and_shown_as_partial(rm_bench_root, tmp_path):
    out = tmp_path / "run"
    result = eval_cli("--suite", "rm-bench", "--data-root", str(rm_bench_root), "--subsets", "chat,code",
                      "--out", str(out))
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert record["partial"] is True and record["label"] == "rm-bench (partial: chat, code)"
    assert record["coverage"]["missing_subsets"] == ["math", "safety-refuse", "safety-response"]
    assert record["suite"]["name"] == "rm-bench"  # the suite stays named; the label carries the caveat
    assert "baseline:length on rm-bench (partial: chat, code)" in result.output
    assert "on rm-bench (partial: chat, code), rm-bench rule" in result.output
    assert "partial run (subsets not evaluated: math, safety-refuse, safety-response)" in result.output


def test_a_missing_domain_given_by_data_is_partial(rm_bench_root, tmp_path):
    out = tmp_path / "run"
    result = eval_cli("--suite", "rm-bench", "--data", str(rm_bench_root / "chat_filtered.json"),
                      "--data", str(rm_bench_root / "safety-refuse_filtered.json"), "--out", str(out))
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert set(record["subsets"]) == {"chat", "safety-refuse"}
    assert record["label"] == "rm-bench (partial: chat, safety-refuse)"


def test_the_whole_suite_is_not_partial_and_a_limit_is(rm_bench_root, tmp_path):
    whole = eval_cli("--suite", "rm-bench", "--data-root", str(rm_bench_root), "--out", str(tmp_path / "a"))
    record = json.loads((tmp_path / "a" / "results.json").read_text())
    assert record["partial"] is False and record["label"] == "rm-bench" and "partial" not in whole.output
    loose = eval_cli("--suite", "rm-bench", "--data-root", str(rm_bench_root), "--limit", "3",
                     "--out", str(tmp_path / "b"))
    assert json.loads((tmp_path / "b" / "results.json").read_text())["partial"] is False, loose.output
    eval_cli("--suite", "rm-bench", "--data-root", str(rm_bench_root), "--limit", "2", "--out", str(tmp_path / "c"))
    cut = json.loads((tmp_path / "c" / "results.json").read_text())
    assert cut["partial"] is True and cut["label"] == "rm-bench (partial: --limit 2)"
    assert len(cut["coverage"]["cut_by_limit"]) == 5


# --------------------------------------------------------------------------------------
# RewardBench prior sets
# --------------------------------------------------------------------------------------


def test_a_prior_set_with_its_own_subset_column_stays_whole_in_prior(tmp_path):
    core = [{"id": f"c{i}", "subset": subset, "prompt": "q", "chosen": "a long good answer", "rejected": "no"}
            for i, subset in enumerate(["alpacaeval-easy", "mt-bench-hard", "donotanswer", "math-prm"])]
    # anthropic_hhh carries upstream's own subset column (harmless/helpful/honest/other)
    hhh = [{"prompt": f"p{i}", "chosen": "yes, a longer answer" if i < 3 else "a", "rejected": "no",
            "subset": ("harmless", "helpful", "honest", "other")[i % 4]} for i in range(4)]
    (tmp_path / "core.json").write_text(json.dumps(core))
    (tmp_path / "anthropic_hhh.json").write_text(json.dumps(hhh))
    out = tmp_path / "run"
    result = eval_cli("--suite", "rewardbench", "--data", str(tmp_path / "core.json"),
                      "--data", str(tmp_path / "anthropic_hhh.json"), "--out", str(out))
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert record["subsets"]["anthropic_hhh"]["n"] == 4
    assert not {"harmless", "helpful", "honest", "other"} & set(record["subsets"])
    assert record["sections"]["Prior Sets (0.5 weight)"] == pytest.approx(0.75)
    assert record["score"] == pytest.approx((2 * 4 * 1.0 + 0.75) / 9)
    assert record["coverage"]["unscored_subsets"] == []


def test_prior_sets_by_file_name_or_hub_split():
    suite = load_suite("rewardbench")
    assert _suite_subset(suite, "dl/anthropic_hhh.parquet", None) == ("anthropic_hhh", None)
    assert _suite_subset(suite, "allenai/pref-test-sets", "shp") == ("shp", None)
    assert _suite_subset(suite, "reward-bench-filtered.parquet", None) == (None, "trl")
    assert _suite_subset(suite, "mine.json", None) == (None, None)
    llmbar = load_suite("llmbar")
    assert _suite_subset(llmbar, "/x/natural.json", None) == ("llmbar-natural", "llmbar")


def test_notes_stay_one_line_whatever_the_ids_hold():
    record = {"suite": {"name": "custom"}, "partial": False, "coverage": {},
              "skipped": {"count": 1, "by_reason": {"bad-value": 1}, "ids": ["a\nb[/red]"]}}
    (line,) = notes(record)
    assert "a\\nb[/red]" in line and "\n" not in line
