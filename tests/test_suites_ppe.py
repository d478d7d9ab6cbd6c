"""PPE (lmarena Preference Proxy Evaluations): the hub's parquet files load as published, and
the figures equal PPE's metrics, as transcribed below, on the same per-response scores.

PPE's own code (github lmarena/PPE) could not be read where this was written (not in the
code index, no snapshot). The transcriptions follow what was readable: the paper (arXiv
2410.14872, "How to Evaluate Reward Models for RLHF") and its blog post
(blog.lmarena.ai/blog/2024/preference-proxy-evaluations/: accuracy on human-preferred
battles; best-of-K curves, "average picked score vs. number of samples K"); the dataset
cards (lmarena-ai/PPE-Human-Preference-V1: question_id, model_a, model_b, winner, prompt,
response_1, response_2, language, ...; lmarena-ai/PPE-MMLU-Pro-Best-of-K: question_id, ...,
model_name, parsed_outputs, scores (sequence of bool), mean_score, prompt, response_1..32);
and third-party consumers of the same files, which score human preference on rows whose
winner is "model_a" or "model_b" only. They are written independently of rmbench: the
best-of-K reference enumerates every K-subset with itertools instead of the closed form.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data import load_preferences
from rmbench.evals import ppe_metrics
from rmbench.evals.harness import evaluate
from rmbench.evals.suites import load_suite
from rmbench.scoring.engine import EngineResult
from rmbench.scoring.judging import comparison_outcome

runner = CliRunner()
HUMAN_FILE = "data/test-00000-of-00001.parquet"
BENCHMARKS = {"mmlu_pro": "PPE-MMLU-Pro-Best-of-K", "math": "PPE-MATH-Best-of-K", "gpqa": "PPE-GPQA-Best-of-K",
              "ifeval": "PPE-IFEval-Best-of-K", "mbpp_plus": "PPE-MBPP-Plus-Best-of-K"}
CORRECTNESS_FILE = "data/train-00000-of-00001.parquet"


def human_rows(n: int, seed: int = 0, winners=("model_a", "model_b", "tie", "tie (bothbad)")) -> list[dict]:
    """Battles in the PPE-Human-Preference-V1 shape (card columns, nested structs included)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = f"a{i} " + "x" * rng.randint(0, 5), f"b{i} " + "y" * rng.randint(0, 5)
        rows.append({
            "question_id": f"q{i:04d}", "model_a": f"model-{rng.randint(0, 3)}",
            "model_b": f"model-{rng.randint(4, 7)}",
            "winner": winners[i % len(winners)], "prompt": f"question {i}?", "response_1": a, "response_2": b,
            "language": ("English", "Chinese", "German")[i % 3],
            "conv_metadata": {"context_a_tokens": 3, "context_b_tokens": 3, "sum_assistant_a_tokens": len(a),
                              "sum_assistant_b_tokens": len(b), "sum_user_tokens": 3, "turns": 1},
            "is_code": i % 4 == 0, "is_refusal": False,
            "category_tag": {"criteria_v0.1": {"complexity": True, "creativity": False}, "math_v0.1": {"math": False}},
            "length_a": len(a), "length_b": len(b), "longer_won": "model_a", "hard_prompt": i % 2 == 0,
            "easy_prompt": i % 2 == 1, "if_prompt": False, "math_prompt": False})
    return rows


