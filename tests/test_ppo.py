"""rmbench's PPO: each part against hand-computed values, then the loop on a tiny model.

The unit tests check ppo_core's pure functions; the loop tests use tests/tiny.py's random
Llama (400-token byte-level vocabulary) with a Python reward, an rmbench reward model,
--resume and the CLI's errors.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.trainers import ppo_core as core
from tests import tiny
from tests.conftest import write_jsonl

runner = CliRunner()
T = torch.tensor


def close(actual, expected, tol=1e-5):
    assert torch.allclose(actual.float(), torch.as_tensor(expected, dtype=torch.float32), atol=tol), actual


# ---------------------------------------------------------------------------------------------- ppo_core

def test_gae_on_a_three_step_trajectory_by_hand():
    # rewards 0, 0, 1; values 0.5, 0.4, 0.3; gamma 0.9, lam 0.8; the episode ends after step 2 (V = 0 beyond)
    # delta2 = 1 - 0.3 = 0.7                      A2 = 0.7
    # delta1 = 0 + 0.9 * 0.3 - 0.4 = -0.13        A1 = -0.13 + 0.72 * 0.7 = 0.374
    # delta0 = 0 + 0.9 * 0.4 - 0.5 = -0.14        A0 = -0.14 + 0.72 * 0.374 = 0.12928
    rewards = T([[0.0, 0.0, 1.0, 5.0]])  # the 4th position is padding: its reward and value must not count
    values = T([[0.5, 0.4, 0.3, 9.0]])
    mask = T([[1, 1, 1, 0]])
    advantages, returns = core.gae(rewards, values, mask, gamma=0.9, lam=0.8)
    close(advantages, [[0.12928, 0.374, 0.7, 0.0]])
    close(returns, [[0.62928, 0.774, 1.0, 0.0]])


def test_gae_with_lam_1_gives_discounted_returns_and_lam_0_one_step_td():
    rewards, values, mask = T([[1.0, 2.0, 3.0]]), T([[0.5, 0.5, 0.5]]), T([[1, 1, 1]])
    _, returns = core.gae(rewards, values, mask, gamma=0.5, lam=1.0)
    close(returns, [[1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]])  # Monte Carlo returns
    advantages, _ = core.gae(rewards, values, mask, gamma=0.5, lam=0.0)
    close(advantages, [[1 + 0.25 - 0.5, 2 + 0.25 - 0.5, 3 - 0.5]])  # r + gamma V' - V


def test_kl_penalty_on_every_token_and_the_score_on_the_last_real_one_only():
    logprobs = T([[-1.0, -2.0, -3.0, -4.0], [-1.0, -1.0, -1.0, -1.0]])
    ref = T([[-1.5, -1.0, -3.0, -9.0], [-2.0, -1.0, -1.0, -1.0]])
    mask = T([[1, 1, 1, 0], [1, 0, 0, 0]])
    kl = core.kl_per_token(logprobs, ref) * mask
    close(kl, [[0.5, -1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    rewards = core.per_token_rewards(T([2.0, -3.0]), kl, mask, kl_coef=0.1)
    close(rewards, [[-0.05, 0.1, 2.0, 0.0],       # score 2 at index 2, the last real token
                    [-0.1 - 3.0, 0.0, 0.0, 0.0]])  # a one-token completion: penalty and score together


def test_k3_kl_estimator_is_non_negative():
    logprobs, ref = T([[math.log(0.5), math.log(0.25)]]), T([[math.log(0.25), math.log(0.5)]])
    # k3 = (q - 1) - log q, q = pi_ref / pi: 0.5 -> 0.19315, 2 -> 0.30685
    close(core.kl_per_token(logprobs, ref, "k3"), [[-0.5 + math.log(2), 1 - math.log(2)]])
    close(core.kl_per_token(ref, ref, "k3"), [[0.0, 0.0]])
    with pytest.raises(ValueError, match="k1 or k3"):
        core.kl_per_token(ref, ref, "k2")


def test_clipped_policy_loss_inside_at_and_beyond_the_clip_range_with_both_signs():
    old = torch.zeros(1, 1)
    cases = [  # (ratio, advantage, per-token loss, clipped?)
        (1.1, 1.0, -1.1, False),   # inside the range: plain surrogate
        (1.2, 1.0, -1.2, False),   # at the edge: both terms equal, nothing clipped
        (1.5, 1.0, -1.2, True),    # beyond, good action: the gain stops at 1 + eps
        (1.5, -1.0, 1.5, False),   # beyond, bad action: the pessimistic term keeps the full loss
        (0.5, 1.0, -0.5, False),   # below, good action: keeps the full (worse) value
        (0.5, -1.0, 0.8, True),    # below, bad action: the gain from lowering it stops at 1 - eps
    ]
    for ratio, advantage, expected, clipped in cases:
        logprobs = torch.full((1, 1), math.log(ratio), requires_grad=True)
        loss, stats = core.clipped_policy_loss(logprobs, old, torch.full((1, 1), advantage), torch.ones(1, 1), 0.2)
        assert loss.item() == pytest.approx(expected, abs=1e-6), (ratio, advantage)
        assert stats["clipfrac"].item() == float(clipped), (ratio, advantage)
        assert stats["approx_kl"].item() == pytest.approx(ratio - 1 - math.log(ratio), abs=1e-6)
        loss.backward()
        gradient = logprobs.grad.item()  # d(-A r)/d logp = -A r when not clipped, 0 when clipped
        assert gradient == pytest.approx(0.0 if clipped else -advantage * ratio, abs=1e-6), (ratio, advantage)


def test_clipped_policy_loss_ignores_padding():
    logprobs, old = T([[0.1, 5.0]]), T([[0.0, 0.0]])
    loss, stats = core.clipped_policy_loss(logprobs, old, T([[1.0, 100.0]]), T([[1, 0]]), 0.2)
    assert loss.item() == pytest.approx(-math.exp(0.1)) and stats["clipfrac"].item() == 0.0


def test_clipped_value_loss_by_hand():
    old, returns, mask = torch.zeros(1, 3), torch.ones(1, 3), torch.ones(1, 3)
    values = T([[0.5, 0.1, -0.5]])
    # 0.5: moved 0.5 > 0.2 towards R, clipped to 0.2: max(0.25, 0.64) = 0.64 (clipped wins)
    # 0.1: inside the range: 0.81 both ways
    # -0.5: moved away from R, clipped -0.2 gives 1.44 < 2.25: the unclipped loss stays
    loss, clipfrac = core.clipped_value_loss(values, old, returns, mask, cliprange_value=0.2)
    assert loss.item() == pytest.approx(0.5 * (0.64 + 0.81 + 2.25) / 3)
    assert clipfrac.item() == pytest.approx(1 / 3)


def test_masked_whitening_gives_mean_0_std_1_over_real_tokens():
    values = T([[1.0, 2.0, 3.0, 100.0], [4.0, 5.0, -50.0, -50.0]])
    mask = T([[1, 1, 1, 0], [1, 1, 0, 0]])
    whitened = core.masked_whiten(values, mask)
    real = whitened[mask.bool()]
    assert real.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert real.std().item() == pytest.approx(1.0, abs=1e-6)  # Bessel-corrected, as masked_var
    assert whitened[~mask.bool()].abs().sum().item() == 0.0
    # mean 3 and unbiased std sqrt(2.5) over 1, 2, 3, 4, 5
    close(whitened, [[-2 / 2.5 ** 0.5, -1 / 2.5 ** 0.5, 0.0, 0.0], [1 / 2.5 ** 0.5, 2 / 2.5 ** 0.5, 0.0, 0.0]])
    kept = core.masked_whiten(values, mask, shift_mean=False)  # scaled only: signs and ratios kept
    close(kept, [[1 / 2.5 ** 0.5, 2 / 2.5 ** 0.5, 3 / 2.5 ** 0.5, 0.0], [4 / 2.5 ** 0.5, 5 / 2.5 ** 0.5, 0.0, 0.0]])


def test_entropy_and_logprobs_from_logits():
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]]])
    close(core.entropy_from_logits(logits), [[math.log(4), 0.0]])
    close(core.logprobs_from_logits(logits, T([[2, 0]])), [[-math.log(4), 0.0]])


def test_completion_mask_stops_after_the_first_stop_token_and_truncation_is_penalised():
    tokens = T([[5, 2, 7, 2], [5, 6, 7, 8], [2, 2, 2, 2], [5, 9, 6, 7]])
    mask, has_stop = core.completion_mask(tokens, [2, 9])
    close(mask, [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 0]])
    assert has_stop.tolist() == [True, False, True, True]
    assert core.last_token_index(mask).tolist() == [1, 3, 0, 1]
    scores = T([1.0, 2.0, 3.0, 4.0])
    close(core.apply_missing_eos_penalty(scores, has_stop, 1.5), [1.0, 0.5, 3.0, 4.0])
    close(core.apply_missing_eos_penalty(scores, has_stop, None), [1.0, 2.0, 3.0, 4.0])


# ---------------------------------------------------------------------------------------------- the loop

E_REWARD = "def count_e(prompts, completions):\n    return [float(c.count('e')) for c in completions]\n"


def prompts_file(path: Path, n: int = 32) -> Path:
    return write_jsonl(path, [{"prompt": f"question {i}: {tiny.CORPUS[i % len(tiny.CORPUS)]}", "completion": "ok"}
                              for i in range(n)])


def train(*args):
    return runner.invoke(app, ["train", "ppo", *args])


def log_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "ppo_log.jsonl").read_text().splitlines()]


@pytest.fixture
def setup(tmp_path):
    reward = tmp_path / "reward.py"
    reward.write_text(E_REWARD)
    return tiny.save_causal_lm(tmp_path / "start"), prompts_file(tmp_path / "prompts.jsonl"), f"{reward}:count_e"


def test_rollout_log_probabilities_match_the_sampler_and_an_unpadded_forward(setup, tmp_path):
    """Left padding, position ids and the completion slice agree: what is trained on is what was sampled."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rmbench.trainers import ppo_models as ppo
    from rmbench.trainers.ppo_config import PPOConfig
    from rmbench.trainers.ppo_trainer import PPOTrainer

    start, _, _ = setup
    tokenizer = AutoTokenizer.from_pretrained(start)
    policy = AutoModelForCausalLM.from_pretrained(start)
    value = ppo.load_value_model(str(start), tokenizer.pad_token_id, seed=0)
    assert value.score.weight.abs().sum().item() == 0.0  # a causal LM has no head: the value head starts at 0
    prompts = [[{"role": "user", "content": text}] for text in ("hi", "please write a short poem about the sea")]
    config = PPOConfig(reward_fn="x:y", response_length=6, per_device_train_batch_size=2)
    trainer = PPOTrainer(config, policy, AutoModelForCausalLM.from_pretrained(start), value, tokenizer,
                         lambda p, c: torch.ones(len(c)), prompts, tmp_path / "out", seed=3)
    rows, _ = ppo.encode_prompts(tokenizer, prompts, 512)
    assert len(rows[0]) < len(rows[1])  # the first row is left-padded
    query, query_mask = ppo.pad_rows(rows, tokenizer.pad_token_id, left=True)
    generator = torch.Generator().manual_seed(0)
    tokens, sampled_logprobs = ppo.sample(policy, query, query_mask, 6, 1.0, trainer.stop_ids,
                                          tokenizer.pad_token_id, generator, return_logprobs=True)
    mask, _ = core.completion_mask(tokens, trainer.stop_ids)
    ids, attention = torch.cat([query, tokens], 1), torch.cat([query_mask, mask], 1)
    logits, values = trainer.accelerator.unwrap_model(trainer.model)(ids, attention, query.shape[1])
    forward_logprobs = core.logprobs_from_logits(logits, tokens)
    for n, row in enumerate(rows):
        real = int(mask[n].sum())
        alone = torch.tensor([row + tokens[n, :real].tolist()])
        with torch.no_grad():
            expected = core.logprobs_from_logits(policy(alone).logits[:, len(row) - 1:-1], tokens[n:n + 1, :real])
        close(forward_logprobs[n:n + 1, :real], expected, tol=1e-4)
        close(sampled_logprobs[n:n + 1, :real], expected, tol=1e-4)
    assert values.shape == tokens.shape and values.abs().max().item() == 0.0

    rollout = trainer.rollout(prompts)
    assert rollout.logprobs.shape == rollout.mask.shape == rollout.advantages.shape
    assert (rollout.advantages * (1 - rollout.mask)).abs().sum().item() == 0.0


