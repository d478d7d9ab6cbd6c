"""Policy evaluation: sample completions for held-out prompts, then measure them.

A policy is judged by what it writes, so the flow is: load prompts (with reference
answers where the data has them) -> sample one completion per prompt from the policy,
and from a baseline policy with the same settings -> score every completion with a judge
(any scorer the reward-model harness supports, through the same engine and cache) ->
per-prompt win/tie/loss against the baseline, reward distribution, KL to a reference
policy, ROUGE against references, length statistics.

The record and the per-example rows have the reward-model harness's shape (`score`,
`subsets[*].accuracy`, rows' `correct`), so one leaderboard ranks policies and reward
models alike: a policy's `accuracy` is its win-rate against the baseline, and `correct`
is each prompt's outcome (1 win, 0.5 tie, 0 loss).

Trainers call `run_policy_eval(PolicyEvalRequest(policy=checkpoint, ...))` from their
checkpoint callback; the CLI is `rmbench eval --policy CKPT --data PROMPTS ...`. Prompt sets
load in evals.prompts; the printed summary is evals.display.policy_table.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rmbench.data.schema import PreferenceExample
from rmbench.data.skips import SkipLog
from rmbench.errors import RmbenchError
from rmbench.evals.generation import Generation, SamplingSettings, kl_estimates
from rmbench.evals.metrics import bootstrap_ci, win_outcome
from rmbench.evals.prompts import PolicyPrompt, load_prompts, unique_ids
from rmbench.evals.remote_generation import OPENAI_PREFIX, load_policy
from rmbench.options import ModelOptions, ScorerOptions
from rmbench.results import build_record, claim_out, record_identity, write_results
from rmbench.scoring import distributed

SUITE_NAME = "policy"
SUITE_VERSION = "1"
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 10


@dataclass
class PolicyEvalRequest:
    """What to evaluate and how. Only `policy` and `data` (or `prompts`) are required."""

    policy: str
    data: list[str] = field(default_factory=list)  # prompt sources: preference, SFT or {"prompt": ...} files
    prompts: list[PolicyPrompt] | None = None  # already loaded prompts (trainers' held-out sets), instead of data
    judge_rm: str | None = None  # any --reward the harness takes: folder, .gguf, hub id, baseline:*
    judge: str | None = None  # an LLM judge instead (rating mode gives rewards; pairwise gives win-rate only)
    baseline_policy: str | None = None  # e.g. the SFT starting point
    ref: str | None = None  # reference policy for KL(policy || ref)
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    limit: int | None = None  # first N prompts of each source
    format: str | None = None
    split: str | None = None
    out: Path | None = None
    cache_dir: Path | None = None  # default OUT/.cache; a trainer shares one across checkpoints, so the
    # baseline is sampled once per run, not once per checkpoint
    policy_options: ModelOptions = field(default_factory=ModelOptions)  # policy, baseline and reference alike
    policy_urls: list[str] = field(default_factory=list)  # servers for openai:MODEL policies (and baselines)
    judge_options: ModelOptions = field(default_factory=ModelOptions)  # how the judge loads (--judge-rm / --judge)
    judge_scoring: ScorerOptions = field(default_factory=ScorerOptions)  # how it scores (judge url, mode, ...)
    baseline_train: str | None = None  # training preferences for a baseline:bow judge
    show_progress: bool = True
    overwrite: bool = False  # replace another policy's or data's record in `out`
    strict: bool = False  # a prompt record that cannot be read is an error instead of a counted skip


# -- metrics ------------------------------------------------------------------------------


def rouge_scores(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> list[dict[str, float] | None]:
    """ROUGE-1/2/L F1 of each prediction against its best-matching reference (None without one).

    rouge-score's default tokenizer (lower-cased, Porter-stemmed, [a-z0-9] words only) is the
    one summarisation papers report; text in other scripts tokenizes to nothing and scores 0.
    """
    try:
        from rouge_score import rouge_scorer
    except ImportError as err:  # a dependency of rmbench; missing only in a broken install
        raise RmbenchError("ROUGE needs the rouge-score package: pip install rouge-score") from err
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    results: list[dict[str, float] | None] = []
    for prediction, refs in zip(predictions, references, strict=True):
        if not refs:
            results.append(None)
            continue
        scores = scorer.score_multi(list(refs), prediction)
        results.append({name: float(scores[name].fmeasure) for name in ROUGE_TYPES})
    return results


def distribution(values: Sequence[float], seed: int = 0) -> dict[str, Any] | None:
    """Mean, spread, quantiles and a histogram: a mean alone hides a bimodal reward."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return None
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    low, high = bootstrap_ci(finite, seed=seed)
    return {"n": int(finite.size), "missing": int(array.size - finite.size), "mean": float(finite.mean()),
            "std": float(finite.std()), "min": float(finite.min()), "max": float(finite.max()), "ci95": [low, high],
            "quantiles": {f"p{round(q * 100):02d}": float(np.quantile(finite, q)) for q in QUANTILES},
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}}


