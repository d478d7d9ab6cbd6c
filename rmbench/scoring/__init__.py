"""Scorers behind one protocol (rmbench.scoring.base.Scorer), and how flags pick one.

Selection order: `baseline:*`; a judge when `--judge` is given; the checkpoint's
rmbench.json when a trainer wrote one (its `scorer` spec: classifier for reward models, implicit
reward with the recorded reference, beta and length normalisation for the DPO family and KTO;
files older than the spec by their method's name, models.scorer_spec); else the model config
with the flags: a sequence classifier is scored directly, a causal LM needs `--ref` (implicit
reward) or `--judge`, and saying neither is an error that names both.
"""

from __future__ import annotations

from rmbench import models
from rmbench.errors import ModelError, RmbenchError
from rmbench.scoring.base import Item, ScoredBatch, Scorer, gives_outcomes
from rmbench.scoring.baselines import BASELINES, BagOfWordsBaseline, LengthBaseline, RandomBaseline
from rmbench.scoring.judge import build_judge
from rmbench.scoring.remote import REMOTE_OPTIONS, build_remote_scorer, remote_engine

__all__ = ["Item", "ScoredBatch", "Scorer", "build_scorer", "gives_outcomes"]

NO_REF = "none"


def build_baseline(name: str, *, seed: int, baseline_train: str | None) -> Scorer:
    if name == "random":
        return RandomBaseline(seed)
    if name == "length":
        return LengthBaseline()
    if name == "bow":
        if not baseline_train:
            raise RmbenchError("baseline:bow learns from a preference set: pass --baseline-train FILE")
        from rmbench.data import load_preferences

        return BagOfWordsBaseline(load_preferences(baseline_train), baseline_train, seed)
    raise RmbenchError(f"unknown baseline {name!r}: choose one of {', '.join('baseline:' + b for b in BASELINES)}")


def build_scorer(reward: str | None = None, *, judge: str | None = None, ref: str | None = None,
                 beta: float | None = None, length_normalize: bool | None = None, seed: int = 0,
                 baseline_train: str | None = None, allow_random_head: bool = False,
                 judge_url: str | None = None, judge_mode: str = "pairwise", judge_template: str | None = None,
                 **model_options):
    """The scorer for these flags; a pairwise judge is returned as a judge (see scoring.judging)."""
    if (reward is None) == (judge is None):
        raise RmbenchError("name what to evaluate: --reward CHECKPOINT or --judge MODEL (one of them)")
    compile = bool(model_options.pop("compile", None))
    if compile and (judge is not None or ref is not None or reward.startswith("baseline:")
                    or remote_engine(reward, model_options.get("engine"))):
        raise RmbenchError("--compile applies to sequence-classifier reward models (--reward CHECKPOINT, no --ref); "
                           "drop it for judges, implicit rewards, baselines and servers")
    if judge is not None:
        given = {"--ref": ref, "--beta": beta, "--length-normalize": length_normalize,
                 "--baseline-train": baseline_train, "--allow-random-head": allow_random_head or None}
        wrong = [flag for flag, value in given.items() if value is not None]
        if wrong:
            raise RmbenchError(f"{wrong[0]} applies to --reward checkpoints, not to a judge ({judge})")
        return build_judge(judge, url=judge_url, mode=judge_mode, template=judge_template, seed=seed,
                           **model_options)
    if remote_engine(reward, model_options.get("engine")):
        if ref is not None or allow_random_head or beta is not None or length_normalize is not None:
            raise RmbenchError(f"{reward} is a reward server: --ref, --beta, --length-normalize and "
                               "--allow-random-head apply to local checkpoints")
        return build_remote_scorer(reward, seed=seed, **model_options)
    given = [k for k in REMOTE_OPTIONS if model_options.pop(k, None) is not None]
    if given:
        raise RmbenchError(f"--{given[0]} applies to reward servers: write --reward vllm:URL or sglang:URL")
    if reward.startswith("baseline:"):
        if ref is not None or allow_random_head:
            raise RmbenchError(f"{reward} is a baseline: --ref and --allow-random-head apply to model checkpoints")
        return build_baseline(reward.split(":", 1)[1], seed=seed, baseline_train=baseline_train)

    meta = models.read_metadata(reward)
    spec = models.scorer_spec(meta)  # how its trainer said to score it (older files: from the method's name)
    if model_options.get("chat_template") is None and meta.get("chat_template"):
        model_options["chat_template"] = meta["chat_template"]  # as it was trained (e.g. raw for encoders)
    if ref is None and spec.get("kind") == "implicit":
        ref = spec.get("reference") or NO_REF
        if compile:
            raise RmbenchError(f"--compile applies to sequence-classifier reward models; {reward} is scored by "
                               "its implicit (DPO) reward: drop --compile")
    if ref is not None:
        from rmbench.scoring.implicit import ImplicitRewardScorer

        if spec.get("kind") != "implicit":  # an implicit reward needs a causal LM's log-probs
            kind = models.checkpoint_kind(reward, model_options.get("trust_remote_code", False))
            if kind != "causal_lm":
                raise ModelError(f"{reward} is not a causal LM ({kind}): --ref scores a policy's implicit (DPO) "
                                 "reward; drop --ref to score a reward model's head")
        if length_normalize is None:
            length_normalize = bool(spec.get("length_normalize"))
        if beta is None:  # 0 is a value (refused by the scorer), not "unset"
            beta = spec.get("beta") or 1.0
        return ImplicitRewardScorer(reward, None if ref == NO_REF else ref, beta=beta,
                                    length_normalize=length_normalize, seed=seed, **model_options)

    kind = "classifier" if spec.get("kind") == "classifier" else models.checkpoint_kind(
        reward, model_options.get("trust_remote_code", False))
    if kind == "causal_lm" and not allow_random_head:
        raise ModelError(f"{reward} is a causal LM, not a reward model: add --ref REFERENCE to score its "
                         "implicit (DPO) reward, --ref none for reference-free, or evaluate it as a judge with "
                         f"--judge {reward}")
    from rmbench.scoring.classifier import ClassifierScorer

    return ClassifierScorer(reward, seed=seed, allow_random_head=allow_random_head, compile=compile, **model_options)