def test_ppo_raises_a_python_reward(setup, tmp_path):
    """Reward = how many times the letter e appears (dense enough for a random 400-token model to find)."""
    start, prompts, spec = setup
    run = tmp_path / "run"
    steps = 16
    result = train("--model", str(start), "--data", str(prompts), "--out", str(run), "--set", f"reward_fn={spec}",
                   "--set", f"max_steps={steps}", "--set", "save_steps=8", "--set", "response_length=12",
                   "--set", "learning_rate=1e-2", "--set", "kl_coef=0.01", "--set", "per_device_train_batch_size=8",
                   "--set", "gradient_accumulation_steps=2", "--set", "num_ppo_epochs=4")
    assert result.exit_code == 0, result.output
    log = log_of(run)
    assert [r["step"] for r in log] == list(range(1, steps + 1))
    for key in ("reward", "kl", "entropy", "clipfrac", "value_loss", "approx_kl", "tokens_per_s"):
        assert all(math.isfinite(r[key]) for r in log), key
    seen = [r["reward"] for r in log]
    first, last = sum(seen[:3]) / 3, sum(seen[-3:]) / 3
    print(f"ppo: mean reward first 3 steps {first:.2f}, last 3 steps {last:.2f}", [round(r, 2) for r in seen])
    assert last > 2 * first and last > first + 1.0, seen
    assert log[-1]["entropy"] < log[0]["entropy"]

    meta = json.loads((run / "checkpoint-8" / "rmbench.json").read_text())
    assert meta["method"] == "ppo" and meta["step"] == 8 and meta["reward_fn"] == spec
    assert meta["kl_coef"] == 0.01 and meta["ppo"]["cliprange"] == 0.2 and meta["value_model"] == str(start)
    assert json.loads((run / "final" / "rmbench.json").read_text())["step"] == steps
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(run / "final", use_safetensors=True)  # a plain causal LM folder