def length_stats(generations: Sequence[Generation], max_new_tokens: int) -> dict[str, Any]:
    tokens = np.array([g.new_tokens for g in generations], dtype=float)
    chars = np.array([len(g.completion) for g in generations], dtype=float)
    return {"tokens_mean": float(tokens.mean()), "tokens_median": float(np.median(tokens)),
            "tokens_max": int(tokens.max()), "chars_mean": float(chars.mean()), "chars_median": float(np.median(chars)),
            "hit_max_fraction": float(np.mean([not g.stopped and g.sampled >= max_new_tokens
                                               for g in generations])),
            "empty_fraction": float(np.mean(chars == 0))}


# -- the evaluation -----------------------------------------------------------------------


def run_policy_eval(request: PolicyEvalRequest) -> tuple[dict, list[dict]]:
    """Evaluate one policy; returns (record, rows) and writes both under `request.out` if set."""
    started = time.perf_counter()
    _check(request)
    # The output folder is claimed (checked, locked) before any prompt is read or model loaded;
    # under a data-parallel launch by the main process alone (the others wait for its outcome).
    claim = claim_out(request.out, record_identity(request.policy, "policy", request.data),
                      inputs=[request.policy_options.chat_template, request.judge_scoring.judge_template,
                              request.baseline_train],
                      data_inputs=request.data, overwrite=request.overwrite)
    with distributed.main_claims(claim):
        return _run_policy(request, started)