def correctness_rows(n: int, k: int = 32, seed: int = 0, benchmark: str = "math") -> list[dict]:
    """Prompts in the PPE *-Best-of-K shape: k responses and `scores`, k booleans."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        labels = [rng.random() < 0.4 for _ in range(k)]
        labels[0], labels[1] = True, False  # every generated prompt has a pair to compare
        row = {"question_id": f"{benchmark}-{i}", "question": f"{benchmark} problem {i}", "category": "algebra",
               "model_name": ("gpt-4o-mini", "llama-3.1-8b")[i % 2], "parsed_outputs": [str(j) for j in range(k)],
               "scores": labels, "mean_score": sum(labels) / k, "prompt": f"Solve {benchmark} problem {i}.",
               "sampled_conflict_pairs": [[0, 1]]}
        for j in range(k):
            row[f"response_{j + 1}"] = f"{benchmark} {i} answer {j} " + "z" * rng.randint(0, 6)
        rows.append(row)
    return rows


def write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)
    return path


def write_human(folder: Path, rows: list[dict]) -> Path:
    return write_parquet(folder / HUMAN_FILE, rows)


def write_correctness(folder: Path, per_benchmark: int = 4, k: int = 32, seed: int = 0) -> dict[str, list[dict]]:
    """A --data-root folder for ppe-correctness: one dataset-repository snapshot per benchmark."""
    files = {}
    for n, (subset, repo) in enumerate(BENCHMARKS.items()):
        rows = correctness_rows(per_benchmark, k, seed + n, subset)
        write_parquet(folder / repo / CORRECTNESS_FILE, rows)
        files[subset] = rows
    return files


# ---- PPE's metrics as understood from the sources above (never imported from rmbench) -------

def upstream_human_accuracy(rows: list[dict], score) -> float:
    decisive = [r for r in rows if r["winner"] in ("model_a", "model_b")]
    right = [(score(r["response_1"]) > score(r["response_2"])) if r["winner"] == "model_a"
             else (score(r["response_2"]) > score(r["response_1"])) for r in decisive]
    return sum(right) / len(right)


def upstream_pairwise(row: dict, score) -> float:
    scores = [score(row[f"response_{j + 1}"]) for j in range(len(row["scores"]))]
    pairs = [(i, j) for i, ci in enumerate(row["scores"]) for j, cj in enumerate(row["scores"]) if ci and not cj]
    return sum(scores[i] > scores[j] for i, j in pairs) / len(pairs)


def upstream_best_of_k(row: dict, score, k: int) -> float:
    """Every K-subset of the responses; the top-scored one's correctness, ties shared evenly."""
    scores = [score(row[f"response_{j + 1}"]) for j in range(len(row["scores"]))]
    picked = []
    for subset in itertools.combinations(range(len(scores)), k):
        top = max(scores[j] for j in subset)
        winners = [j for j in subset if scores[j] == top]
        picked.append(sum(row["scores"][j] for j in winners) / len(winners))
    return sum(picked) / len(picked)


def scored_by(examples, score) -> EngineResult:
    return EngineResult([[score(c) for c in e.chosen] for e in examples],
                        [[score(r) for r in e.rejected] for e in examples], [0] * len(examples), {})


def coarse_scores(seed: int):
    rng = random.Random(seed)
    table: dict[str, float] = {}
    return lambda text: table.setdefault(text, rng.choice([0.0, 1.0, 2.0, 3.0]))  # exact ties happen


# ---- human preference ---------------------------------------------------------------------

def test_human_file_loads_decisive_battles_by_language_and_excludes_ties(tmp_path):
    rows = human_rows(12)
    write_human(tmp_path / "data", rows)
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "ppe-human", "--data-root",
                                 str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["excluded"]["by_reason"] == {"tie": 6} and record["skipped"]["count"] == 0
    assert sorted(record["excluded"]["ids"]) == sorted(r["question_id"] for r in rows if r["winner"].startswith("tie"))
    assert sorted(record["subsets"]) == ["Chinese", "English", "German"]
    assert sum(s["n"] for s in record["subsets"].values()) == 6


def test_human_chosen_is_the_winners_response(tmp_path):
    rows = human_rows(8, winners=("model_a", "model_b"))
    examples = load_preferences(str(write_human(tmp_path, rows)))
    by_id = {e.id: e for e in examples}
    for row in rows:
        e = by_id[row["question_id"]]
        winner, loser = ("response_1", "response_2") if row["winner"] == "model_a" else ("response_2", "response_1")
        assert (e.chosen, e.rejected, e.subset) == ([row[winner]], [row[loser]], row["language"])
        assert e.prompt == [{"role": "user", "content": row["prompt"]}]
        assert e.meta["chosen_model"] == row[row["winner"]]


def test_human_accuracy_equals_ppe(tmp_path):
    rows = human_rows(90, seed=5)
    examples = load_preferences(str(write_human(tmp_path, rows)))
    score = coarse_scores(6)
    summary, _ = evaluate(examples, scored_by(examples, score), load_suite("ppe-human"))
    assert summary["ties"] > 0  # a tied score is wrong, as for every strict rule
    assert summary["score"] == pytest.approx(upstream_human_accuracy(rows, score))
    for language in ("English", "Chinese", "German"):
        own = [r for r in rows if r["language"] == language]
        assert summary["subsets"][language]["accuracy"] == pytest.approx(upstream_human_accuracy(own, score))


def test_unknown_winner_is_skipped_with_its_reason_and_strict_refuses(tmp_path):
    rows = human_rows(6, winners=("model_a", "model_b"))
    rows[2]["winner"] = "model_c"
    write_human(tmp_path / "data", rows)
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "ppe-human", "--data-root",
                                 str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["skipped"]["by_reason"] == {"bad-label": 1} and record["skipped"]["ids"] == ["q0002"]
    strict = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "ppe-human", "--data-root",
                                 str(tmp_path / "data"), "--strict"])
    assert strict.exit_code == 2 and "'model_c'" in strict.output and "Traceback" not in strict.output


# ---- correctness --------------------------------------------------------------------------

