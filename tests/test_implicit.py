"""Implicit (DPO-style) rewards checked against a direct recomputation on tiny models."""

from __future__ import annotations

import pytest
import torch

from rmbench.errors import ModelError
from rmbench.scoring import implicit
from rmbench.scoring.base import Item
from rmbench.scoring.implicit import ImplicitRewardScorer
from tests import tiny

PROMPT = [{"role": "user", "content": "what is two plus two?"}]
ITEMS = [Item(PROMPT, "four."), Item(PROMPT, "five, or maybe four"), Item(PROMPT, "i cannot help"),
         Item([{"role": "user", "content": "the capital of france?"}], "paris")]


@pytest.fixture(scope="module")
def policy_and_ref(tmp_path_factory):
    return (tiny.save_causal_lm(tmp_path_factory.mktemp("policy"), seed=1),
            tiny.save_causal_lm(tmp_path_factory.mktemp("ref"), seed=2))


def scores(scorer, items=ITEMS) -> list[float]:
    out = [None] * len(items)
    for batch in scorer.score(items):
        for i, s in zip(batch.indices, batch.scores):
            out[i] = s
    return out


def direct_logp(model, tokenizer, item: Item) -> tuple[float, int]:
    """Sum of log p over the completion's tokens, one position at a time, no batching."""
    prompt_text = tokenizer.apply_chat_template(item.prompt, add_generation_prompt=True, tokenize=False)
    full_text = tokenizer.apply_chat_template([*item.prompt, {"role": "assistant", "content": item.completion}],
                                              tokenize=False)
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full_text, add_special_tokens=False)["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([full_ids])).logits[0]
    total = 0.0
    for position in range(len(prompt_ids), len(full_ids)):
        total += torch.log_softmax(logits[position - 1].double(), -1)[full_ids[position]].item()
    return total, len(full_ids) - len(prompt_ids)


@pytest.mark.parametrize("share_prompt", [True, False])
def test_implicit_reward_is_beta_times_the_logp_difference(policy_and_ref, share_prompt):
    policy, ref = policy_and_ref
    scorer = ImplicitRewardScorer(str(policy), str(ref), beta=0.5, dtype="fp32", share_prompt=share_prompt)
    for item, got in zip(ITEMS, scores(scorer)):
        pi, _ = direct_logp(scorer.policy, scorer.tokenizer, item)
        pi_ref, _ = direct_logp(scorer.ref, scorer.tokenizer, item)
        assert got == pytest.approx(0.5 * (pi - pi_ref), abs=1e-4)


def test_ref_free_and_length_normalised_modes_follow_their_formulas(policy_and_ref):
    policy, _ = policy_and_ref
    free = ImplicitRewardScorer(str(policy), None, dtype="fp32")
    normalised = ImplicitRewardScorer(str(policy), None, dtype="fp32", length_normalize=True)
    for item, raw, per_token in zip(ITEMS, scores(free), scores(normalised)):
        logp, n_tokens = direct_logp(free.policy, free.tokenizer, item)
        assert raw == pytest.approx(logp, abs=1e-4)
        assert per_token == pytest.approx(logp / n_tokens, abs=1e-5)


def test_prompt_tokens_do_not_count(policy_and_ref):
    """Scramble the final hidden states (what the logits are computed from) at every position
    that predicts a prompt token: nothing changes."""
    policy, _ = policy_and_ref
    scorer = ImplicitRewardScorer(str(policy), None, dtype="fp32", share_prompt=False)
    before = scores(scorer)
    prompt_len = len(scorer.tokenize(ITEMS[0]).prompt)

    def scramble(module, inputs, output):
        hidden = output.last_hidden_state.clone()
        hidden[:, : prompt_len - 1] = torch.randn_like(hidden[:, : prompt_len - 1]) * 100
        output.last_hidden_state = hidden
        return output

    handle = scorer.policy.model.register_forward_hook(scramble)
    try:
        after = scores(scorer, ITEMS[:3])  # the items sharing PROMPT, so prompt_len is theirs
    finally:
        handle.remove()
    assert after == pytest.approx(before[:3], abs=1e-5)


def test_chunked_log_probabilities_equal_a_full_log_softmax(policy_and_ref, monkeypatch):
    """Log-probabilities a few positions at a time against the batch-wide log-softmax in
    float64: equal to 1e-5, with spans that start, stop and cross chunk edges."""
    from transformers import AutoModelForCausalLM

    policy, _ = policy_and_ref
    model = AutoModelForCausalLM.from_pretrained(policy).eval()
    torch.manual_seed(0)
    ids = torch.randint(0, model.config.vocab_size, (3, 23))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    targets = torch.randint(0, model.config.vocab_size, (3, 23))
    spans = [(0, 23), (5, 17), (22, 23)]
    full = torch.log_softmax(logits.double(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    expected = [full[n, a:b].sum().item() for n, (a, b) in enumerate(spans)]
    for chunk in (4, 7, implicit.LOGP_CHUNK):
        monkeypatch.setattr(implicit, "LOGP_CHUNK", chunk)
        assert implicit._token_logps(logits, targets, spans).tolist() == pytest.approx(expected, abs=1e-5)
    bf16 = logits.bfloat16()  # chunks are upcast one at a time: the same as upcasting the whole
    full16 = torch.log_softmax(bf16.double(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    assert implicit._token_logps(bf16, targets, spans).tolist() == pytest.approx(
        [full16[n, a:b].sum().item() for n, (a, b) in enumerate(spans)], abs=1e-5)


def test_shared_prompt_and_full_forward_agree_and_batching_does_not_matter(policy_and_ref):
    policy, ref = policy_and_ref
    shared = scores(ImplicitRewardScorer(str(policy), str(ref), dtype="fp32", batch_tokens=40))
    full = scores(ImplicitRewardScorer(str(policy), str(ref), dtype="fp32", share_prompt=False, batch_tokens=4096))
    assert shared == pytest.approx(full, abs=1e-4)


def test_reference_with_another_tokenizer_is_refused(policy_and_ref, tmp_path):
    policy, _ = policy_and_ref
    other = tiny.save_causal_lm(tmp_path / "other")
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast.from_pretrained(other)
    tok.add_tokens(["<extra_token>"])
    tok.save_pretrained(other)
    with pytest.raises(ModelError, match="different tokenizers"):
        ImplicitRewardScorer(str(policy), str(other))


def test_cli_picks_the_implicit_scorer_from_flags_or_checkpoint_metadata(policy_and_ref, tmp_path):
    import json
    import shutil

    from typer.testing import CliRunner

    from rmbench.cli import app
    from tests.conftest import PAIRS, write_jsonl

    policy, ref = policy_and_ref
    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    runner = CliRunner()

    missing = runner.invoke(app, ["eval", "--reward", str(policy), "--data", str(data)])
    assert missing.exit_code == 2 and "--ref" in missing.output and "--judge" in missing.output

    flagged = runner.invoke(app, ["eval", "--reward", str(policy), "--ref", str(ref), "--data", str(data),
                                  "--out", str(tmp_path / "a")])
    assert flagged.exit_code == 0, flagged.output

    trained = tmp_path / "runs" / "dpo"  # as a trainer leaves it: weights plus rmbench.json
    shutil.copytree(policy, trained)
    shutil.copytree(ref, tmp_path / "runs" / "sft")
    (trained / "rmbench.json").write_text(json.dumps({"method": "dpo", "reference_model": "../sft", "beta": 0.1}))
    auto = runner.invoke(app, ["eval", "--reward", str(trained), "--data", str(data), "--out", str(tmp_path / "b")])
    assert auto.exit_code == 0, auto.output
    model = json.loads((tmp_path / "b" / "results.json").read_text())["model"]
    assert model["kind"] == "implicit" and model["beta"] == 0.1 and model["reference"].endswith("sft")
    first = [json.loads(x) for x in (tmp_path / "a" / "scores.jsonl").read_text().splitlines()]
    second = [json.loads(x) for x in (tmp_path / "b" / "scores.jsonl").read_text().splitlines()]
    for a, b in zip(first, second):  # same models, beta 1 vs 0.1: scores scale, decisions stay
        assert b["chosen_scores"][0] == pytest.approx(0.1 * a["chosen_scores"][0], abs=1e-4)
        assert a["correct"] == b["correct"]