def _run_policy(request: PolicyEvalRequest, started: float) -> tuple[dict, list[dict]]:
    prompts, sources, skips = _load(request)
    settings = SamplingSettings(request.max_new_tokens, request.temperature, request.top_p, request.seed)
    cache_dir = request.cache_dir or (request.out / ".cache" if request.out else None)
    messages = [p.prompt for p in prompts]
    show = request.show_progress
    timing: dict[str, Any] = {"examples": len(prompts)}

    policy = load_policy(request.policy, request.policy_urls, request.policy_options.kwargs())
    generations, timing["generation"] = policy.generate(messages, settings, cache_dir, show, f"policy {policy.name}")
    model = {**policy.describe(), "kind": "policy"}
    kl = None
    if request.ref:
        ref = load_policy(request.ref, [], request.policy_options.kwargs())
        kl, timing["kl"] = kl_estimates(policy, ref, messages, generations, settings, cache_dir, show)
        model["reference"] = ref.describe()
        ref.release()
    policy.release()

    baseline = None
    if request.baseline_policy:
        base = load_policy(request.baseline_policy, request.policy_urls, request.policy_options.kwargs())
        baseline, timing["baseline_generation"] = base.generate(messages, settings, cache_dir, show,
                                                                f"baseline {base.name}")
        model["baseline"] = base.describe()
        base.release()

    rewards, baseline_rewards, outcomes, verdicts = None, None, None, None
    if request.judge_rm or request.judge:
        rewards, baseline_rewards, outcomes, verdicts, judge_info, timing["judge"] = _judge(
            request, prompts, generations, baseline, cache_dir)
        model["judge"] = judge_info

    rouge = rouge_scores([g.completion for g in generations], [p.references for p in prompts])
    rows = _rows(prompts, generations, baseline, rewards, baseline_rewards, outcomes, kl, rouge, settings)
    if verdicts:  # a pairwise judge's both-order verdicts: the evidence the leaderboard rechecks
        for row, verdict in zip(rows, verdicts):
            if verdict is not None:
                row["verdicts"] = verdict
    summary = _summary(rows, prompts, generations, baseline, settings, request.seed)
    timing["wall_seconds"] = round(time.perf_counter() - started, 3)
    timing["tokens_per_second"] = timing["generation"]["tokens_per_second"]
    record = build_record(
        suite={"name": SUITE_NAME, "version": SUITE_VERSION, "manifest": None, "score_rule": summary["score_rule"]},
        data=sources, model=model,
        config={"seed": request.seed, "limit": request.limit, "format": request.format, "split": request.split,
                "generation": {**settings.describe(), "n_prompts": len(prompts),
                               "batch_tokens": policy.batch_tokens, "batch_size": policy.batch_size},
                "kl_estimator": _kl_estimator(request, settings),
                "rouge": {"types": list(ROUGE_TYPES), "stemmer": True, "multi_reference": "max F1"}},
        summary=summary, timing=timing)
    record.update(_coverage(request, skips))
    if request.out and distributed.is_main():  # under a data-parallel launch the main process writes
        write_results(request.out, record, rows)
    return record, rows


def _coverage(request: PolicyEvalRequest, skips: SkipLog) -> dict:
    """The keys a reward-model record has about what was evaluated, so every record reads alike.
    A policy's prompts are whatever data the user named: only --limit makes a run partial."""
    partial = bool(skips.cut)
    label = f"{SUITE_NAME} (partial: --limit {request.limit})" if partial else SUITE_NAME
    return {"label": label, "partial": partial,
            "coverage": {"partial": partial, "cut_by_limit": list(skips.cut),
                         "limit": request.limit if partial else None},
            **skips.records(),
            # Length bias and calibration compare chosen with rejected answers: a policy record has none.
            "analysis": {"available": False, "reason": "policy records compare completions, not preference pairs"}}


def _kl_estimator(request: PolicyEvalRequest, settings: SamplingSettings) -> str | None:
    if not request.ref:
        return None
    if not settings.do_sample:  # greedy text is not a sample from pi: say so rather than call it KL
        return "greedy decoding: sum_t log pi(y_t) - log pi_ref(y_t) on the greedy completions, not a KL estimate"
    return ("Monte Carlo: mean over the policy's own samples of sum_t log pi(y_t) - log pi_ref(y_t), both at "
            "logits / temperature (top-p truncation not included)")


def _check(request: PolicyEvalRequest) -> None:
    if request.judge_rm and request.judge:
        raise RmbenchError("name one judge: --judge-rm SCORER (a reward model or baseline:*) or --judge LLM")
    if request.baseline_policy and not (request.judge_rm or request.judge):
        raise RmbenchError("a win-rate against --baseline-policy needs a judge: add --judge-rm SCORER "
                           "(e.g. a reward model folder or baseline:length)")
    if request.ref is not None and request.ref.lower() == "none":
        raise RmbenchError("--ref with --policy names the reference policy for KL; leave it out to skip KL")
    served = [s for s in (request.policy, request.baseline_policy, request.ref) if s and s.startswith(OPENAI_PREFIX)]
    if request.ref and served:
        raise RmbenchError(f"KL to --ref needs the log-probabilities of the sampled tokens under local weights, which "
                           f"{served[0]} (a served model) does not give: drop --ref, or use local checkpoints")
    if request.policy_urls and not served:
        raise RmbenchError("--policy-url applies to served policies: write --policy openai:MODEL (or "
                           "--baseline-policy openai:MODEL)")
    if not request.data and request.prompts is None:
        raise RmbenchError("policy evaluation needs prompts: pass --data FILE (preference, SFT or {\"prompt\": ...} "
                           "records)")
    if request.data and request.prompts is not None:
        raise RmbenchError("give prompts either as data sources or as loaded prompts, not both")


