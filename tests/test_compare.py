"""Paired comparisons on a board: exact McNemar, Holm over every pair x subset, Cohen's kappa,
the examples every entry gets wrong, and how `rmbench leaderboard --detail` shows them."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.leaderboard.compare import cohen_kappa, exact_mcnemar, holm
from tests.test_leaderboard import XSS, pairwise_record

runner = CliRunner()


def test_holm_on_known_pvalues():
    # sorted: .005*4 = .02, .01*3 = .03, .03*2 = .06, .04*1 = .04 -> monotone .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([]) == []


@pytest.mark.parametrize(("a_only", "b_only"), [(0, 0), (0, 5), (3, 9), (10, 10), (1, 20), (40, 17)])
def test_mcnemar_is_the_exact_binomial(a_only, b_only):
    scipy_stats = pytest.importorskip("scipy.stats")
    expected = 1.0 if a_only + b_only == 0 else scipy_stats.binomtest(a_only, a_only + b_only, 0.5).pvalue
    assert exact_mcnemar(a_only, b_only) == pytest.approx(expected, rel=1e-9)


def test_mcnemar_by_hand():
    assert exact_mcnemar(0, 5) == pytest.approx(2 / 32)  # both tails of Bin(5, 1/2) at the extremes
    assert exact_mcnemar(1, 4) == pytest.approx(2 * 6 / 32)


def test_cohen_kappa_by_hand():
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)  # po .75, pe .5
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)
    assert cohen_kappa([1, 1], [1, 1]) is None  # nothing to agree about beyond chance
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    x, y = [1, 0.5, 0, 1, 1, 0, 0.5, 1], [1, 0, 0, 0.5, 1, 0, 0.5, 0]
    assert cohen_kappa(x, y) == pytest.approx(sklearn_metrics.cohen_kappa_score([str(v) for v in x],
                                                                                [str(v) for v in y]))


def _board(tmp_path):
    root = tmp_path / "records"
    n = 200
    pairwise_record(root / "strong", "strong", [i % 10 != 0 for i in range(n)])  # wrong on i % 10 == 0
    pairwise_record(root / "twin-a", "twin-a", [i < 120 for i in range(n)])
    pairwise_record(root / "twin-b", XSS, [i >= 80 for i in range(n)])
    pairwise_record(root / "weak", "weak", [i % 10 not in (0, 1, 2, 3, 4, 5) for i in range(n)], kind="baseline")
    return root


def test_leaderboard_detail_json_says_which_wins_survive(tmp_path):
    result = runner.invoke(app, ["leaderboard", str(_board(tmp_path)), "--format", "json", "--detail",
                                 "--resamples", "200"])
    assert result.exit_code == 0, result.output
    comparisons = json.loads(result.output)["boards"][0]["comparisons"]
    assert comparisons["family"] == 6  # 4 entries -> 6 pairs, one subset each
    survivors = {(w["winner"], w["loser"]) for w in comparisons["surviving"]}
    assert ("strong", "weak") in survivors and ("strong", "twin-a") in survivors
    assert not {("twin-a", XSS), (XSS, "twin-a")} & survivors  # 40 vs 40 discordant: a draw
    twins = next(p for p in comparisons["pairs"] if {p["a"], p["b"]} == {"twin-a", XSS})
    assert twins["subsets"][0]["a_better"] == twins["subsets"][0]["b_better"] == 80
    assert all(w["p_holm"] >= w["p"] for w in comparisons["surviving"])
    assert comparisons["all_wrong"] == []  # the twins' wrong examples do not overlap
    assert set(comparisons["analysis"]) == {"strong", "twin-a", XSS, "weak"}
    assert comparisons["analysis"]["strong"]["ece"] is not None  # computed from rows for records without it


def test_examples_every_entry_gets_wrong_are_listed(tmp_path):
    root = tmp_path / "records"
    pairwise_record(root / "a", "a", [i not in (3, 7) for i in range(30)])
    pairwise_record(root / "b", "b", [i not in (3, 7, 9) for i in range(30)])
    result = runner.invoke(app, ["leaderboard", str(root), "--format", "md", "--detail", "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert "Examples every entry gets wrong: 2 of 30: s/ex-0003, s/ex-0007" in result.output.replace("\\", "")


def test_markdown_and_terminal_escape_names(tmp_path):
    root = _board(tmp_path)
    md = runner.invoke(app, ["leaderboard", str(root), "--format", "md", "--detail", "--resamples", "200"])
    assert md.exit_code == 0, md.output
    assert "### Paired comparisons" in md.output and "after Holm over 6 tests" in md.output
    assert XSS not in md.output and r"\<script\>" in md.output
    plain = runner.invoke(app, ["leaderboard", str(root), "--detail", "--resamples", "200"])
    assert plain.exit_code == 0, plain.output
    assert "wins that survive correction" in plain.output and "Cohen's kappa" in plain.output


def test_html_page_with_detail_shows_the_comparisons_escaped(tmp_path):
    page = tmp_path / "board.html"
    result = runner.invoke(app, ["leaderboard", str(_board(tmp_path)), "--out", str(page), "--detail",
                                 "--resamples", "200"])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "<h3>Paired comparisons</h3>" in text and "after Holm over 6 tests" in text
    assert "Cohen&#x27;s kappa" in text or "Cohen's kappa" in text
    assert "<script>alert(1)</script>" not in text.split('<script type="application/json"')[0]
