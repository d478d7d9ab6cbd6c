"""M-RewardBench: per-language files in the dataset repository's layout load as "<config>/<source>"
subsets, and the figures equal M-RewardBench's own code on the same scores.

The transcription below follows for-ai/m-rewardbench at commit
5e5a0d3d458526a67e4b85a2602aa2fcb32fefc2: scripts/run_rewardbench.py (results = 1 if chosen >
rejected else 0; per-`source` accuracy num_correct / num_total) and analysis/plot_utils.py
(get_scores: category = EXAMPLE_COUNTS-weighted mean of its subsets, score = mean of the four
categories); the suite's score is the mean over languages.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow
import pyarrow.parquet
import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data import load_preferences
from rmbench.evals.harness import evaluate
from rmbench.evals.suites import load_suite
from rmbench.scoring.engine import EngineResult

runner = CliRunner()
LANGUAGES = ["arb_Arab", "ces_Latn", "deu_Latn", "ell_Grek", "fra_Latn", "heb_Hebr", "hin_Deva", "ind_Latn",
             "ita_Latn", "jpn_Jpan", "kor_Hang", "nld_Latn", "pes_Arab", "pol_Latn", "por_Latn", "ron_Latn",
             "rus_Cyrl", "spa_Latn", "tur_Latn", "ukr_Cyrl", "vie_Latn", "zho_Hans", "zho_Hant"]

# transcribed from analysis/plot_utils.py (never imported from rmbench)
EXAMPLE_COUNTS = {
    "alpacaeval-easy": 79, "alpacaeval-length": 79, "alpacaeval-hard": 76, "mt-bench-easy": 24, "mt-bench-med": 38,
    "mt-bench-hard": 35, "math-prm": 983, "refusals-dangerous": 100, "refusals-offensive": 100,
    "llmbar-natural": 76, "llmbar-adver-neighbor": 124, "llmbar-adver-GPTInst": 87, "llmbar-adver-GPTOut": 42,
    "llmbar-adver-manual": 43, "xstest-should-refuse": 154, "xstest-should-respond": 247, "donotanswer": 135,
    "hep-cpp": 164, "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 163, "hep-rust": 164,
}
SUBSET_MAPPING = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": ["mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
                  "llmbar-adver-GPTOut", "llmbar-adver-manual"],
    "Safety": ["refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond",
               "donotanswer"],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}


def write_languages(root: Path, languages=LANGUAGES, sources=tuple(EXAMPLE_COUNTS), per_source: int = 3,
                    seed: int = 0) -> dict[str, list[dict]]:
    rng = random.Random(seed)
    written = {}
    for language in languages:
        rows = [{"id": n, "language": language.split("_")[0], "prompt": f"{language} {source} prompt {i}",
                 "chosen": f"{language} good {source} {i} " + "x" * rng.randint(0, 3),
                 "rejected": f"{language} bad {source} {i} " + "y" * rng.randint(0, 3),
                 "chosen_model": "m1", "rejected_model": "m2", "source": source}
                for n, (source, i) in enumerate((s, i) for s in sources for i in range(per_source))]
        (root / language).mkdir(parents=True)
        pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), root / language / "test-00000-of-00001.parquet")
        written[language] = rows
    return written


def upstream_language_score(rows: list[dict], score) -> tuple[float, dict[str, float]]:
    results = [1 if score(r["chosen"]) > score(r["rejected"]) else 0 for r in rows]
    grouped = {}
    for subset in sorted({r["source"] for r in rows}):
        picked = [res for res, r in zip(results, rows) if r["source"] == subset]
        grouped[subset] = sum(picked) / len(picked)
    categories = {}
    for category, subsets in SUBSET_MAPPING.items():
        values = [grouped[s] for s in subsets]
        lengths = [EXAMPLE_COUNTS[s] for s in subsets]
        categories[category] = sum(v * w for v, w in zip(values, lengths)) / sum(lengths)
    return sum(categories.values()) / len(categories), categories


def test_rows_load_as_language_and_source(tmp_path):
    write_languages(tmp_path, languages=["deu_Latn"], sources=("alpacaeval-easy", "hep-go"), per_source=2)
    examples = load_preferences(str(tmp_path / "deu_Latn" / "test-00000-of-00001.parquet"))
    assert sorted({e.subset for e in examples}) == ["deu_Latn/alpacaeval-easy", "deu_Latn/hep-go"]
    assert examples[0].prompt == [{"role": "user", "content": "deu_Latn alpacaeval-easy prompt 0"}]
    assert examples[0].meta["chosen_model"] == "m1"


def test_figures_equal_upstream(tmp_path):
    languages = ["deu_Latn", "jpn_Jpan", "zho_Hant"]
    written = write_languages(tmp_path, languages=languages)
    examples = [e for language in languages
                for e in load_preferences(str(tmp_path / language / "test-00000-of-00001.parquet"))]
    rng = random.Random(1)
    score_of: dict[str, float] = {}

    def score(text: str) -> float:
        return score_of.setdefault(text, rng.choice([0.0, 1.0, 2.0]))

    scored = EngineResult([[score(c) for c in e.chosen] for e in examples],
                          [[score(r) for r in e.rejected] for e in examples], [0] * len(examples), {})
    summary, _ = evaluate(examples, scored, load_suite("m-rewardbench"))
    assert summary["ties"] > 0
    expected = {}
    for language in languages:
        expected[language], categories = upstream_language_score(written[language], score)
        assert summary["sections"][language] == pytest.approx(expected[language])
        assert summary["categories"][language] == pytest.approx(categories)
    assert summary["score"] == pytest.approx(sum(expected.values()) / len(expected))


def test_suite_runs_from_a_repository_snapshot(tmp_path):
    write_languages(tmp_path / "snapshot", sources=("alpacaeval-easy", "donotanswer"), per_source=1)
    result = runner.invoke(app, ["eval", "--reward", "baseline:length", "--suite", "m-rewardbench", "--data-root",
                                 str(tmp_path / "snapshot")])
    assert result.exit_code == 0, result.output
    assert "partial" in result.output  # 2 of each language's 23 subsets
