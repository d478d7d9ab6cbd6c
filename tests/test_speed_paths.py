"""The scoring engine's speed paths keep the scores: a causal decoder runs its right-padded
batches without an attention mask (classifier and implicit reward alike), an encoder keeps
it; `--compile` gives the same rewards (to float rounding) and is refused where it does not
apply."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.scoring.base import Item
from rmbench.scoring.classifier import ClassifierScorer
from rmbench.scoring.implicit import ImplicitRewardScorer
from rmbench.scoring.runtime import attends_causally
from tests.tiny import make_tokenizer

ROWS = [[5, 6, 7, 8, 9, 10, 11, 12, 13], [5, 6, 7], [14, 15, 16, 17, 18], [20]]


def _bert_classifier(folder):
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = make_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, max_position_embeddings=64, num_labels=1,
                        pad_token_id=tokenizer.pad_token_id)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_causal_decoder_scores_padded_batches_unmasked_and_identically(tiny_rm):
    scorer = ClassifierScorer(str(tiny_rm), dtype="fp32")
    seen = []
    network = scorer._network
    scorer._network = lambda **kw: seen.append(kw["attention_mask"]) or network(**kw)
    unmasked = scorer.forward(ROWS)
    assert seen == [None]  # the decoder ran without a mask...
    alone = [scorer.forward([row])[0] for row in ROWS]
    scorer._unmasked = False
    masked = scorer.forward(ROWS)
    assert seen[-1] is not None
    assert unmasked == masked  # ...and scored bit for bit as with it
    assert unmasked == pytest.approx(alone, abs=1e-5)  # padding changes nothing


def test_implicit_reward_full_passes_run_unmasked_and_identically(tiny_lm):
    prompt = [{"role": "user", "content": "what is two plus two?"}]
    items = [Item(prompt, "four."), Item(prompt, "five, or maybe four, the answer is four"),
             Item([{"role": "user", "content": "the capital of france?"}], "paris")]
    scorer = ImplicitRewardScorer(str(tiny_lm), None, share_prompt=False, dtype="fp32")  # reference-free: log-probs
    assert scorer._unmasked

    def rewards():
        return {i: s for batch in scorer.score(items) for i, s in zip(batch.indices, batch.scores)}

    unmasked = rewards()
    scorer._unmasked = False
    assert unmasked == rewards()  # bit for bit
    alone = [list(scorer.score([item]))[0].scores[0] for item in items]
    assert [unmasked[i] for i in range(len(items))] == pytest.approx(alone, abs=1e-5)


def test_bidirectional_encoders_keep_their_mask(tmp_path):
    from transformers import AutoModelForSequenceClassification, Gemma2Config, Gemma2ForSequenceClassification

    bert = AutoModelForSequenceClassification.from_pretrained(_bert_classifier(tmp_path / "bert"))
    assert not attends_causally(bert)
    gemma = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, head_dim=8, num_labels=1)
    assert attends_causally(Gemma2ForSequenceClassification(Gemma2Config(**gemma)))
    bidirectional = Gemma2Config(**gemma, use_bidirectional_attention=True)
    assert not attends_causally(Gemma2ForSequenceClassification(bidirectional))

    # An encoder's padded batch still scores each text as it scores alone: the mask was kept.
    scorer = ClassifierScorer(str(tmp_path / "bert"), dtype="fp32", chat_template="raw", allow_random_head=True)
    assert not scorer._unmasked
    assert scorer.forward(ROWS) == pytest.approx([scorer.forward([row])[0] for row in ROWS], abs=1e-5)


@pytest.mark.parametrize("flags, wrong", [
    (["--judge", "JUDGE"], "judges"),
    (["--reward", "baseline:length"], "baselines"),
    (["--reward", "RM", "--ref", "none"], "implicit"),
    (["--reward", "vllm:http://127.0.0.1:9"], "servers"),
])
def test_compile_is_refused_where_it_does_not_apply(flags, wrong, tiny_rm, tiny_lm, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "hi", "chosen": "a", "rejected": "b"}) + "\n")
    flags = [str(tiny_rm) if f == "RM" else str(tiny_lm) if f == "JUDGE" else f for f in flags]
    result = CliRunner().invoke(app, ["eval", *flags, "--data", str(data), "--compile", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "--compile applies to sequence-classifier reward models" in result.output
    assert wrong in result.output and "Traceback" not in result.output


def test_a_compiler_failure_is_one_line_after_the_note(tiny_rm, tmp_path, monkeypatch):
    from torch._dynamo.exc import InternalTorchDynamoError

    def broken_compile(module, **_):
        def run(**__):
            raise InternalTorchDynamoError("no working C++ compiler found\n<long inductor log>")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "hi", "chosen": "a", "rejected": "b"}) + "\n")
    result = CliRunner().invoke(app, ["eval", "--reward", str(tiny_rm), "--data", str(data), "--compile",
                                      "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "note: compiling the reward model (--compile)" in result.output
    assert "--compile failed for" in result.output and "no working C++ compiler found" in result.output
    assert "run without --compile" in result.output
    assert "<long inductor log>" not in result.output and "Traceback" not in result.output


@pytest.mark.integration  # compiling even a tiny model takes ~30-45 s on two cores
def test_compiled_classifier_gives_the_same_rewards_and_its_own_cache_key(tiny_rm):
    plain = ClassifierScorer(str(tiny_rm), dtype="fp32")
    compiled = ClassifierScorer(str(tiny_rm), dtype="fp32", compile=True)
    assert compiled.forward(ROWS) == pytest.approx(plain.forward(ROWS), abs=1e-4)
    compiles = torch._dynamo.utils.counters["frames"]["ok"]
    # other batch shapes, a batch of one row included, reuse the dynamic graph and still agree
    assert compiled.forward(ROWS[1:3]) == pytest.approx(plain.forward(ROWS[1:3]), abs=1e-4)
    assert compiled.forward(ROWS[:1]) == pytest.approx(plain.forward(ROWS[:1]), abs=1e-4)
    assert torch._dynamo.utils.counters["frames"]["ok"] == compiles  # no recompile (one took ~60 s on SmolLM2)
    assert compiled.describe()["compiled"] and not plain.describe()["compiled"]
    assert compiled.fingerprint() != plain.fingerprint()  # fused kernels round differently: no shared cache