def _load(request: PolicyEvalRequest) -> tuple[list[PolicyPrompt], list[dict], SkipLog]:
    skips = SkipLog(strict=request.strict)
    if request.prompts is not None:
        loaded = [("prompts", [p.validate(f"prompt {p.id}") for p in request.prompts])]
    else:
        loaded = [(s, load_prompts(s, request.format, request.split, request.limit, skips)) for s in request.data]
    prompts, sources = [], []
    for where, items in loaded:
        prompts.extend(items)
        digest = hashlib.sha256(json.dumps([[p.id, p.subset, p.prompt, p.references] for p in items],
                                           ensure_ascii=False).encode()).hexdigest()[:16]
        sources.append({"source": where, "format": request.format or "auto", "n": len(items),
                        "subsets": sorted({p.subset for p in items}), "sha256": digest,
                        "with_references": sum(1 for p in items if p.references)})
    if not prompts:
        raise RmbenchError("no prompts to evaluate on: check --data")
    return (unique_ids(prompts) if len(loaded) > 1 else prompts), sources, skips


def _judge(request, prompts, generations, baseline, cache_dir):
    """Rewards through the harness's own scorer and engine (same dedup and cache); a pairwise
    LLM judge instead compares each pair in both orders and gives outcomes only."""
    from rmbench.scoring import build_scorer
    from rmbench.scoring.base import gives_outcomes
    from rmbench.scoring.engine import run_examples

    scorer = build_scorer(request.judge_rm, judge=request.judge, seed=request.seed,
                          baseline_train=request.baseline_train, **request.judge_scoring.kwargs(),
                          **request.judge_options.kwargs())
    info = {**scorer.describe(), "fingerprint": scorer.fingerprint()}
    pairwise = gives_outcomes(scorer)
    show = request.show_progress
    if pairwise:
        if baseline is None:
            raise RmbenchError("a pairwise judge only compares two answers: add --baseline-policy, or use "
                               "--judge-mode rating to score each completion")
        # Identical answers tie by definition: no judge call can say otherwise.
        differ = [n for n, (g, b) in enumerate(zip(generations, baseline)) if g.completion != b.completion]
        examples = [PreferenceExample(prompts[n].id, prompts[n].subset, prompts[n].prompt,
                                      [generations[n].completion], [baseline[n].completion]) for n in differ]
        judged = run_examples(examples, scorer, cache_dir=cache_dir, show_progress=show)
        outcomes, verdicts = [0.5] * len(prompts), [None] * len(prompts)
        for n, outcome, verdict in zip(differ, judged.outcomes, judged.verdicts):
            outcomes[n], verdicts[n] = float(outcome[0][0]), verdict
        stats = judged.stats
        rewards = baseline_rewards = None
    else:
        verdicts = None
        examples = [PreferenceExample(p.id, p.subset, p.prompt, [g.completion], [b.completion] if baseline else [])
                    for p, g, b in zip(prompts, generations, baseline or [None] * len(prompts))]
        scored = run_examples(examples, scorer, cache_dir=cache_dir, show_progress=show)
        rewards = [c[0] for c in scored.chosen]
        baseline_rewards = [r[0] for r in scored.rejected] if baseline else None
        outcomes = [win_outcome(a, b) for a, b in zip(rewards, baseline_rewards)] if baseline else None
        stats = scored.stats
    del scorer
    gc.collect()
    return rewards, baseline_rewards, outcomes, verdicts, info, stats


