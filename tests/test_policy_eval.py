"""Policy evaluation on tiny random models: sampling that a seed pins down whatever the
batching, win-rates that can only come out one way, KL that is zero exactly when it must
be, ROUGE, resuming, and the command's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.errors import DataError
from rmbench.evals import generation
from rmbench.evals.generation import PolicyModel, SamplingSettings
from rmbench.evals.policy import PolicyEvalRequest, rouge_scores, run_policy_eval, win_outcome
from rmbench.evals.prompts import load_prompts
from rmbench.evals.run import EvalRequest, run_eval
from rmbench.options import ModelOptions, ScorerOptions
from tests import tiny
from tests.conftest import PAIRS, write_jsonl

runner = CliRunner()
PROMPTS = [
    {"prompt": "what is two plus two?"},
    {"prompt": "write a short poem about the sea"},
    {"prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the capital of france?"}]},
    {"prompt": "please help with a python function that adds numbers"},
    {"prompt": "the quick brown fox"},
]


@pytest.fixture
def prompts_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", PAIRS)


def save_short_writer(folder: Path, eos_logit: float = 6.0) -> Path:
    """A tiny LM whose next-token distribution is the same everywhere and puts about half its
    mass on EOS: it writes a token or two where the plain random model writes until the budget."""
    from transformers import LlamaForCausalLM

    tiny.save_causal_lm(folder, seed=3)
    model = LlamaForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        for layer in model.model.layers:  # residual stream = the token's embedding
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        embed.copy_(embed[:1].expand_as(embed))  # ... and every token embeds alike
        hidden = model.model.norm(embed[:1])[0]
        model.lm_head.weight[model.config.eos_token_id] = eos_logit * hidden / hidden.dot(hidden)
    model.save_pretrained(folder)
    return folder


def save_sharp_lm(folder: Path) -> Path:
    """A random LM with very confident (low-entropy) next-token distributions: far, in KL,
    from the near-uniform plain tiny model."""
    from transformers import LlamaForCausalLM

    tiny.save_causal_lm(folder, seed=1)
    model = LlamaForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        model.lm_head.weight.mul_(100)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def short_writer(tmp_path_factory) -> Path:
    return save_short_writer(tmp_path_factory.mktemp("short-writer"))


@pytest.fixture(scope="module")
def sharp_lm(tmp_path_factory) -> Path:
    return save_sharp_lm(tmp_path_factory.mktemp("sharp-lm"))


def evaluate(policy, data, **options) -> tuple[dict, list[dict]]:
    policy_options = ModelOptions(**{"dtype": "fp32", **options.pop("policy_options", {})})
    request = PolicyEvalRequest(policy=str(policy), data=[str(data)], show_progress=False,
                                policy_options=policy_options, **{"max_new_tokens": 12, **options})
    return run_policy_eval(request)


def completions(rows: list[dict]) -> list[str]:
    return [r["completion"] for r in rows]


# -- generation -----------------------------------------------------------------------------


def test_generation_is_deterministic_for_a_seed_and_settings_are_recorded(tiny_lm, prompts_file):
    record, rows = evaluate(tiny_lm, prompts_file, seed=7, temperature=0.9, top_p=0.95)
    _, again = evaluate(tiny_lm, prompts_file, seed=7, temperature=0.9, top_p=0.95)
    _, other_seed = evaluate(tiny_lm, prompts_file, seed=8, temperature=0.9, top_p=0.95)
    assert completions(rows) == completions(again)
    assert completions(rows) != completions(other_seed)
    settings = record["config"]["generation"]
    assert {k: settings[k] for k in ("max_new_tokens", "temperature", "top_p", "do_sample", "seed", "n_prompts")} == \
        {"max_new_tokens": 12, "temperature": 0.9, "top_p": 0.95, "do_sample": True, "seed": 7, "n_prompts": 5}
    assert record["model"]["kind"] == "policy"
    assert record["timing"]["generation"]["new_tokens"] == sum(r["tokens"] + r["stopped"] for r in rows)


def test_completions_do_not_depend_on_batching(tiny_lm, prompts_file):
    _, together = evaluate(tiny_lm, prompts_file, policy_options={"batch_size": 64})
    _, alone = evaluate(tiny_lm, prompts_file, policy_options={"batch_size": 1})
    assert completions(together) == completions(alone)


def test_greedy_decoding_repeats_the_argmax(tiny_lm, prompts_file):
    record, rows = evaluate(tiny_lm, prompts_file, temperature=0.0, seed=1)
    _, other_seed = evaluate(tiny_lm, prompts_file, temperature=0.0, seed=2)
    assert record["config"]["generation"]["do_sample"] is False
    assert completions(rows) == completions(other_seed)  # no randomness left for a seed to change


def test_stop_token_ends_a_completion_and_budget_hits_are_counted(tiny_lm, short_writer, prompts_file):
    record, rows = evaluate(short_writer, prompts_file, max_new_tokens=12)
    assert all(r["stopped"] and not r["hit_max"] for r in rows)
    assert record["overall"]["length"]["hit_max_fraction"] == 0.0
    long_record, long_rows = evaluate(tiny_lm, prompts_file, max_new_tokens=12)
    assert all(r["tokens"] == 12 and r["hit_max"] for r in long_rows)
    assert long_record["overall"]["length"]["hit_max_fraction"] == 1.0
    assert long_record["overall"]["length"]["tokens_mean"] == 12.0


def test_nucleus_sampling_matches_a_plain_full_sort():
    torch.manual_seed(0)
    spread = torch.tensor([[8.0], [8.0], [0.05], [0.05], [3.0], [3.0]])  # peaked rows, and flat ones wider than
    logits = torch.randn(6, 1000) * spread  # the top-256 shortcut can hold
    draws = torch.rand(6, dtype=torch.float64)
    settings = SamplingSettings(temperature=0.8, top_p=0.9)
    probs, order = torch.softmax(logits / 0.8, -1).sort(-1, descending=True)
    probs = probs * ((probs.cumsum(-1) - probs) < 0.9)
    cumulative = probs.cumsum(-1)
    expected = [int(order[n, int((cumulative[n] > draws[n] * cumulative[n, -1]).nonzero()[0])]) for n in range(6)]
    assert generation._pick(logits, settings, draws).tolist() == expected
    # alone or batched: a row's token does not depend on its neighbours
    assert [int(generation._pick(logits[n:n + 1], settings, draws[n:n + 1])) for n in range(6)] == expected


def test_inverse_cdf_draws_follow_the_distribution():
    probs = torch.tensor([[0.5, 0.0, 0.25, 0.25]]).expand(1000, 4)
    draws = (torch.arange(1000, dtype=torch.float64) + 0.5) / 1000
    counts = torch.bincount(generation._inverse_cdf(probs, None, draws), minlength=4).tolist()
    assert counts == [500, 0, 250, 250]


def test_padded_log_probabilities_match_single_unpadded_passes(tiny_lm):
    policy = PolicyModel(str(tiny_lm), dtype="fp32")
    rows = [([5, 6, 7, 8, 9], [10, 11]), ([12], [13, 14, 15, 16]), ([3, 4], [20])]
    batched = policy.completion_logps(rows, temperature=0.7)
    for (prompt, completion), value in zip(rows, batched):
        with torch.inference_mode():
            logits = policy.model(input_ids=torch.tensor([prompt + completion])).logits[0].float() / 0.7
        logps = torch.log_softmax(logits[len(prompt) - 1: -1], -1)
        assert value == pytest.approx(float(logps.gather(-1, torch.tensor(completion)[:, None]).sum()), abs=1e-4)


# -- win-rate -------------------------------------------------------------------------------


def test_win_rate_against_itself_is_exactly_half_with_all_ties(tiny_lm, prompts_file, tmp_path):
    record, rows = evaluate(tiny_lm, prompts_file, baseline_policy=str(tiny_lm), judge_rm="baseline:random",
                            out=tmp_path / "self")
    assert record["score"] == 0.5 and record["score_rule"] == "win_rate_vs_baseline"
    assert record["ties"] == len(rows) == 5
    assert all(r["correct"] == 0.5 and r["completion"] == r["baseline_completion"] for r in rows)
    assert record["overall"]["ci95"] == [0.5, 0.5]
    # the baseline is the same model with the same settings: its completions come from the cache
    assert record["timing"]["baseline_generation"]["from_cache"] == 5


def test_length_judge_prefers_the_policy_that_writes_longer(tiny_lm, short_writer, prompts_file):
    record, rows = evaluate(tiny_lm, prompts_file, baseline_policy=str(short_writer), judge_rm="baseline:length")
    assert record["score"] == 1.0 and record["overall"]["wins"] == 5
    assert all(r["reward"] == len(r["completion"]) > r["baseline_reward"] == r["baseline_chars"] for r in rows)
    reverse, _ = evaluate(short_writer, prompts_file, baseline_policy=str(tiny_lm), judge_rm="baseline:length")
    assert reverse["score"] == 0.0 and reverse["overall"]["losses"] == 5
    assert reverse["overall"]["length"]["tokens_mean"] < reverse["overall"]["baseline_length"]["tokens_mean"]


def test_reward_distribution_without_a_baseline(tiny_lm, prompts_file):
    record, rows = evaluate(tiny_lm, prompts_file, judge_rm="baseline:length")
    reward = record["overall"]["reward"]
    assert record["score_rule"] == "mean_judge_reward"
    assert record["score"] == pytest.approx(sum(r["reward"] for r in rows) / 5) == reward["mean"]
    assert reward["quantiles"]["p50"] == sorted(r["reward"] for r in rows)[2]
    assert sum(reward["histogram"]["counts"]) == 5
    assert record["overall"]["accuracy"] is None and all(r["correct"] is None for r in rows)


def test_classifier_judge_scores_through_the_engine_cache(tiny_lm, tiny_rm, prompts_file, tmp_path):
    options = {"judge_rm": str(tiny_rm), "judge_options": ModelOptions(dtype="fp32"), "out": tmp_path / "run"}
    record, rows = evaluate(tiny_lm, prompts_file, **options)
    assert record["timing"]["judge"]["scored"] == 5
    again, rows_again = evaluate(tiny_lm, prompts_file, **options)
    assert again["timing"]["judge"]["from_cache"] == 5 and again["timing"]["judge"]["scored"] == 0
    assert [r["reward"] for r in rows] == [r["reward"] for r in rows_again]


def test_pairwise_llm_judge_gives_outcomes_and_skips_identical_answers(tiny_lm, short_writer, prompts_file):
    options = {"judge": str(tiny_lm), "judge_options": ModelOptions(dtype="fp32"),
               "judge_scoring": ScorerOptions(judge_mode="pairwise")}
    record, rows = evaluate(tiny_lm, prompts_file, baseline_policy=str(short_writer), **options)
    assert record["timing"]["judge"]["judge_requests"] == 10  # 5 pairs, both answer orders
    assert all(r["correct"] in (0.0, 0.5, 1.0) and r["reward"] is None for r in rows)
    assert record["overall"]["reward"] is None and record["score_rule"] == "win_rate_vs_baseline"
    same, _ = evaluate(tiny_lm, prompts_file, baseline_policy=str(tiny_lm), **options)
    assert same["score"] == 0.5 and same["timing"]["judge"]["judge_requests"] == 0


def test_win_outcome_counts_ties_and_missing_scores_as_half():
    assert win_outcome(2.0, 1.0) == 1.0 and win_outcome(1.0, 2.0) == 0.0 and win_outcome(1.0, 1.0) == 0.5
    assert win_outcome(float("nan"), 1.0) == 0.5


# -- KL -----------------------------------------------------------------------------------


def test_kl_to_itself_is_zero_and_to_a_different_model_positive(tiny_lm, sharp_lm, prompts_file):
    record, rows = evaluate(tiny_lm, prompts_file, ref=str(tiny_lm))
    assert all(r["kl"] == 0.0 for r in rows) and record["overall"]["kl"]["mean"] == 0.0
    record, rows = evaluate(tiny_lm, prompts_file, ref=str(sharp_lm))
    assert record["overall"]["kl"]["mean"] > 1.0
    assert record["overall"]["kl"]["per_token"] == pytest.approx(
        sum(r["kl"] for r in rows) / sum(r["tokens"] + r["stopped"] for r in rows))


# -- ROUGE and prompt sets ---------------------------------------------------------------------


def test_rouge_of_the_reference_itself_is_one():
    same, partial, none = rouge_scores(["the cat sat on the mat", "the cat ran", "anything"],
                                       [["the cat sat on the mat"], ["a dog", "the cat sat"], []])
    assert same == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert partial["rouge1"] == pytest.approx(2 / 3)  # best of two references: 2 of 3 words shared
    assert partial["rouge2"] == pytest.approx(0.5)
    assert none is None


def test_prompt_sets_from_sft_preference_and_plain_files(tmp_path, pairs_file, prompts_file):
    alpaca = tmp_path / "alpaca.json"
    alpaca.write_text(json.dumps([{"instruction": "add", "input": "2 and 2", "output": "4"},
                                  {"instruction": "name a color", "input": "", "output": "blue"}]))
    sft = load_prompts(str(alpaca))
    assert [p.references for p in sft] == [["4"], ["blue"]]
    assert sft[0].prompt == [{"role": "user", "content": "add\n\n2 and 2"}]
    prefs = load_prompts(str(pairs_file), limit=2)
    assert [p.references for p in prefs] == [["four."], ["the sea is blue and deep"]]
    plain = load_prompts(str(prompts_file))
    assert len(plain) == 5 and all(p.references == [] for p in plain)
    assert plain[2].prompt[0]["role"] == "system"


def test_rouge_against_sft_references_lands_in_rows_and_record(tiny_lm, tmp_path):
    data = write_jsonl(tmp_path / "sft.jsonl", [{"prompt": "say hi", "completion": "hi there"},
                                                 {"prompt": "say bye", "completion": "bye now"}])
    record, rows = evaluate(tiny_lm, data)
    assert all(0.0 <= r["rougeL"] <= 1.0 for r in rows)
    assert record["overall"]["rouge"]["n"] == 2
    assert record["score"] is None and record["score_rule"].startswith("none")


# -- resume and record shape ----------------------------------------------------------------


def test_an_interrupted_run_resumes_from_cached_completions(tiny_lm, prompts_file, tmp_path, monkeypatch):
    out = tmp_path / "run"
    _, fresh = evaluate(tiny_lm, prompts_file, out=tmp_path / "fresh")
    original = PolicyModel._generate_batch
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PolicyModel, "_generate_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluate(tiny_lm, prompts_file, out=out, policy_options={"batch_size": 1})
    monkeypatch.setattr(PolicyModel, "_generate_batch", original)
    record, rows = evaluate(tiny_lm, prompts_file, out=out, policy_options={"batch_size": 1})
    assert record["timing"]["generation"]["from_cache"] == 2
    assert record["timing"]["generation"]["generated"] == 3
    assert completions(rows) == completions(fresh)

    def no_model(*args, **kwargs):
        raise AssertionError("a finished run must not load weights again")

    monkeypatch.setattr(generation.PolicyModel, "_generate_batch", no_model)
    monkeypatch.setattr("rmbench.models.load_model", no_model)
    record, rows = evaluate(tiny_lm, prompts_file, out=out)
    assert record["timing"]["generation"]["from_cache"] == 5 and completions(rows) == completions(fresh)


def test_a_shared_cache_samples_the_baseline_once_across_checkpoints(tiny_lm, short_writer, prompts_file, tmp_path):
    shared = {"baseline_policy": str(short_writer), "judge_rm": "baseline:length", "cache_dir": tmp_path / "cache"}
    first, _ = evaluate(tiny_lm, prompts_file, out=tmp_path / "step-1", **shared)
    second, _ = evaluate(short_writer, prompts_file, out=tmp_path / "step-2", **shared)
    assert first["timing"]["baseline_generation"]["generated"] == 5
    assert second["timing"]["baseline_generation"]["from_cache"] == 5
    assert not (tmp_path / "step-1" / ".cache").exists()


def test_record_has_the_reward_model_record_shape(tiny_lm, prompts_file, pairs_file, tmp_path):
    rm_record, _ = run_eval(EvalRequest(reward="baseline:length", data=[str(pairs_file)], show_progress=False))
    record, rows = evaluate(tiny_lm, prompts_file, baseline_policy=str(tiny_lm), judge_rm="baseline:length",
                            out=tmp_path / "run")
    assert set(rm_record) <= set(record)
    subset = record["subsets"]["prompts"]
    assert {"n", "accuracy", "metric", "ci95", "ties", "truncated"} <= set(subset)
    assert subset["metric"] == "win_rate"
    on_disk = [json.loads(line) for line in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
    assert on_disk == json.loads(json.dumps(rows))
    assert json.loads((tmp_path / "run" / "results.json").read_text())["score"] == record["score"]
    for key in ("id", "subset", "prompt", "completion", "baseline_completion", "reward", "baseline_reward",
                "correct", "kl", "rouge1", "rouge2", "rougeL", "tokens", "chars"):
        assert key in rows[0]


def test_sampling_settings_are_checked():
    with pytest.raises(Exception, match="top-p"):
        SamplingSettings(top_p=0)
    with pytest.raises(Exception, match="max-new-tokens"):
        SamplingSettings(max_new_tokens=0)


# -- the command ---------------------------------------------------------------------------


def run(*args):
    return runner.invoke(app, ["eval", *args])


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.output.strip().startswith("error:")
    for fragment in fragments:
        assert fragment in result.output, result.output


def test_cli_policy_eval_writes_results_and_prints_a_table(tiny_lm, prompts_file, tmp_path):
    out = tmp_path / "run"
    result = run("--policy", str(tiny_lm), "--data", str(prompts_file), "--judge-rm", "baseline:length",
                 "--baseline-policy", str(tiny_lm), "--ref", str(tiny_lm), "--max-new-tokens", "8",
                 "--temperature", "0.7", "--top-p", "0.9", "--limit", "3", "--out", str(out), "--dtype", "fp32")
    assert result.exit_code == 0, result.output
    assert "win-rate vs baseline" in result.output and "score 50.0" in result.output
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["generation"]["max_new_tokens"] == 8 and record["subsets"]["prompts"]["n"] == 3
    assert len((out / "scores.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("extra, fragments", [
    (["--reward", "baseline:length"], ["--reward", "--policy"]),
    (["--suite", "demo"], ["--suite"]),
    (["--baseline-policy", "BASE"], ["--judge-rm"]),
    (["--judge-rm", "baseline:length", "--judge", "x"], ["one judge"]),
    (["--top-p", "1.5"], ["--top-p"]),
    (["--max-new-tokens", "0"], ["--max-new-tokens"]),
    (["--ref", "none"], ["--ref"]),
])
def test_cli_policy_mistakes_are_one_line(tiny_lm, prompts_file, extra, fragments):
    extra = [str(tiny_lm) if value == "BASE" else value for value in extra]
    assert_user_error(run("--policy", str(tiny_lm), "--data", str(prompts_file), *extra), *fragments)


def test_cli_policy_needs_prompts_and_a_causal_lm(tiny_lm, tiny_rm, prompts_file, tmp_path):
    assert_user_error(run("--policy", str(tiny_lm)), "--data")
    assert_user_error(run("--policy", str(tiny_rm), "--data", str(prompts_file)), "sequence classifier")
    assert_user_error(run("--policy", str(tmp_path / "nope"), "--data", str(prompts_file)), "no such model")
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "no prompt here"}])
    assert_user_error(run("--policy", str(tiny_lm), "--data", str(bad)), "bad.jsonl", "no prompt")


def test_cli_policy_flags_without_policy_are_refused(pairs_file):
    assert_user_error(run("--reward", "baseline:length", "--data", str(pairs_file), "--max-new-tokens", "5"),
                      "--max-new-tokens", "--policy")


def test_prompt_records_that_cannot_be_read_are_skipped_counted_and_strict_refuses(tiny_lm, tmp_path):
    good = {"chosen": "\n\nHuman: Name a colour.\n\nAssistant: Blue.",
            "rejected": "\n\nHuman: Name a colour.\n\nAssistant: Seven."}
    diverging = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant: Bye!",
                 "rejected": "\n\nHuman: Hi\n\nAssistant: Go away.\n\nHuman: Bye\n\nAssistant: Whatever."}
    data = write_jsonl(tmp_path / "hh.jsonl", [good, diverging, good])
    record, rows = evaluate(tiny_lm, data, format="hh-rlhf")
    assert len(rows) == 2
    assert record["skipped"]["count"] == 1 and record["skipped"]["by_reason"] == {"diverging-prefix": 1}
    assert record["partial"] is False and record["label"] == "policy"
    limited, _ = evaluate(tiny_lm, data, format="hh-rlhf", limit=1)
    assert limited["partial"] is True and "partial" in limited["label"]
    with pytest.raises(DataError, match="diverging-prefix|differ before"):
        evaluate(tiny_lm, data, format="hh-rlhf", strict=True)


def test_cli_batch_and_length_limits_reach_the_judge_under_policy(tiny_lm, tiny_rm, prompts_file, tmp_path):
    out = tmp_path / "run"
    result = run("--policy", str(tiny_lm), "--data", str(prompts_file), "--judge-rm", str(tiny_rm),
                 "--max-new-tokens", "4", "--limit", "2", "--out", str(out), "--dtype", "fp32",
                 "--batch-tokens", "300", "--max-length", "48")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    judge = record["model"]["judge"]
    assert judge["batch_tokens"] == 300 and judge["max_length"] == 48
    assert record["config"]["generation"]["batch_tokens"] == 300


def test_cli_policy_eval_says_which_prompts_it_skipped(tiny_lm, tmp_path):
    """A policy record's skipped prompts get the same one-line note a reward-model record gets."""
    data = write_jsonl(tmp_path / "sea[v2].jsonl", [*PROMPTS[:2], {"id": "broken", "prompt": None}])
    result = run("--policy", str(tiny_lm), "--data", str(data), "--max-new-tokens", "2", "--dtype", "fp32")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    title, header = "".join(line.strip() for line in lines[:top]), lines[top + 1]  # the title wraps
    assert "sea[v2].jsonl" in title and "sea[v2]" in header, result.output  # a file name is not markup
    notes = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert notes == ["note: skipped 1 record (missing-field 1): broken; ids listed in results.json; "
                     "--strict makes a skip an error"]
    strict = run("--policy", str(tiny_lm), "--data", str(data), "--max-new-tokens", "2", "--dtype", "fp32",
                 "--strict")
    assert_user_error(strict, "sea[v2].jsonl record 2", "missing-field")