def test_correctness_rows_load_correct_as_chosen(tmp_path):
    rows = correctness_rows(3, seed=1)
    examples = load_preferences(str(write_parquet(tmp_path / "math.parquet", rows)))
    assert [e.id for e in examples] == [f"{r['question_id']}:{r['model_name']}" for r in rows]
    for e, row in zip(examples, rows):
        right = [row[f"response_{j + 1}"] for j, ok in enumerate(row["scores"]) if ok]
        wrong = [row[f"response_{j + 1}"] for j, ok in enumerate(row["scores"]) if not ok]
        assert (e.chosen, e.rejected) == (right, wrong) and len(right) + len(wrong) == 32
        assert e.meta["correct_responses"] == [j + 1 for j, ok in enumerate(row["scores"]) if ok]


def test_correctness_figures_equal_ppe(tmp_path):
    """8 responses a prompt, so the reference can enumerate every K-subset."""
    files = write_correctness(tmp_path, per_benchmark=6, k=8, seed=11)
    examples = [e for subset, repo in BENCHMARKS.items()
                for e in load_preferences(str(tmp_path / repo / CORRECTNESS_FILE), subset=subset)]
    score = coarse_scores(12)
    summary, _ = evaluate(examples, scored_by(examples, score), load_suite("ppe-correctness"))
    assert summary["ties"] > 0
    accuracies = {}
    for subset, rows in files.items():
        figures = summary["subsets"][subset]
        accuracies[subset] = sum(upstream_pairwise(r, score) for r in rows) / len(rows)
        assert figures["accuracy"] == pytest.approx(accuracies[subset])
        curve = [sum(upstream_best_of_k(r, score, k) for r in rows) / len(rows) for k in range(1, 9)]
        assert figures["best_of_k"] == pytest.approx(curve)
        assert figures["best_of_k_end"] == pytest.approx(curve[-1])
        assert figures["best_of_k_max"] == pytest.approx(max(curve))
        assert curve[0] == pytest.approx(sum(sum(r["scores"]) / 8 for r in rows) / len(rows))  # K=1: no RM at all
    assert summary["sections"] == pytest.approx(accuracies)
    assert summary["score"] == pytest.approx(sum(accuracies.values()) / 5)
    assert len(summary["best_of_k"]) == 8


def test_best_of_k_closed_form_matches_enumeration():
    rng = random.Random(3)
    for _ in range(30):
        n = rng.randint(1, 9)
        scores = [float(rng.randint(0, 3)) for _ in range(n)]
        labels = [rng.random() < 0.5 for _ in range(n)]
        row = {"scores": labels, **{f"response_{j + 1}": str(j) for j in range(n)}}
        score_of = dict(zip(map(str, range(n)), scores))
        for k in range(1, n + 1):
            expected = upstream_best_of_k(row, score_of.__getitem__, k)
            assert ppe_metrics.best_of_k(scores, labels, k) == pytest.approx(expected)


def test_a_perfect_reward_model_picks_a_correct_response_whenever_one_is_drawn():
    labels = [True, False, False, True, False]
    scores = [1.0 if ok else 0.0 for ok in labels]
    # P(a K-draw holds a correct response) = 1 - C(3, K) / C(5, K)
    assert [ppe_metrics.best_of_k(scores, labels, k) for k in range(1, 6)] == pytest.approx(
        [0.4, 1 - 3 / 10, 1 - 1 / 10, 1.0, 1.0])


def test_prompts_without_a_pair_are_excluded_and_best_of_k_uses_the_rest(tmp_path):
    files = write_correctness(tmp_path / "data", per_benchmark=3, k=32)
    rows = files["gpqa"]
    rows[0]["scores"] = [False] * 32
    rows[1]["scores"] = [True] * 32
    write_parquet(tmp_path / "data" / BENCHMARKS["gpqa"] / CORRECTNESS_FILE, rows)
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "ppe-correctness", "--data-root",
                                 str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["excluded"]["by_reason"] == {"no-correct": 1, "no-incorrect": 1}
    assert sorted(record["excluded"]["ids"]) == sorted(f"{r['question_id']}:{r['model_name']}" for r in rows[:2])
    gpqa = record["subsets"]["gpqa"]
    assert gpqa["n"] == 1 and len(gpqa["best_of_k"]) == 32
    assert gpqa["best_of_k"][0] == pytest.approx(sum(rows[2]["scores"]) / 32)
    assert record["score"] == pytest.approx(sum(s["accuracy"] for s in record["subsets"].values()) / 5)
    board = runner.invoke(app, ["leaderboard", str(tmp_path / "out"), "--format", "md", "--resamples", "100",
                                "--out", str(tmp_path / "board.md")])
    assert board.exit_code == 0, board.output
    # the leaderboard recomputes every line by PPE's rule: a line whose outcome was edited is refused
    scores = tmp_path / "out" / "scores.jsonl"
    lines = [json.loads(line) for line in scores.read_text().splitlines()]
    lines[0]["correct"] = 1.0 - lines[0]["correct"] if lines[0]["correct"] != 0.5 else 0.0
    scores.write_text("".join(json.dumps(line) + "\n" for line in lines))
    tampered = runner.invoke(app, ["leaderboard", str(tmp_path / "out"), "--resamples", "100"])
    assert tampered.exit_code == 2 and "ppe_correctness" in tampered.output