def _rows(prompts, generations, baseline, rewards, baseline_rewards, outcomes, kl, rouge, settings) -> list[dict]:
    rows = []
    for n, (p, g) in enumerate(zip(prompts, generations)):
        row = {"id": p.id, "subset": p.subset, "prompt": p.prompt, "completion": g.completion,
               "baseline_completion": baseline[n].completion if baseline else None,
               "reward": rewards[n] if rewards else None,
               "baseline_reward": baseline_rewards[n] if baseline_rewards else None,
               "correct": outcomes[n] if outcomes else None,
               "ties": int(outcomes[n] == 0.5) if outcomes else 0,
               "kl": kl[n] if kl else None,
               **{name: (rouge[n] or {}).get(name) for name in ROUGE_TYPES},
               "tokens": g.new_tokens, "chars": len(g.completion), "stopped": g.stopped,
               "hit_max": not g.stopped and g.sampled >= settings.max_new_tokens,
               "baseline_tokens": baseline[n].new_tokens if baseline else None,
               "baseline_chars": len(baseline[n].completion) if baseline else None,
               "truncated": g.prompt_truncated}
        rows.append(row)
    return rows


def _figures(rows: list[dict], gens: list[Generation], base: list[Generation] | None, settings, seed) -> dict:
    """Everything reported for one group of prompts (a subset, or all of them)."""
    outcomes = [r["correct"] for r in rows if r["correct"] is not None]
    win_rate = float(np.mean(outcomes)) if outcomes else None
    ci = list(bootstrap_ci(np.array(outcomes), seed=seed)) if outcomes else [None, None]
    kl = [r["kl"] for r in rows if r["kl"] is not None]
    rouge = {name: [r[name] for r in rows if r[name] is not None] for name in ROUGE_TYPES}
    figures = {
        "n": len(rows), "metric": "win_rate", "accuracy": win_rate, "ci95": ci,
        "ties": sum(r["ties"] for r in rows), "truncated": sum(bool(r["truncated"]) for r in rows),
        "wins": sum(o == 1.0 for o in outcomes) if outcomes else None,
        "losses": sum(o == 0.0 for o in outcomes) if outcomes else None,
        "reward": distribution([r["reward"] for r in rows if r["reward"] is not None], seed),
        "baseline_reward": distribution([r["baseline_reward"] for r in rows if r["baseline_reward"] is not None],
                                        seed),
        "kl": None, "rouge": None,
        "length": length_stats(gens, settings.max_new_tokens),
        "baseline_length": length_stats(base, settings.max_new_tokens) if base else None,
    }
    if kl:
        total_tokens = sum(len(g.token_ids) for g, r in zip(gens, rows) if r["kl"] is not None)
        figures["kl"] = {"mean": float(np.mean(kl)), "std": float(np.std(kl)),
                         "ci95": list(bootstrap_ci(np.array(kl), seed=seed)),
                         "per_token": float(np.sum(kl) / total_tokens) if total_tokens else None}
    if rouge["rouge1"]:
        figures["rouge"] = {"n": len(rouge["rouge1"]), **{name: float(np.mean(v)) for name, v in rouge.items()}}
    return figures


def _summary(rows, prompts, generations, baseline, settings, seed) -> dict:
    by_subset: dict[str, list[int]] = defaultdict(list)
    for n, p in enumerate(prompts):
        by_subset[p.subset].append(n)

    def figures(idx: list[int]) -> dict:
        return _figures([rows[i] for i in idx], [generations[i] for i in idx],
                        [baseline[i] for i in idx] if baseline else None, settings, seed)

    subsets = {name: figures(idx) for name, idx in by_subset.items()}
    overall = figures(list(range(len(rows))))
    # Pooled over all prompts (not a mean of subsets), matching a bootstrap over the rows.
    if overall["accuracy"] is not None:
        score, rule = overall["accuracy"], "win_rate_vs_baseline"
    elif overall["reward"] is not None:
        score, rule = overall["reward"]["mean"], "mean_judge_reward"
    else:
        score, rule = None, "none (no judge)"
    return {"subsets": subsets, "sections": {}, "score": score, "score_rule": rule, "ties": overall["ties"],
            "truncated": overall["truncated"], "overall": overall}
