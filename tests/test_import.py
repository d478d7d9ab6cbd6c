"""`rmbench import`: published per-example outputs become records the leaderboard ranks, with
the suite's own figures (JudgeBench's two-order rule on JudgeBench's own output rows)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from tests.conftest import write_jsonl
from tests.test_suites_judgebench import JB_FILE, jb_pairs, upstream_accuracy, upstream_rm_judgments

runner = CliRunner()
COMMITTED = Path(__file__).resolve().parents[1] / "leaderboards" / "judgebench"


def _outputs(pairs: list[dict], seed: int, judge: bool = False) -> list[dict]:
    """JudgeBench output rows as run_judge.py writes them: the pair plus `judgments`."""
    rng = random.Random(seed)
    rows = []
    for p in pairs:
        if judge:  # a prompted judge: decisions only, sometimes none
            judgments = [{"decision": rng.choice(["A>B", "B>A", "A=B"])} if rng.random() > 0.1 else None
                         for _ in range(2)]
        else:
            judgments = upstream_rm_judgments(rng.choice([0.0, 1.0, 2.0]), rng.choice([0.0, 1.0, 2.0]))
        rows.append({**p, "judge_name": "reward_model", "judgments": judgments})
    return rows


def _data(tmp_path: Path, pairs: list[dict]) -> None:
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / JB_FILE, pairs)


def _import(tmp_path, fmt, file, out, *extra):
    return runner.invoke(app, ["import", fmt, str(file), "--suite", "judgebench", "--data-root", str(tmp_path / "data"),
                               "--out", str(out), *extra])


@pytest.mark.parametrize("judge", [False, True])
def test_judgebench_outputs_import_with_upstreams_accuracy(tmp_path, judge):
    pairs = jb_pairs(80, seed=5)
    _data(tmp_path, pairs)
    outputs = _outputs(pairs, seed=6, judge=judge)
    file = write_jsonl(tmp_path / "outputs.jsonl", outputs)
    result = _import(tmp_path, "judgebench", file, tmp_path / "imported", "--model", "some-rm")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "imported" / "results.json").read_text())
    assert 100 * record["score"] == pytest.approx(upstream_accuracy(outputs))
    assert record["model"]["name"] == "some-rm" and not record["partial"]
    # an rmbench run on the same data carries the same data hash: the two rank on one board
    scored = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "judgebench", "--data-root",
                                 str(tmp_path / "data"), "--out", str(tmp_path / "boards" / "length")])
    assert scored.exit_code == 0, scored.output
    shutil.copytree(tmp_path / "imported", tmp_path / "boards" / "imported")
    board = runner.invoke(app, ["leaderboard", str(tmp_path / "boards"), "--format", "json", "--resamples", "200",
                                "--out", str(tmp_path / "board.json")])
    assert board.exit_code == 0, board.output
    boards = json.loads((tmp_path / "board.json").read_text())["boards"]
    assert len(boards) == 1, [b["title"] for b in boards]
    assert {e["label"] for e in boards[0]["entries"]} == {"some-rm", "baseline:length"}


def test_plain_scores_and_unknown_id(tmp_path):
    pairs = jb_pairs(10, seed=7)
    _data(tmp_path, pairs)
    rows = [{"id": p["pair_id"], "chosen_scores": [1.0], "rejected_scores": [0.0 if i % 2 else 2.0]}
            for i, p in enumerate(pairs)]
    result = _import(tmp_path, "scores", write_jsonl(tmp_path / "s.jsonl", rows), tmp_path / "out")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["score"] == pytest.approx(0.5)
    rows[3]["id"] = "no-such-pair"
    bad = _import(tmp_path, "scores", write_jsonl(tmp_path / "bad.jsonl", rows), tmp_path / "out2")
    assert bad.exit_code == 2 and "'no-such-pair'" in bad.output and "Traceback" not in bad.output
    again = _import(tmp_path, "scores", tmp_path / "s.jsonl", tmp_path / "out")
    assert again.exit_code == 2 and "already holds a record" in again.output


def test_committed_judgebench_board_regenerates(tmp_path):
    out = tmp_path / "board.md"
    result = runner.invoke(app, ["leaderboard", str(COMMITTED / "records"), "--resamples", "1000", "--seed", "0",
                                 "--format", "md", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == (COMMITTED / "board.md").read_text(), \
        "run BOARDS_ONLY=1 leaderboards/judgebench/generate.sh if the rendering changed on purpose"


def test_rewardbench_per_example_rows(tmp_path):
    """allenai/reward-bench's per-example output: id, subset, scores_chosen, scores_rejected, results."""
    (tmp_path / "data").mkdir()
    subsets = ["alpacaeval-easy", "mt-bench-hard", "donotanswer", "hep-go", "math-prm", "xstest-should-respond"]
    rows = [{"id": i, "prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}", "subset": subsets[i % 6]}
            for i in range(24)]
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), tmp_path / "data" / "reward-bench-filtered.parquet")
    outputs = [{"id": r["id"], "subset": r["subset"], "scores_chosen": [float(i % 3)], "scores_rejected": [1.0],
                "results": int(i % 3 > 1)} for i, r in enumerate(rows)]
    file = write_jsonl(tmp_path / "rb.jsonl", outputs)
    result = runner.invoke(app, ["import", "rewardbench", str(file), "--suite", "rewardbench", "--data-root",
                                 str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "out" / "scores.jsonl").read_text().splitlines()]
    by_id = {row["id"]: row["correct"] for row in lines}
    assert by_id == {str(o["id"]): float(o["results"]) for o in outputs}  # upstream's own 0/1 per example
