"""The methods rmbench trains, each a thin layer over the TRL trainer that has it.

One table says, per method: which data it needs, which model head it trains, which TRL
config and trainer run it, and which fixed settings make the TRL trainer that method
(e.g. IPO is DPO with loss_type ["ipo"]; SimPO is CPO with loss_type "simpo" and no NLL
term). Recipes (trainers/*.yaml) set everything else.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field

from rmbench.errors import RmbenchError
from rmbench.trainers.distill import load_teacher
from rmbench.trainers.ppo_config import PPOConfig
from rmbench.trainers.rewards import load_rewards

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


@dataclass(frozen=True)
class Method:
    name: str
    data: str  # "preference", "unpaired", "sft", "prompts" (online) or "distill" (prompts + completions)
    head: str  # "classifier" or "causal_lm"
    trainer: str  # a TRL_CLASSES key ("reward", "sft", "dpo", "kto", "cpo", "orpo", "rloo", "grpo", "gkd") or "ppo"
    fixed: dict = field(default_factory=dict)  # TRL config values that define the method
    needs_ref: bool = False
    scorer: str = "implicit"  # how its checkpoints are scored: "classifier", "implicit", "implicit-ref-free", "none"
    options: tuple = ()  # rmbench keys beside the TRL config's (a reward, a teacher), given as --set KEY=VALUE


# RLOO and GRPO score their own samples with a reward (rmbench.trainers.rewards); the
# distillation methods are TRL's GKD trainer with the settings that make each one.
ONLINE_OPTIONS = ("reward_model", "reward_fn")
METHODS = {m.name: m for m in [
    # Bradley-Terry reward model on a sequence-classification head
    Method("rm", "preference", "classifier", "reward", scorer="classifier"),
    # completion-only next-token training
    Method("sft", "sft", "causal_lm", "sft", scorer="none"),
    # DPO (sigmoid loss)
    Method("dpo", "preference", "causal_lm", "dpo", {"loss_type": ["sigmoid"]}, needs_ref=True),
    # IPO
    Method("ipo", "preference", "causal_lm", "dpo", {"loss_type": ["ipo"]}, needs_ref=True),
    # robust DPO / cDPO: label smoothing for noisy labels
    Method("robust", "preference", "causal_lm", "dpo", {"loss_type": ["robust"]}, needs_ref=True),
    # SLiC-style hinge loss
    Method("hinge", "preference", "causal_lm", "dpo", {"loss_type": ["hinge"]}, needs_ref=True),
    # DPO plus an SFT term on the chosen answer (weight rpo_alpha)
    Method("rpo", "preference", "causal_lm", "dpo", {"loss_type": ["sigmoid", "sft"]}, needs_ref=True),
    # SimPO: length-normalised, reference-free margin loss
    Method("simpo", "preference", "causal_lm", "cpo", {"loss_type": "simpo", "cpo_alpha": 0.0},
           scorer="implicit-ref-free"),
    # CPO: reference-free preference loss plus NLL
    Method("cpo", "preference", "causal_lm", "cpo", {"loss_type": "sigmoid"}, scorer="implicit-ref-free"),
    # ORPO: odds-ratio preference term on top of SFT
    Method("orpo", "preference", "causal_lm", "orpo", scorer="implicit-ref-free"),
    # KTO from unpaired labels (or pairs split into desirable/undesirable)
    Method("kto", "unpaired", "causal_lm", "kto", needs_ref=True),
    # RLOO: samples per prompt, leave-one-out baseline, reward from an RM or Python
    Method("rloo", "prompts", "causal_lm", "rloo", scorer="none", options=ONLINE_OPTIONS),
    # GRPO: samples per prompt, group-normalised advantages, reward from an RM or Python
    Method("grpo", "prompts", "causal_lm", "grpo", scorer="none", options=ONLINE_OPTIONS),
    # supervised KD: match the teacher on the data's completions
    Method("kd", "distill", "causal_lm", "gkd", {"lmbda": 0.0, "seq_kd": False}, scorer="none",
           options=("teacher",)),
    # sequence-level KD: match the teacher on its own samples
    Method("seqkd", "distill", "causal_lm", "gkd", {"lmbda": 0.0, "seq_kd": True}, scorer="none",
           options=("teacher",)),
    # GKD: a share lmbda of batches are the student's own samples, scored by the teacher
    Method("gkd", "distill", "causal_lm", "gkd", {"seq_kd": False}, scorer="none", options=("teacher",)),
    # PPO (rmbench's own trainer): value model, GAE, KL penalty, reward from an RM or Python
    Method("ppo", "prompts", "causal_lm", "ppo", scorer="none"),
]}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise RmbenchError(f"unknown method {name!r}: choose one of {', '.join(METHODS)}")
    return METHODS[name]


# TRL trainer name -> (module, config class, trainer class); experimental ones import lazily.
TRL_CLASSES = {
    "reward": ("trl", "RewardConfig", "RewardTrainer"),
    "sft": ("trl", "SFTConfig", "SFTTrainer"),
    "dpo": ("trl", "DPOConfig", "DPOTrainer"),
    "kto": ("trl", "KTOConfig", "KTOTrainer"),
    "cpo": ("trl.experimental.cpo", "CPOConfig", "CPOTrainer"),
    "orpo": ("trl.experimental.orpo", "ORPOConfig", "ORPOTrainer"),
    "rloo": ("trl", "RLOOConfig", "RLOOTrainer"),
    "grpo": ("trl", "GRPOConfig", "GRPOTrainer"),
    "gkd": ("trl.experimental.gkd", "GKDConfig", "GKDTrainer"),
}


def trl_classes(trainer: str):
    """(config class, trainer class) for a TRL trainer name (not "ppo": rmbench's own loop)."""
    module_name, config, trainer_class = TRL_CLASSES[trainer]
    module = importlib.import_module(module_name)
    return getattr(module, config), getattr(module, trainer_class)


def config_class(method: Method) -> type:
    """The dataclass the method's `train:` settings are checked against: its TRL config, or
    rmbench's PPOConfig (TRL 1.x has no PPO; rmbench.trainers.ppo runs it)."""
    return PPOConfig if method.trainer == "ppo" else trl_classes(method.trainer)[0]


def method_args(method: Method, train: dict) -> dict:
    """The recipe's TRL arguments plus the method's fixed ones; rpo_alpha becomes a loss weight."""
    args = dict(train)
    rpo_alpha = args.pop("rpo_alpha", None)
    for key, value in method.fixed.items():
        if key in args and args[key] != value:  # never train silently with a setting the user did not ask for
            raise RmbenchError(f"{method.name} fixes {key}={value!r}; {key}={args[key]!r} is another method")
    if method.name == "gkd" and not 0 < args.get("lmbda", 0.5) <= 1:
        raise RmbenchError(f"gkd takes lmbda in (0, 1], the share of on-policy batches (got {args['lmbda']}); "
                           "lmbda 0 is supervised KD: use `rmbench train kd`")
    args.update(method.fixed)
    if method.name == "rpo":
        args["loss_weights"] = [1.0, 1.0 if rpo_alpha is None else float(rpo_alpha)]
    elif rpo_alpha is not None:
        raise RmbenchError("rpo_alpha only applies to --method rpo")
    return args


def method_inputs(method: Method, options: dict, model: str, seed: int) -> tuple[dict, dict]:
    """(trainer arguments beyond the config, what rmbench.json records about them).

    The reward of an online method and the teacher of a distillation are objects the
    trainer takes, not config values; they are loaded and checked here, before any data.
    """
    if method.trainer in ("rloo", "grpo"):
        rewards = load_rewards(options.get("reward_model"), options.get("reward_fn"), seed=seed)
        return {"reward_funcs": rewards}, {"rewards": [r.describe() for r in rewards]}
    if method.trainer == "gkd":
        if not options.get("teacher"):
            raise RmbenchError(f"{method.name} distils a teacher into --model: add --set teacher=CHECKPOINT")
        return {"teacher_model": load_teacher(str(options["teacher"]), model)}, {"teacher": str(options["teacher"])}
    return {}, {}


# Settings of the online and distillation trainers that say what a checkpoint was trained with.
RECORDED_SETTINGS = {
    "rloo": ("num_generations", "max_completion_length", "temperature", "num_iterations", "reward_weights"),
    "grpo": ("num_generations", "max_completion_length", "temperature", "num_iterations", "reward_weights",
             "scale_rewards"),
    "gkd": ("lmbda", "seq_kd", "temperature", "max_new_tokens"),
}


def method_record(method: Method, args, inputs_meta: dict) -> dict:
    """What rmbench.json adds for this method: its reward or teacher and the settings that shaped it."""
    settings = {k: getattr(args, k) for k in RECORDED_SETTINGS.get(method.trainer, ()) if hasattr(args, k)}
    return {**inputs_meta, **({"method_settings": settings} if settings else {})}