def test_reward_model_checkpoint_end_to_end_and_value_model_from_it(setup, tmp_path):
    start, prompts, _ = setup
    rm = tiny.save_classifier(tmp_path / "rm")  # the same tokenizer as the policy: the value model starts from it
    run = tmp_path / "run"
    result = train("--model", str(start), "--data", str(prompts), "--out", str(run), "--set", f"reward_model={rm}",
                   "--set", "max_steps=2", "--set", "save_steps=1", "--set", "save_total_limit=1",
                   "--set", "response_length=6", "--set", "missing_eos_penalty=1.0")
    assert result.exit_code == 0, result.output
    assert [p.name for p in run.glob("checkpoint-*")] == ["checkpoint-2"]  # save_total_limit
    meta = json.loads((run / "checkpoint-2" / "rmbench.json").read_text())
    assert meta["reward_model"] == str(rm) and meta["value_model"] == str(rm) and meta["reward_fn"] is None
    assert meta["rewards"] == [{"reward_model": str(rm)}] and meta["reference_model"] == str(start)
    from transformers import AutoModelForSequenceClassification

    value = AutoModelForSequenceClassification.from_pretrained(run / "checkpoint-2" / "value_model")
    rm_head = AutoModelForSequenceClassification.from_pretrained(rm).score.weight
    assert value.score.weight.shape == rm_head.shape and value.score.weight.abs().sum() > 0
    log = log_of(run)
    assert len(log) == 2 and all(r["reward_std"] > 0 for r in log)
    assert (run / "heldout-prompts.jsonl").is_file()


