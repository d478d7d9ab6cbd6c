"""Two kinds of records left out: skipped (malformed: counted, an error under --strict) and
excluded (well formed, left out by the benchmark's own rules, as PPE leaves out ties:
counted and listed apart, never an error). rmbench.data.skips has the policy."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data import load_preferences
from rmbench.data.skips import ExcludeRecord, SkipLog, SkipRecord, StrictSkipError
from rmbench.trainers import data as train_data
from tests.test_suites_ppe import (
    BENCHMARKS,
    CORRECTNESS_FILE,
    HUMAN_FILE,
    human_rows,
    write_correctness,
    write_human,
    write_parquet,
)

runner = CliRunner()


def eval_ppe(suite: str, root, *extra: str):
    return runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", suite, "--data-root", str(root),
                               "--no-progress", *extra])


def test_an_exclusion_is_counted_apart_and_never_a_strict_error():
    log = SkipLog(strict=True)
    log.add(ExcludeRecord("tie", "a tie", where="f record 3", id="q3"))
    log.add(ExcludeRecord("tie", "a tie", where="f record 5", id="q5"))
    assert (log.count, log.excluded.count, log.excluded.ids) == (0, 2, ["q3", "q5"])
    assert log.records()["excluded"]["by_reason"] == {"tie": 2} and log.records()["skipped"]["count"] == 0
    with pytest.raises(StrictSkipError, match="f record 7: no answer .reason: bad-value"):
        log.add(SkipRecord("bad-value", "no answer", where="f record 7", id="q7"))
    lenient = SkipLog()
    lenient.add(SkipRecord("bad-value", "no answer", id="q7"))
    lenient.merge(log)
    assert lenient.summary() == ("skipped 1 record (bad-value 1); --strict makes this an error; "
                                 "excluded 2 records by the benchmark's rules (tie 2)")


def test_strict_ppe_human_runs_and_reports_the_ties_it_excluded(tmp_path):
    rows = human_rows(12)  # winners cycle model_a, model_b, tie, tie (bothbad)
    write_human(tmp_path / "data", rows)
    out = tmp_path / "out"
    result = eval_ppe("ppe-human", tmp_path / "data", "--strict", "--out", str(out))
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    ties = [r["question_id"] for r in rows if r["winner"].startswith("tie")]
    assert record["excluded"]["count"] == 6 and record["excluded"]["by_reason"] == {"tie": 6}
    assert sorted(record["excluded"]["ids"]) == sorted(ties)
    assert "winner is 'tie'" in record["excluded"]["first"]["tie"]
    assert record["skipped"]["count"] == 0 and record["config"]["strict"] is True
    assert sum(s["n"] for s in record["subsets"].values()) == 6
    line = next(line for line in result.output.splitlines() if "excluded" in line)
    assert "excluded 6 records by the benchmark's rules (tie 6)" in line and ties[0] in line
    assert "not an error" in line and "skipped" not in line


@pytest.mark.parametrize(("field", "value", "words"), [
    ("response_2", None, "missing key 'response_2'"),  # a decisive battle with a broken response
    ("winner", "model_c", "'model_c'"),                # a winner PPE does not know
])
def test_strict_ppe_human_still_refuses_a_malformed_record(field, value, words, tmp_path):
    rows = human_rows(8)
    rows[4][field] = value  # record 4 is a model_a win
    write_human(tmp_path / "data", rows)
    result = eval_ppe("ppe-human", tmp_path / "data", "--strict", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "record 4" in lines[0], result.output
    assert "without --strict" in lines[0] and "Traceback" not in result.output
    lenient = eval_ppe("ppe-human", tmp_path / "data", "--out", str(tmp_path / "lenient"))
    assert lenient.exit_code == 0, lenient.output
    record = json.loads((tmp_path / "lenient" / "results.json").read_text())
    assert record["skipped"]["ids"] == ["q0004"] and record["excluded"]["by_reason"] == {"tie": 4}


def test_a_tie_with_a_broken_response_is_malformed_not_excluded(tmp_path):
    rows = human_rows(8)
    rows[2]["response_1"] = None  # record 2 is a tie
    examples = load_preferences(str(write_human(tmp_path, rows)), skips=(log := SkipLog()))
    assert len(examples) == 4 and log.by_reason == {"missing-field": 1} and log.excluded.by_reason == {"tie": 3}


def test_strict_ppe_correctness_excludes_prompts_without_a_pair(tmp_path):
    files = write_correctness(tmp_path / "data", per_benchmark=3, k=8)
    rows = files["math"]
    rows[0]["scores"], rows[1]["scores"] = [False] * 8, [True] * 8
    write_parquet(tmp_path / "data" / BENCHMARKS["math"] / CORRECTNESS_FILE, rows)
    out = tmp_path / "out"
    result = eval_ppe("ppe-correctness", tmp_path / "data", "--strict", "--out", str(out))
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    assert record["excluded"]["by_reason"] == {"no-correct": 1, "no-incorrect": 1}
    assert record["skipped"]["count"] == 0 and record["subsets"]["math"]["n"] == 1

    rows[2]["scores"][3] = None  # malformed: not a boolean
    write_parquet(tmp_path / "data" / BENCHMARKS["math"] / CORRECTNESS_FILE, rows)
    refused = eval_ppe("ppe-correctness", tmp_path / "data", "--strict")
    assert refused.exit_code == 2 and "scores[3] is None" in refused.output, refused.output


def test_a_file_of_ties_only_is_one_line_saying_so(tmp_path):
    write_human(tmp_path / "data", human_rows(4, winners=("tie",)))
    result = eval_ppe("ppe-human", tmp_path / "data", "--strict")
    assert result.exit_code == 2 and "excluded by the benchmark's rules" in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1


def test_training_data_keeps_exclusions_apart_under_strict(tmp_path):
    """Training reads PPE battles as eval does: ties are excluded, not a --strict error."""
    path = write_human(tmp_path, human_rows(8))
    log = SkipLog(strict=True)
    examples = train_data.load_for("preference", [str(path)], None, None, log)
    assert len(examples) == 4 and log.count == 0 and log.excluded.by_reason == {"tie": 4}
    assert str(path).endswith(HUMAN_FILE)


def test_ppe_ties_are_excluded_from_scoring_but_still_serve_as_policy_prompts(tmp_path):
    from rmbench.evals.prompts import load_prompts

    rows = human_rows(8)  # winners cycle model_a, model_b, tie, tie (bothbad)
    rows[5]["response_2"] = None  # a decisive battle with a broken answer: a skip either way
    path = write_human(tmp_path, rows)
    log = SkipLog()
    examples = load_preferences(str(path), skips=log)
    assert len(examples) == 3 and log.excluded.by_reason == {"tie": 4}

    log = SkipLog()
    prompts = {p.id: p for p in load_prompts(str(path), skips=log)}
    assert sorted(prompts) == sorted(r["question_id"] for i, r in enumerate(rows) if i != 5)  # ties included
    assert log.excluded.count == 0 and log.by_reason == {"missing-field": 1}
    tie, both_bad = prompts["q0002"], prompts["q0003"]
    assert tie.prompt == [{"role": "user", "content": "question 2?"}] and tie.subset == rows[2]["language"]
    assert tie.references == [rows[2]["response_1"], rows[2]["response_2"]]  # both answers were as good
    assert both_bad.references == []  # "tie (bothbad)": neither is a reference
    assert prompts["q0000"].references == [rows[0]["response_1"]]  # model_a won
