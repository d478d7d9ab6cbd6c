"""Length bias, calibration and judge order consistency, against hand-computed values, and
the baselines that set the scale: baseline:length reads maximally biased, baseline:random not."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.evals.analysis import analyze, calibration, comparisons, fit_temperature, length_bias

runner = CliRunner()


def row(i, subset, chosen, rejected, c_len, r_len):
    return {"id": str(i), "subset": subset, "chosen_scores": [chosen], "rejected_scores": [rejected],
            "correct": float(chosen > rejected), "ties": 0, "truncated": 0,
            "chosen_chars": [c_len], "rejected_chars": [r_len]}


def test_calibration_figures_by_hand():
    margins = [math.log(3), -math.log(3), 0.0, math.log(9)]  # p = 0.75, 0.25, 0.5, 0.9
    result = calibration(margins, bins=2)
    assert result["brier"] == pytest.approx((0.25**2 + 0.75**2 + 0.5**2 + 0.1**2) / 4)  # 0.22125
    assert result["log_loss"] == pytest.approx(-(math.log(0.75) + math.log(0.25) + math.log(0.5)
                                                 + math.log(0.9)) / 4, abs=1e-6)
    # top-label confidences .75 .75 .5 .9, right 1 0 .5 1; equal-mass bins {.5,.75 (right)} and {.75 (wrong), .9}
    assert result["ece"] == pytest.approx(0.5 * abs(0.75 - 0.625) + 0.5 * abs(0.5 - 0.825))  # 0.225
    assert [b["n"] for b in result["reliability"]] == [2, 2]
    assert calibration(margins, bins=1)["ece"] == pytest.approx(abs(0.625 - 0.725))


def test_temperature_recovered_from_scores_drawn_with_it():
    rng = np.random.default_rng(0)
    true_t = 2.5
    d = rng.normal(0.0, 4.0, 40_000)
    chosen_first = rng.random(d.size) < 1 / (1 + np.exp(-d / true_t))
    margins = np.where(chosen_first, d, -d)  # the human picked the other answer: its margin flips
    fit = fit_temperature(margins)
    assert fit["temperature"] == pytest.approx(true_t, rel=0.05)
    # rescaling the rewards rescales the temperature: the fit does not depend on the reward scale
    assert fit_temperature(100 * margins)["temperature"] == pytest.approx(100 * fit["temperature"], rel=1e-3)
    assert fit["log_loss_at_temperature"] <= calibration(margins)["log_loss"]


def test_temperature_is_none_when_every_comparison_is_won_or_no_signal():
    assert fit_temperature([1.0, 2.0, 0.5]) == {"temperature": None, "log_loss_at_temperature": 0.0,
                                                "separable": True}
    assert fit_temperature([1.0, -1.0, 2.0, -2.0])["temperature"] is None  # symmetric: no better than a coin


def test_length_controlled_accuracy_on_constructed_pairs():
    rows = [row(0, "a", 1, 0, 10, 5), row(1, "a", 1, 0, 10, 5), row(2, "a", 1, 0, 10, 5),  # longer, right
            row(3, "a", 0, 1, 5, 10),  # shorter, wrong
            row(4, "b", 1, 0, 10, 5), row(5, "b", 1, 0, 5, 10),  # longer right, shorter right
            row(6, "b", 0, 1, 7, 7)]  # equal length, wrong
    result = length_bias(comparisons(rows), "characters", rows)
    a, b = result["subsets"]["a"], result["subsets"]["b"]
    assert (a["longer"]["share"], a["longer"]["accuracy"], a["shorter"]["accuracy"]) == (0.75, 1.0, 0.0)
    assert (a["bias"], a["controlled_accuracy"]) == (1.0, 0.5)  # raw accuracy 0.75, controlled 0.5
    assert (b["equal"]["share"], b["controlled_accuracy"], b["bias"]) == (pytest.approx(1 / 3, abs=1e-6), 1.0, 0.0)
    assert result["overall"]["controlled_accuracy"] == pytest.approx((4 * 0.5 + 3 * 1.0) / 7, abs=1e-6)
    assert result["overall"]["longer"]["accuracy"] == 1.0 and result["overall"]["shorter"]["accuracy"] == 0.5


def test_a_subset_with_only_one_kind_has_no_controlled_accuracy():
    rows = [row(0, "a", 1, 0, 10, 5), row(1, "a", 0, 1, 10, 5)]
    a = length_bias(comparisons(rows), "characters", rows)["subsets"]["a"]
    assert a["controlled_accuracy"] is None and a["bias"] is None and a["longer"]["accuracy"] == 0.5


def test_old_records_without_lengths_say_so():
    rows = [{k: v for k, v in row(0, "a", 1, 0, 1, 2).items() if not k.endswith("_chars")}]
    result = analyze(rows)
    assert result["length"] is None and "lengths unavailable" in result["length_note"]
    assert result["calibration"]["overall"]["comparisons"] == 1


def test_judge_rows_give_order_consistency_and_no_calibration():
    rows = [{"id": "0", "subset": "s", "outcomes": [[1.0]], "verdicts": [[["A", "B"]]], "correct": 1.0,
             "chosen_chars": [9], "rejected_chars": [3]},
            {"id": "1", "subset": "s", "outcomes": [[0.5]], "verdicts": [[["A", "A"]]], "correct": 0.5,
             "chosen_chars": [3], "rejected_chars": [9]},
            {"id": "2", "subset": "t", "outcomes": [[0.5]], "verdicts": [[[None, "B"]]], "correct": 0.5,
             "chosen_chars": [3], "rejected_chars": [9]}]
    result = analyze(rows)
    order = result["judge_order"]
    assert order["subsets"]["s"] == {"comparisons": 2, "decided": 2, "consistent": 1, "unparsed": 0,
                                     "consistency": 0.5}
    assert order["subsets"]["t"]["consistency"] is None and order["overall"]["unparsed"] == 1
    assert result["calibration"] is None
    assert result["length"]["characters"]["overall"]["bias"] == pytest.approx(1.0 - 0.5)


def test_worst_mistakes_are_the_most_confident_ones():
    rows = [row(0, "a", 0, 5, 1, 1), row(1, "a", 0, 1, 1, 1), row(2, "a", 3, 0, 1, 1)]
    worst = analyze(rows)["worst"]
    assert [w["id"] for w in worst] == ["0", "1"]
    assert worst[0]["margin"] == -5 and worst[0]["p_chosen"] == pytest.approx(1 / (1 + math.exp(5)), abs=1e-6)


def _length_data(path: Path, n: int = 400) -> Path:
    """Half the chosen answers longer, half shorter, lengths varied."""
    rng = np.random.default_rng(1)
    with path.open("w") as f:
        for i in range(n):
            a, b = "x" * int(rng.integers(5, 60)), "y" * int(rng.integers(61, 120))
            chosen, rejected = (b, a) if i % 2 else (a, b)
            f.write(json.dumps({"prompt": f"q{i}", "chosen": chosen, "rejected": rejected}) + "\n")
    return path


@pytest.mark.parametrize("baseline", ["length", "random"])
def test_baselines_set_the_scale(baseline, tmp_path):
    data = _length_data(tmp_path / "pairs.jsonl")
    out = tmp_path / baseline
    result = runner.invoke(app, ["eval", "--reward", f"baseline:{baseline}", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert all(len(r["chosen_chars"]) == 1 and len(r["rejected_chars"]) == 1 for r in scores)
    length = json.loads((out / "results.json").read_text())["analysis"]["length"]["characters"]["overall"]
    assert length["longer"]["share"] == length["shorter"]["share"] == 0.5
    if baseline == "length":
        assert (length["bias"], length["controlled_accuracy"], length["spearman"]) == (1.0, 0.5, 1.0)
    else:
        assert abs(length["bias"]) < 0.15 and abs(length["spearman"]) < 0.15
        assert 0.4 < length["controlled_accuracy"] < 0.6


def test_a_model_scorer_records_token_lengths_too(tiny_rm, tmp_path):
    data = _length_data(tmp_path / "pairs.jsonl", n=12)
    out = tmp_path / "rm"
    result = runner.invoke(app, ["eval", "--reward", str(tiny_rm), "--data", str(data), "--out", str(out),
                                 "--dtype", "fp32"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert all(r["chosen_tokens"][0] > 0 and r["rejected_tokens"][0] > 0 for r in rows)
    length = json.loads((out / "results.json").read_text())["analysis"]["length"]
    assert set(length) == {"tokens", "characters"} and length["tokens"]["unit"] == "tokens"
    assert length["tokens"]["overall"]["comparisons"] == 12
