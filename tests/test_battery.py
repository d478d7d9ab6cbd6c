"""`rmbench eval --suite battery`: every suite whose data is reachable, one scorer, one score
cache, one record per suite, a summary and one table; unreachable suites listed with why."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from typer.testing import CliRunner

from rmbench import battery
from rmbench.cli import app
from tests.conftest import write_jsonl
from tests.test_suites_judgebench import JB_FILE, jb_pairs
from tests.test_suites_m_rewardbench import write_languages
from tests.test_suites_ppe import human_rows, write_correctness, write_human
from tests.test_suites_rmb import write_tree

runner = CliRunner()
LLMBAR_FILES = ["natural.json", "adversarial_neighbor.json", "adversarial_gptinst.json", "adversarial_gptout.json",
                "adversarial_manual.json"]


def data_root(root: Path) -> Path:
    """One folder per suite, each in its upstream format (RM-Bench: chat only -> partial)."""
    pairs = jb_pairs(12, seed=9)
    (root / "judgebench").mkdir(parents=True)
    write_jsonl(root / "judgebench" / JB_FILE, pairs)
    write_tree(root / "rmb", n=4)
    (root / "llmbar").mkdir()
    for n, name in enumerate(LLMBAR_FILES):
        rows = [{"input": f"llmbar {name} question {i}", "output_1": f"good answer {i}" + "!" * n,
                 "output_2": f"bad {i}", "label": 1 + i % 2} for i in range(4)]
        if n == 0:  # the same prompt and answers as a JudgeBench pair: scored once across suites
            first = pairs[0]
            rows.append({"input": first["question"], "output_1": first["response_A"], "output_2": first["response_B"],
                         "label": 1 if first["label"] == "A>B" else 2})
        (root / "llmbar" / name).write_text(json.dumps(rows))
    (root / "rm-bench").mkdir()
    (root / "rm-bench" / "chat_filtered.json").write_text(json.dumps([
        {"id": f"c{i}", "prompt": f"chat {i}", "chosen": [f"yes {i}", f"yes yes {i}", f"**yes** {i}"],
         "rejected": [f"no {i}", f"no no {i}", f"**no** {i}"], "subset": "alpacaeval"} for i in range(5)]))
    write_languages(root / "m-rewardbench", sources=("alpacaeval-easy", "hep-go"), per_source=1)
    write_human(root / "ppe-human", human_rows(6, seed=2))
    write_correctness(root / "ppe-correctness", per_benchmark=2, k=4)
    (root / "rewardbench").mkdir()
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist([
        {"id": i, "prompt": f"rb question {i}", "chosen": f"a good long answer {i}", "rejected": f"bad {i}",
         "subset": subset} for i, subset in enumerate(["alpacaeval-easy", "mt-bench-hard", "donotanswer", "hep-go"])]),
        root / "rewardbench" / "reward-bench-filtered.parquet")
    (root / "rewardbench2").mkdir()
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist([
        {"id": str(i), "prompt": f"rb2 question {i}", "chosen": [f"right {i}"],
         "rejected": [f"wrong {i}", f"wrong answer {i}", f"very wrong {i}"], "num_correct": 1, "subset": subset}
        for i, subset in enumerate(["Factuality", "Math", "Safety", "Focus", "Precise IF"])]),
        root / "rewardbench2" / "reward-bench-2-test.parquet")
    return root


def test_battery_cli_every_format(tmp_path):
    root = data_root(tmp_path / "data")
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "battery", "--data-root", str(root),
                                 "--out", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "battery.json").read_text())
    assert summary["scored"] == list(battery.BATTERY) and summary["unreachable"] == {}
    lines = {line["suite"]: line for line in summary["suites"]}
    for name in battery.BATTERY:
        record = json.loads((tmp_path / "out" / name / "results.json").read_text())
        assert record["suite"]["name"] == name and (tmp_path / "out" / name / "scores.jsonl").is_file()
        assert lines[name]["score"] == pytest.approx(record["score"])
        low, high = lines[name]["ci95"]
        assert low <= record["score"] <= high
        assert lines[name]["n"] == sum(s["n"] for s in record["subsets"].values())
        assert name in result.output
    assert lines["rm-bench"]["partial"] and "partial" in lines["rm-bench"]["label"]
    assert lines["m-rewardbench"]["n"] == 23 * 2
    assert lines["judgebench"]["n"] == 12
    for name in battery.BATTERY:  # ordinary records: the leaderboard checks every line by the suite's own rule
        board = runner.invoke(app, ["leaderboard", str(tmp_path / "out" / name), "--format", "md",
                                    "--resamples", "100", "--out", str(tmp_path / f"{name}.md")])
        assert board.exit_code == 0, board.output
    scores = tmp_path / "out" / "rmb" / "scores.jsonl"
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    flipped = next(row for row in rows if row["subset"].startswith("BoN_set"))
    flipped["correct"] = 1.0 - flipped["correct"]
    scores.write_text("".join(json.dumps(row) + "\n" for row in rows))
    tampered = runner.invoke(app, ["leaderboard", str(tmp_path / "out" / "rmb"), "--resamples", "100"])
    assert tampered.exit_code == 2 and "rmb_bon" in tampered.output


def test_unreachable_suites_are_listed_with_why(tmp_path):
    root = data_root(tmp_path / "data")
    for name in ("rmb", "llmbar"):
        for path in sorted((root / name).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (root / name).rmdir()
    result = runner.invoke(app, ["eval", "--reward", "baseline:random", "--suite", "battery", "--data-root", str(root),
                                 "--out", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "battery.json").read_text())
    assert set(summary["unreachable"]) == {"rmb", "llmbar"}
    assert "rmb is absent, and its manifest names no hub id" in summary["unreachable"]["rmb"]
    assert "RMB_dataset" in summary["unreachable"]["rmb"]
    assert "unreachable" in result.output
    assert not (tmp_path / "out" / "rmb").exists() and not (tmp_path / "out" / "llmbar").exists()  # no empty folders


def test_one_model_load_and_one_cache_across_suites(tmp_path, tiny_rm, monkeypatch):
    root = data_root(tmp_path / "data")
    built = []
    real = battery.build_scorer

    def counting(*args, **kwargs):
        built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(battery, "build_scorer", counting)
    result = runner.invoke(app, ["eval", "--reward", str(tiny_rm), "--allow-random-head", "--suite", "battery",
                                 "--data-root", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(built) == 1
    timing = json.loads((tmp_path / "out" / "llmbar" / "results.json").read_text())["timing"]
    # the two LLMBar answers shared with a JudgeBench pair come from the cache judgebench filled
    assert timing["from_cache"] == 2 and timing["scored"] == timing["unique_completions"] - 2
    judgebench = {row["id"]: row for row in map(json.loads, (tmp_path / "out" / "judgebench" / "scores.jsonl")
                                                .read_text().splitlines())}
    llmbar = [json.loads(line) for line in (tmp_path / "out" / "llmbar" / "scores.jsonl").read_text().splitlines()]
    shared = next(row for row in llmbar if row["subset"] == "llmbar-natural" and row["id"].endswith("-4"))
    first = judgebench[jb_pairs(12, seed=9)[0]["pair_id"]]
    assert (shared["chosen_scores"], shared["rejected_scores"]) == (first["chosen_scores"], first["rejected_scores"])


def test_battery_needs_out_and_whole_suites(tmp_path):
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "battery"])
    assert result.exit_code == 2 and "--out" in result.output
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "battery", "--subsets", "x",
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "whole suites" in result.output
