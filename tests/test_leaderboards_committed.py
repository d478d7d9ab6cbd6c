"""The boards committed under leaderboards/ regenerate byte-for-byte from their committed records.

Each board (leaderboards/<board>/board.md and board.html) was rendered by leaderboards/generate.sh
with `rmbench leaderboard leaderboards/<board>/records ...`; this reruns that exact command on the
committed records and compares. When it fails after a change to the leaderboard code, re-render the
boards (`BOARDS_ONLY=1 leaderboards/generate.sh`) and commit them if the change was meant.
The records themselves must stay records: our ids and scores, never copies of the shared data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app

ROOT = Path(__file__).resolve().parents[1]
LEADERBOARDS = ROOT / "leaderboards"
GENERATE = LEADERBOARDS / "generate.sh"
# Extra `rmbench leaderboard` flags per board, as generate.sh passes them.
BOARDS = {"probes": [], "llmbar": [], "rm-bench": [], "pipeline": ["--split-versions"]}
# Boards over public data sets that must not be copied into the project: rows hold ids and scores only.
SHARED_DATA_BOARDS = ("llmbar", "rm-bench")
ROW_KEYS = {"id", "subset", "chosen_scores", "rejected_scores", "correct", "ties", "truncated", "outcomes",
            "verdicts"}
RECORD_FILES = {"results.json", "scores.jsonl"}
PIPELINE_METADATA = {"rmbench-run.json", "rmbench.json"}  # run name, method and step: the board's labels


def _generate_setting(name: str) -> str:
    match = re.search(rf"^{name}=\$\{{{name}:-(\w+)\}}", GENERATE.read_text(), re.MULTILINE)
    assert match, f"{GENERATE} no longer sets {name}=${{{name}:-...}}; update this test"
    return match.group(1)


def _records(board: str) -> Path:
    records = LEADERBOARDS / board / "records"
    if not records.is_dir():
        pytest.skip(f"leaderboards/{board}/records is absent: run leaderboards/generate.sh {board}")
    return records


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("fmt", ["md", "html"])
def test_board_regenerates_from_its_records(board, fmt, tmp_path, monkeypatch):
    _records(board)
    committed = LEADERBOARDS / board / f"board.{fmt}"
    assert committed.is_file(), f"{committed} is missing: run BOARDS_ONLY=1 leaderboards/generate.sh {board}"
    monkeypatch.chdir(ROOT)  # records are named by the same relative path as generate.sh names them
    out = tmp_path / f"board.{fmt}"
    args = ["leaderboard", f"leaderboards/{board}/records", "--resamples", _generate_setting("RESAMPLES"),
            "--seed", "0", *BOARDS[board], "--format", fmt, "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == committed.read_bytes(), (
        f"leaderboards/{board}/board.{fmt} no longer regenerates from its records (rmbench {' '.join(args)}); "
        f"if the leaderboard code changed on purpose, run BOARDS_ONLY=1 leaderboards/generate.sh {board}")


@pytest.mark.parametrize("board", BOARDS)
def test_records_are_records_only(board):
    records = _records(board)
    allowed = RECORD_FILES | (PIPELINE_METADATA if board == "pipeline" else set())
    for path in records.rglob("*"):
        relative = path.relative_to(LEADERBOARDS)
        assert not path.name.startswith("."), f"{relative}: caches and hidden files are not committed"
        if path.is_file():
            assert path.name in allowed, f"{relative}: only {', '.join(sorted(allowed))} belong in records"
            assert path.stat().st_size < 1_000_000, f"{relative}: too big for a committed record"


@pytest.mark.parametrize("board", SHARED_DATA_BOARDS)
def test_shared_data_is_not_copied(board):
    """LLMBar and RM-Bench stay in ../shared/data: their records keep ids, verdicts and scores, no text."""
    for scores in sorted(_records(board).rglob("scores.jsonl")):
        for number, line in enumerate(scores.read_text(encoding="utf-8").splitlines(), 1):
            row = json.loads(line)
            extra = set(row) - ROW_KEYS
            assert not extra, f"{scores}, line {number}: unexpected fields {sorted(extra)} (copied data?)"
            assert len(str(row["id"])) < 64, f"{scores}, line {number}: an id that long may be copied text"
