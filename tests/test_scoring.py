"""Scorers and the batch engine on tiny random models: what a user would notice is wrong
scores (batch-size dependence, wrong token, silent truncation) and repeated work."""

from __future__ import annotations

import json

import pytest
import torch

from rmbench.data.schema import PreferenceExample
from rmbench.errors import ModelError, RmbenchError
from rmbench.scoring import build_scorer
from rmbench.scoring.base import Item
from rmbench.scoring.batching import plan_batches
from rmbench.scoring.classifier import ClassifierScorer
from rmbench.scoring.engine import score_examples
from tests import tiny
from tests.conftest import PAIRS

USER = "user"


def examples(rows=PAIRS, subset="s") -> list[PreferenceExample]:
    return [PreferenceExample(f"{subset}-{n}", subset, [{"role": USER, "content": r["prompt"]}],
                              [r["chosen"]], [r["rejected"]]) for n, r in enumerate(rows)]


def items() -> list[Item]:
    return [Item([{"role": USER, "content": r["prompt"]}], text)
            for r in PAIRS for text in (r["chosen"], r["rejected"])]


def all_scores(scorer, its) -> list[float]:
    out = [None] * len(its)
    for batch in scorer.score(its):
        for i, s in zip(batch.indices, batch.scores):
            out[i] = s
    return out


def test_plan_batches_respects_budget_and_covers_every_item():
    lengths = [5, 50, 7, 30, 30, 2, 100]
    batches = plan_batches(lengths, token_budget=60)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) == 1 or max(lengths[i] for i in batch) * len(batch) <= 60
    assert batches[0] == [6]  # longest first; an item over budget still gets its own batch


@pytest.mark.parametrize("budget", [16, 64, 4096])
def test_scores_do_not_depend_on_batching(tiny_rm, budget):
    its = items()
    alone = [ClassifierScorer(str(tiny_rm), dtype="fp32").forward([ids])[0]
             for ids in _token_ids(tiny_rm, its)]
    batched = all_scores(ClassifierScorer(str(tiny_rm), dtype="fp32", batch_tokens=budget), its)
    assert batched == pytest.approx(alone, abs=1e-5)


def _token_ids(folder, its):
    from rmbench.scoring import formatting

    scorer = ClassifierScorer(str(folder), dtype="fp32")
    return formatting.tokenize_conversations(scorer.tokenizer, "tokenizer", [(i.prompt, i.completion) for i in its])


def test_reward_comes_from_the_last_real_token_even_when_pad_is_eos(tmp_path):
    folder = tiny.save_classifier(tmp_path / "rm", template=tiny.CHATML_EOS_LAST)
    scorer = ClassifierScorer(str(folder), dtype="fp32")
    assert scorer.tokenizer.pad_token_id == scorer.tokenizer.eos_token_id
    its = items()
    scores = all_scores(scorer, its)
    ids = _token_ids(folder, its)
    assert all(row[-1] == scorer.tokenizer.eos_token_id for row in ids)  # the pitfall's layout
    with torch.inference_mode():
        for row, score in zip(ids, scores):
            hidden = scorer.model.model(input_ids=torch.tensor([row])).last_hidden_state
            assert score == pytest.approx(scorer.model.score(hidden[0, -1]).item(), abs=1e-5)


def test_engine_scores_each_unique_completion_once(tiny_rm):
    calls = []

    class Counting:
        name, kind = "counting", "baseline"

        def fingerprint(self):
            return "c"

        def describe(self):
            return {}

        def score(self, its):
            calls.extend(i.key() for i in its)
            return build_scorer("baseline:length").score(its)

    shared = [{"prompt": "p", "chosen": "same answer", "rejected": "other"},
              {"prompt": "p", "chosen": "same answer", "rejected": "third"}]
    result = score_examples(examples(shared), Counting(), show_progress=False)
    assert len(calls) == len(set(calls)) == 3
    assert result.stats["unique_completions"] == 3 and result.stats["completions"] == 4
    assert result.chosen == [[11.0], [11.0]] and result.rejected == [[5.0], [5.0]]


def test_interrupted_run_resumes_from_cache(tiny_rm, tmp_path):
    exs = examples()
    full = score_examples(exs, ClassifierScorer(str(tiny_rm), dtype="fp32"), show_progress=False)

    class DiesAfterFirstBatch(ClassifierScorer):
        def score(self, its):
            yield next(super().score(its))
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_examples(exs, DiesAfterFirstBatch(str(tiny_rm), dtype="fp32", batch_tokens=40),
                       cache_dir=tmp_path, show_progress=False)
    resumed = score_examples(exs, ClassifierScorer(str(tiny_rm), dtype="fp32", batch_tokens=40),
                             cache_dir=tmp_path, show_progress=False)
    assert 0 < resumed.stats["from_cache"] < resumed.stats["unique_completions"]
    flat = [s for side in (resumed.chosen, resumed.rejected) for row in side for s in row]
    expected = [s for side in (full.chosen, full.rejected) for row in side for s in row]
    assert flat == pytest.approx(expected, abs=1e-5)
    again = score_examples(exs, ClassifierScorer(str(tiny_rm), dtype="fp32", batch_tokens=40), cache_dir=tmp_path,
                           show_progress=False)
    assert again.stats["scored"] == 0
    # another batch budget is another cache: a resumed run never mixes scores of two batch shapes
    other = score_examples(exs, ClassifierScorer(str(tiny_rm), dtype="fp32"), cache_dir=tmp_path,
                           show_progress=False)
    assert other.stats["from_cache"] == 0 and len(list(tmp_path.glob("scores-*.jsonl"))) == 2


