"""Output that is not a terminal (a log, CI, CliRunner) prints tables whole: no cell cut to "…"."""

from __future__ import annotations

from typer.testing import CliRunner

from rmbench.cli import app
from tests.conftest import PAIRS, write_jsonl

LONG = "helpfulness-and-harmlessness-of-long-multi-turn-conversations-about-cooking"


def test_tables_are_not_cut_to_80_columns_off_a_terminal(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", [{**pair, "subset": LONG} for pair in PAIRS])
    result = CliRunner().invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data),
                                      "--out", str(tmp_path / "out")], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    table = [line for line in result.output.splitlines() if LONG in line]
    assert table and "…" not in result.output, result.output
    assert max(len(line) for line in table) > 80  # the row is wider than rich's default guess


def test_columns_still_sets_the_width(tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", [{**pair, "subset": LONG} for pair in PAIRS])
    result = CliRunner().invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data),
                                      "--out", str(tmp_path / "out")], env={"COLUMNS": "60"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 60


def test_rules_stay_80_wide_in_a_log(monkeypatch):
    import io

    from rich.table import Table

    from rmbench.terminal import _Console

    monkeypatch.delenv("COLUMNS", raising=False)
    log = io.StringIO()
    console = _Console(file=log, emoji=False)
    console.rule("stage")
    table = Table("entry")
    table.add_row("x" * 150)
    console.print(table)
    lines = log.getvalue().splitlines()
    assert len(lines[0]) == 80 and "stage" in lines[0]
    assert any("x" * 150 in line for line in lines)