def test_a_missing_benchmark_makes_the_run_partial(tmp_path):
    write_correctness(tmp_path / "data", per_benchmark=2, k=4)
    for path in sorted((tmp_path / "data" / BENCHMARKS["ifeval"]).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / "data" / BENCHMARKS["ifeval"]).rmdir()
    missing = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "ppe-correctness", "--data-root",
                                  str(tmp_path / "data")])
    assert missing.exit_code == 2 and "subset ifeval" in missing.output
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "ppe-correctness", "--data-root",
                                 str(tmp_path / "data"), "--subsets", "mmlu_pro,math,gpqa,mbpp_plus",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["partial"] and "ifeval" not in record["subsets"] and len(record["subsets"]) == 4


def test_a_pairwise_judge_scores_a_prompt_by_its_comparisons(tmp_path):
    """Verdict pairs [correct shown as A, correct shown as B]: both right -> 1, split -> 0.5."""
    rows = correctness_rows(2, k=4, seed=8)
    examples = load_preferences(str(write_parquet(tmp_path / "gpqa.parquet", rows)), subset="gpqa")
    verdicts, outcomes, expected = [], [], []
    for e in examples:
        grid = [[["A", "B"] if (i + j) % 2 else ["A", "A"] for j in range(len(e.rejected))]
                for i in range(len(e.chosen))]
        verdicts.append(grid)
        outcomes.append([[comparison_outcome(*pair) for pair in line] for line in grid])
        flat = [1.0 if pair == ["A", "B"] else 0.5 for line in grid for pair in line]
        expected.append(sum(flat) / len(flat))
    judged = EngineResult([[]] * len(examples), [[]] * len(examples), [0] * len(examples), {},
                          outcomes=outcomes, verdicts=verdicts)
    summary, result_rows = evaluate(examples, judged, load_suite("ppe-correctness"))
    assert [row["correct"] for row in result_rows] == pytest.approx(expected)
    assert "best_of_k" not in summary["subsets"]["gpqa"]  # a judge gives no per-response score


@pytest.fixture
def datasets_cache(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    return datasets


def test_hub_ids_load_through_datasets_in_the_repositories_layout(tmp_path, monkeypatch, datasets_cache):
    """The manifests' hub ids, answered by `datasets` from local snapshots laid out as the hub
    repositories are (data/<split>-00000-of-00001.parquet): the same records as the files."""
    human = human_rows(9, seed=4)
    write_human(tmp_path / "PPE-Human-Preference-V1", human)
    math = correctness_rows(3, seed=5)
    write_parquet(tmp_path / BENCHMARKS["math"] / CORRECTNESS_FILE, math)
    real = datasets_cache.load_dataset
    asked = []

    def local_snapshot(source, split=None):
        asked.append((source, split))
        return real(str(tmp_path / source.split("/")[1]), split=split)

    monkeypatch.setattr(datasets_cache, "load_dataset", local_snapshot)
    battles = load_preferences("lmarena-ai/PPE-Human-Preference-V1", split="test")
    prompts = load_preferences("lmarena-ai/PPE-MATH-Best-of-K", split="train", subset="math")
    assert asked == [("lmarena-ai/PPE-Human-Preference-V1", "test"), ("lmarena-ai/PPE-MATH-Best-of-K", "train")]
    assert [e.id for e in battles] == [r["question_id"] for r in human if r["winner"] in ("model_a", "model_b")]
    assert battles[0].meta["conv_metadata"]["turns"] == 1
    assert [(e.subset, len(e.chosen) + len(e.rejected)) for e in prompts] == [("math", 32)] * 3
    assert [e.chosen for e in prompts] == [e.chosen for e in load_preferences(
        str(tmp_path / BENCHMARKS["math"] / CORRECTNESS_FILE), subset="math")]


def test_a_human_preference_file_given_as_a_correctness_set_is_one_line(tmp_path):
    write_correctness(tmp_path / "data", per_benchmark=2, k=4)
    write_parquet(tmp_path / "data" / BENCHMARKS["math"] / CORRECTNESS_FILE, human_rows(4))
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "ppe-correctness", "--data-root",
                                 str(tmp_path / "data"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "scores" in result.output and "ppe-correctness" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