@pytest.mark.parametrize("kind", ["classifier", "implicit"])
def test_fp32_scores_are_the_same_at_every_batch_budget(tiny_rm, tiny_lm, tmp_path, kind):
    """The guarantee README states for --dtype fp32: --batch-tokens changes speed, not scores
    (to 1e-6). Each run records the budget and dtype it used; one --out keeps one cache per budget."""
    from typer.testing import CliRunner

    from rmbench.cli import app
    from tests.conftest import write_jsonl

    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS * 3)
    reward = ["--reward", str(tiny_rm)] if kind == "classifier" else ["--reward", str(tiny_lm), "--ref", "none"]
    scores, records = {}, {}
    for budget in (16, 64, 4096, 16):
        result = CliRunner().invoke(app, ["eval", *reward, "--data", str(data), "--dtype", "fp32", "--device", "cpu",
                                          "--batch-tokens", str(budget), "--out", str(tmp_path / "out"),
                                          "--no-progress"])
        assert result.exit_code == 0, result.output
        record = json.loads((tmp_path / "out" / "results.json").read_text())
        assert (record["model"]["batch_tokens"], record["model"]["dtype"]) == (budget, "fp32")
        rows = [json.loads(line) for line in (tmp_path / "out" / "scores.jsonl").read_text().splitlines()]
        flat = [s for row in rows for s in row["chosen_scores"] + row["rejected_scores"]]
        if budget in records:  # the same budget again: every score from its own cache
            assert record["timing"]["from_cache"] == record["timing"]["unique_completions"]
        else:
            assert record["timing"]["from_cache"] == 0
        scores[budget], records[budget] = flat, record
    assert scores[64] == pytest.approx(scores[16], abs=1e-6, rel=0)
    assert scores[4096] == pytest.approx(scores[16], abs=1e-6, rel=0)
    assert len(list((tmp_path / "out" / ".cache").glob("scores-*.jsonl"))) == 3


def test_truncation_is_counted_not_silent(tiny_rm):
    exs = examples()
    result = score_examples(exs, ClassifierScorer(str(tiny_rm), dtype="fp32", max_length=12), show_progress=False)
    assert sum(result.truncated) > 0
    untouched = score_examples(exs, ClassifierScorer(str(tiny_rm), dtype="fp32"), show_progress=False)
    assert sum(untouched.truncated) == 0


def test_causal_lm_is_refused_unless_random_head_is_allowed(tiny_lm):
    with pytest.raises(ModelError, match="not a reward model.*--allow-random-head"):
        ClassifierScorer(str(tiny_lm))
    first = all_scores(ClassifierScorer(str(tiny_lm), allow_random_head=True, seed=3, dtype="fp32"), items())
    second = all_scores(ClassifierScorer(str(tiny_lm), allow_random_head=True, seed=3, dtype="fp32"), items())
    other = all_scores(ClassifierScorer(str(tiny_lm), allow_random_head=True, seed=4, dtype="fp32"), items())
    assert first == second and first != other


def test_missing_chat_template_needs_an_explicit_choice(tmp_path):
    folder = tiny.save_classifier(tmp_path / "rm", template=None)
    with pytest.raises(ModelError, match="--chat-template raw"):
        ClassifierScorer(str(folder))
    scorer = ClassifierScorer(str(folder), chat_template="raw", dtype="fp32")
    assert len(all_scores(scorer, items())) == len(items())


def test_random_baseline_is_seeded_and_order_independent():
    its = items()
    forward = all_scores(build_scorer("baseline:random", seed=1), its)
    backward = all_scores(build_scorer("baseline:random", seed=1), its[::-1])[::-1]
    assert forward == backward
    assert forward != all_scores(build_scorer("baseline:random", seed=2), its)


def test_length_baseline_prefers_longer():
    scores = all_scores(build_scorer("baseline:length"), [Item([], "ab"), Item([], "abcd")])
    assert scores[1] > scores[0]


def test_bow_baseline_learns_a_word_preference(tmp_path):
    from tests.conftest import write_jsonl

    good, bad = ["correct", "helpful", "accurate"], ["wrong", "rude", "useless"]
    rows = [{"prompt": f"q{n}", "chosen": f"this is {good[n % 3]} text {n}",
             "rejected": f"this is {bad[n % 3]} text {n}"} for n in range(30)]
    train = write_jsonl(tmp_path / "train.jsonl", rows)
    scorer = build_scorer("baseline:bow", baseline_train=str(train))
    held_out = [Item([], "an accurate reply"), Item([], "a useless reply")]
    good_score, bad_score = all_scores(scorer, held_out)
    assert good_score > bad_score
    with pytest.raises(RmbenchError, match="--baseline-train"):
        build_scorer("baseline:bow")
    with pytest.raises(RmbenchError, match="unknown baseline"):
        build_scorer("baseline:nope")
