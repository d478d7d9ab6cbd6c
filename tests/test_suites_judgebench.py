"""JudgeBench: the adapter reads upstream's files as they are, and the figures rmbench reports
equal JudgeBench's own metric code on the same scores or verdicts.

`upstream_accuracy` below transcribes ScalerLab/JudgeBench utils/metrics.py
(compute_final_metrics, reverse_order=True) and utils/judges.py (reward-model judges:
"A>B" if score_A > score_B else "B>A") at commit e2c52c284e735e139b3daa61c206ee208f36c461.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data import load_preferences
from rmbench.errors import DataError
from rmbench.evals.harness import evaluate
from rmbench.evals.suites import load_suite
from rmbench.scoring.engine import EngineResult
from rmbench.scoring.judging import comparison_outcome
from tests.conftest import write_jsonl

JB_FILE = "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl"
SOURCES = ["mmlu-pro-law", "mmlu-pro-math", "livebench-reasoning", "livebench-math", "livecodebench"]
FAMILIES = {"mmlu-pro": "knowledge", "livebench-reasoning": "reasoning", "livebench-math": "math",
            "livecodebench": "coding"}
runner = CliRunner()


def jb_pairs(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [{"pair_id": f"p{i}", "original_id": i, "source": rng.choice(SOURCES), "question": f"question {i}?",
             "response_model": "gpt-4o-2024-05-13", "response_A": f"answer A{i} " + "x" * rng.randint(0, 5),
             "response_B": f"answer B{i} " + "y" * rng.randint(0, 5), "label": rng.choice(["A>B", "B>A"])}
            for i in range(n)]


# ---- transcription of upstream (never imported from rmbench) ---------------------------------

def _flip(decision):
    return {"A>B": "B>A", "B>A": "A>B"}.get(decision, decision)


def upstream_accuracy(pairs: list[dict], prefix: str = "") -> float:
    """compute_final_metrics(pairs, reverse_order=True, include_fn=source.startswith(prefix))."""
    chosen = [p for p in pairs if p["source"].startswith(prefix)]
    n_correct = 0
    for pair in chosen:
        first, second = pair["judgments"]
        d1 = first["decision"] if first is not None else None
        d2 = _flip(second["decision"] if second is not None else None)
        counter = 0
        for decision in (d1, d2):
            if decision == pair["label"]:
                counter += 1
            elif decision == _flip(pair["label"]):
                counter -= 1
        n_correct += counter > 0
    return 100 * n_correct / len(chosen)


def upstream_rm_judgments(score_a: float, score_b: float) -> list[dict]:
    """A reward-model judge asked (A, B) and then (B, A), as run_judge.py does by default."""
    return [{"judgment": {"scores": [score_a, score_b]}, "decision": "A>B" if score_a > score_b else "B>A"},
            {"judgment": {"scores": [score_b, score_a]}, "decision": "A>B" if score_b > score_a else "B>A"}]


# ---- helpers ---------------------------------------------------------------------------------

def _load(tmp_path: Path, pairs: list[dict]):
    path = write_jsonl(tmp_path / JB_FILE, pairs)
    return load_preferences(str(path))


def _scored(examples, score_of) -> EngineResult:
    return EngineResult([[score_of[c] for c in e.chosen] for e in examples],
                        [[score_of[r] for r in e.rejected] for e in examples], [0] * len(examples), {})


def test_adapter_reads_upstream_rows(tmp_path):
    pairs = jb_pairs(12)
    examples = _load(tmp_path, pairs)
    assert [e.id for e in examples] == [p["pair_id"] for p in pairs]
    for e, p in zip(examples, pairs):
        better, worse = ("response_A", "response_B") if p["label"] == "A>B" else ("response_B", "response_A")
        assert (e.chosen, e.rejected) == ([p[better]], [p[worse]])
        family = next(f for prefix, f in FAMILIES.items() if p["source"].startswith(prefix))
        assert e.subset == family and e.meta["source"] == p["source"] and e.meta["label"] == p["label"]
        assert e.prompt == [{"role": "user", "content": p["question"]}]


def test_reward_model_accuracy_equals_upstream(tmp_path):
    rng = random.Random(1)
    pairs = jb_pairs(300, seed=1)
    scores = {}
    for p in pairs:  # a coarse grid makes exact ties common: they are where rules differ
        scores[p["response_A"]] = rng.choice([0.0, 0.5, 1.0, 1.5])
        scores[p["response_B"]] = rng.choice([0.0, 0.5, 1.0, 1.5])
        p["judgments"] = upstream_rm_judgments(scores[p["response_A"]], scores[p["response_B"]])
    examples = _load(tmp_path, pairs)
    summary, rows = evaluate(examples, _scored(examples, scores), load_suite("judgebench"))
    assert summary["ties"] > 20
    assert 100 * summary["score"] == pytest.approx(upstream_accuracy(pairs))
    for prefix, family in FAMILIES.items():
        assert 100 * summary["subsets"][family]["accuracy"] == pytest.approx(upstream_accuracy(pairs, prefix))
        assert summary["subsets"][family]["metric"] == "judgebench"


def test_pairwise_judge_accuracy_equals_upstream(tmp_path):
    """Both orders, +1/-1/0: a right-and-tie pair is correct, right-and-wrong is not (rmbench's
    own judge rule would give both 0.5)."""
    rng = random.Random(2)
    pairs = jb_pairs(300, seed=2)
    as_rmbench = {"A>B": "A", "B>A": "B", "A=B": "tie", None: None}
    examples = _load(tmp_path, pairs)
    outcomes, verdicts = [], []
    for p in pairs:
        d1, d2 = (rng.choice(["A>B", "B>A", "A=B", None]) for _ in range(2))
        p["judgments"] = [None if d1 is None else {"decision": d1}, None if d2 is None else {"decision": d2}]
        # rmbench's verdict pair: [better answer shown as A, better answer shown as B]
        forward, reverse = (d1, d2) if p["label"] == "A>B" else (d2, d1)
        pair = [as_rmbench[forward], as_rmbench[reverse]]
        verdicts.append([[pair]])
        outcomes.append([[comparison_outcome(*pair)]])
    judged = EngineResult([[]] * len(examples), [[]] * len(examples), [0] * len(examples), {},
                          outcomes=outcomes, verdicts=verdicts)
    summary, rows = evaluate(examples, judged, load_suite("judgebench"))
    assert 100 * summary["score"] == pytest.approx(upstream_accuracy(pairs))
    for prefix, family in FAMILIES.items():
        assert 100 * summary["subsets"][family]["accuracy"] == pytest.approx(upstream_accuracy(pairs, prefix))
    assert {row["correct"] for row in rows} == {0.0, 1.0}


def test_bad_label_is_skipped_with_its_reason_and_strict_refuses(tmp_path):
    pairs = jb_pairs(6)
    pairs[3]["label"] = "A=B"
    (tmp_path / "data").mkdir()
    path = write_jsonl(tmp_path / "data" / JB_FILE, pairs)
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "judgebench",
                                 "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["skipped"]["by_reason"] == {"bad-label": 1} and record["skipped"]["ids"] == ["p3"]
    assert sum(s["n"] for s in record["subsets"].values()) == 5
    with pytest.raises(DataError, match="'A=B'"):
        load_preferences(str(path), strict=True)


def test_another_suites_file_is_one_clear_line(tmp_path):
    rmb = [{"pair_uid": "1", "conversation_input": [{"role": "user", "content": "hi"}],
            "chosen": {"llm_name": "m", "answer": "hello"}, "reject": {"llm_name": "n", "answer": "go"},
            "category_path": "Pairwise_set/Helpfulness/Chat/Talk"}]
    (tmp_path / JB_FILE).write_text(json.dumps(rmb[0]) + "\n")
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "judgebench",
                                 "--data-root", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert JB_FILE in result.output


def test_real_file_counts(shared_data):
    folder = shared_data / "judgebench"
    if not (folder / JB_FILE).is_file():
        pytest.skip(f"{folder / JB_FILE} is absent")
    examples = load_preferences(str(folder / JB_FILE))
    counts = {s: sum(e.subset == s for e in examples) for s in ("knowledge", "reasoning", "math", "coding")}
    assert counts == {"knowledge": 154, "reasoning": 98, "math": 56, "coding": 42}
