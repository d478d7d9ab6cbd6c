"""`rmbench report`: the page and the Markdown from a record alone, texts reloaded only on
request (and only when the data is the data that was scored), names escaped everywhere."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data.schema import PreferenceExample
from rmbench.evals.suites import Suite
from tests.test_leaderboard import PROMPT, XSS, write_record

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
IMG = '<img src=x onerror="document.title=1">'


def pairs_file(path: Path, n: int = 40) -> Path:
    with path.open("w") as f:
        for i in range(n):
            short, long = f"ok {i}", f"a much longer answer number {i} " * (1 + i % 3)
            chosen, rejected = (long, short) if i % 4 else (short, long)
            f.write(json.dumps({"prompt": f"question {i}?", "chosen": chosen, "rejected": rejected}) + "\n")
    return path


def evaluated(tmp_path: Path, reward: str = "baseline:length") -> tuple[Path, Path]:
    data = pairs_file(tmp_path / "pairs.jsonl")
    out = tmp_path / "record"
    result = runner.invoke(app, ["eval", "--reward", reward, "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return data, out


def report(*args) -> tuple:
    result = runner.invoke(app, ["report", *map(str, args)])
    return result


def test_report_from_a_record_alone(tmp_path):
    _, record = evaluated(tmp_path)
    page = tmp_path / "out" / "report.html"
    result = report(record, "--out", page)
    assert result.exit_code == 0, result.output
    text = page.read_text()
    for figure in ("scores", "length-bias", "reliability", "histogram"):
        assert f'data-figure="{figure}"' in text
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "Texts are not kept in records" in text  # ids only without --texts
    md = page.with_suffix(".md").read_text()
    # baseline:length on pairs whose chosen answer is longer 3 times in 4: maximally biased, chance once controlled
    assert "| all subsets | 75.0% | 100.0% | 0.0% | 1.00 | 50.0% | 1.00 |" in md
    assert "Calibration: ECE" in md


def test_old_record_says_lengths_unavailable_and_texts_restore_them(tmp_path):
    data, record = evaluated(tmp_path, "baseline:random")
    scores = record / "scores.jsonl"
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    scores.write_text("".join(json.dumps({k: v for k, v in r.items() if not k.endswith("_chars")}) + "\n"
                              for r in rows))
    page = tmp_path / "old.html"
    assert report(record, "--out", page).exit_code == 0
    assert "lengths unavailable" in page.read_text() and "lengths unavailable" in page.with_suffix(".md").read_text()

    result = report(record, "--out", page, "--texts")
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert 'data-figure="length-bias"' in text and "lengths unavailable" not in text
    assert "question " in text and "<pre>" in text  # the worst mistakes show their prompt and answers

    data.write_text(data.read_text().replace("question 3?", "question three?"))  # the data changed since
    changed = report(record, "--out", page, "--texts")
    assert changed.exit_code == 2 and "is not the data this record scored" in changed.output


def test_style_matrix_heat_map_and_escaped_names(tmp_path):
    styles = {"styles": ["concise", "detailed_plain", "detailed_markdown"]}
    examples = [PreferenceExample(f"{XSS}-{i}", XSS, PROMPT, ["a", "bb", "ccc"], ["x", "yy", "zzz"], dict(styles))
                for i in range(6)]
    chosen = [[3.0, 2.0, 1.0 + i] for i in range(6)]
    rejected = [[0.5, 2.5, 1.5] for _ in range(6)]
    write_record(tmp_path / "rec", IMG, examples, chosen, rejected, Suite(name="custom"))
    page = tmp_path / "r.html"
    result = report(tmp_path / "rec", "--out", page)
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert 'data-figure="heat-map"' in text
    assert XSS not in text and IMG not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    md = page.with_suffix(".md").read_text()
    assert XSS not in md and r"\<script\>" in md


def test_unwritable_out_is_one_line():
    record = REPO / "leaderboards" / "llmbar" / "records" / "smollm2-judge"
    result = report(record, "--out", "/dev/null/x.html")
    assert result.exit_code == 2 and "cannot write" in result.output and "/dev/null/x.html" in result.output


def test_out_never_overwrites_the_record(tmp_path):
    _, record = evaluated(tmp_path)
    before = (record / "results.json").read_text()
    for name in ("results.json", "scores.jsonl"):
        result = report(record, "--out", record / name)
        assert result.exit_code == 2 and "would overwrite the record" in result.output
    assert (record / "results.json").read_text() == before


def test_judge_record_page(tmp_path):
    record = REPO / "leaderboards" / "llmbar" / "records" / "smollm2-judge"
    page = tmp_path / "judge.html"
    result = report(record, "--out", page)
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "same answer both orders" in text and "data-figure=\"reliability\"" not in text
    assert "Judge order consistency: 0.0% of 100 decided comparisons" in page.with_suffix(".md").read_text()


def test_a_run_folder_gives_one_section_per_record(tmp_path):
    pairs_file(tmp_path / "pairs.jsonl")
    for name in ("length", "random"):
        result = runner.invoke(app, ["eval", "--reward", f"baseline:{name}", "--data", str(tmp_path / "pairs.jsonl"),
                                     "--out", str(tmp_path / "run" / name)])
        assert result.exit_code == 0, result.output
    page = tmp_path / "run.html"
    assert report(tmp_path / "run", "--out", page).exit_code == 0
    text = page.read_text()
    assert 'id="record-0"' in text and 'id="record-1"' in text and text.count("<section") == 2


def test_nothing_to_report_is_one_line(tmp_path):
    result = report(tmp_path, "--out", tmp_path / "x.html")
    assert result.exit_code == 2 and "no results.json" in result.output


def test_a_partial_record_is_never_reported_under_the_bare_suite_name(tmp_path):
    data = pairs_file(tmp_path / "pairs.jsonl")
    out = tmp_path / "record"
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data), "--limit", "10",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = tmp_path / "report.html"
    assert report(out, "--out", page).exit_code == 0
    assert "(partial: --limit 10)" in page.with_suffix(".md").read_text()
    assert "(partial: --limit 10)" in page.read_text()