def test_resume_continues_exactly_where_the_run_stopped(setup, tmp_path):
    start, prompts, spec = setup
    common = ["--model", str(start), "--data", str(prompts), "--set", f"reward_fn={spec}", "--set", "save_steps=2",
              "--set", "response_length=6", "--set", "learning_rate=1e-2", "--set", "lr_scheduler_type=constant",
              "--set", "per_device_train_batch_size=4"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train(*common, "--out", str(straight), "--set", "max_steps=4").exit_code == 0
    assert train(*common, "--out", str(resumed), "--set", "max_steps=2").exit_code == 0
    again = train(*common, "--out", str(resumed), "--set", "max_steps=4", "--resume")
    assert again.exit_code == 0, again.output
    assert "resuming from checkpoint-2" in again.output
    a, b = log_of(straight), log_of(resumed)
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for x, y in zip(a, b):
        assert x["reward"] == pytest.approx(y["reward"]) and x["kl"] == pytest.approx(y["kl"], abs=1e-5), (x, y)
    assert json.loads((resumed / "final" / "rmbench.json").read_text())["step"] == 4


def test_on_save_hook_gets_each_checkpoint_and_step(setup, tmp_path):
    from rmbench.trainers.ppo import train_ppo
    from rmbench.trainers.request import TrainRequest

    start, prompts, spec = setup
    saved = []
    request = TrainRequest("ppo", str(start), [str(prompts)], tmp_path / "run", show_progress=False,
                           overrides={"reward_fn": spec, "max_steps": 2, "save_steps": 1, "response_length": 4})
    train_ppo(request, on_save=[lambda folder, step: saved.append((folder.name, step))])
    assert saved == [("checkpoint-1", 1), ("checkpoint-2", 2), ("final", 2)]


def test_reward_mistakes_are_one_clear_error_line(setup, tmp_path):
    start, prompts, spec = setup
    out = tmp_path / "run"
    common = ["--model", str(start), "--data", str(prompts), "--out", str(out)]
    cases = [
        ([], "ppo needs a reward"),
        (["--set", f"reward_fn={spec}", "--set", f"reward_model={start}"], "ppo takes one reward"),
        (["--set", "reward_fn=no_such_module_here:f"], "cannot import module 'no_such_module_here'"),
        (["--set", f"reward_fn={spec[:-len('count_e')]}count_f"], "has no function 'count_f'"),
        (["--set", f"reward_fn={tmp_path / 'missing.py'}:f"], "no such file"),
        (["--set", f"reward_model={start}"], "not a reward model"),
        (["--set", f"reward_fn={spec}", "--set", "cliprange=-1"], "cliprange must be"),
        (["--set", f"reward_fn={spec}", "--set", "kl_coeff=0.1"], "did you mean 'kl_coef'"),
        (["--set", f"reward_fn={spec}", "--set", "value_model=reward"], "value_model=reward"),
    ]
    for extra, message in cases:
        result = train(*common, *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output and "Traceback" not in result.output, (extra, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert not out.exists() or not any(out.iterdir())  # nothing written: the same --out works next time
