"""Recipes: one YAML per method in trainers/, overridable from the command line.

A recipe has three parts: `train` (arguments of the method's TRL config, passed through
after checking they exist), `method` (rmbench's own knobs such as the held-out fraction or
the suite checkpoints are scored on) and nothing else. A key that does not exist is an
error naming the closest valid one: a typo must not silently train with the default.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from rmbench.errors import RmbenchError

_PACKAGE = Path(__file__).resolve().parents[1]
# the copy packaged in a wheel, else trainers/ in a source checkout
RECIPE_DIR = _PACKAGE / "recipes" if (_PACKAGE / "recipes").is_dir() else _PACKAGE.parent / "trainers"
METHOD_KEYS = {
    "heldout_fraction": 0.1,   # share of prompts kept out of training and scored at each checkpoint
    "eval_suite": None,        # a suite scored at each checkpoint too (name or manifest), e.g. llmbar
    "eval_data_root": None,    # where that suite's files are
    "eval_limit": None,        # first N examples of each eval source (policy recipes: 32 held-out prompts)
    # policy methods (sft, ppo, rloo, grpo, kd, seqkd, gkd): each checkpoint samples completions for the held-out
    # prompts and is compared with the starting model (rmbench.trainers.policy_autoeval)
    "eval_judge": None,        # scorer of those completions (RM folder, hub id, baseline:length); default: the
    #                            run's reward_model when it trained against one; "none": no judge (KL, ROUGE only)
    "eval_max_new_tokens": 64,  # completion budget per held-out prompt
    "eval_temperature": 0.7,   # sampling temperature (0 = greedy); top_p 1, seed = the run's seed
    "max_examples": None,      # train on the first N examples only
    "lora": False,             # train LoRA adapters (peft) instead of all weights
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "load_in_4bit": False,     # QLoRA: needs bitsandbytes and a CUDA GPU
    "baselines": ["random", "length", "bow"],
}


class RecipeError(RmbenchError):
    pass


def parse_value(text: str):
    """--set values: numbers (1e-4 too, which YAML 1.1 reads as text), else YAML (true, [a, b]).

    YAML 1.1 also reads yes/no/on/off as booleans, which turns `save_strategy=no` into False;
    only true/false are booleans here."""
    if text.strip().lower() in ("yes", "no", "on", "off", "y", "n"):
        return text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def load_recipe(method: str, path: str | None, overrides: dict, trl_fields: set[str]) -> tuple[dict, dict]:
    """(train args for the TRL config, rmbench method settings)."""
    source = Path(path) if path else RECIPE_DIR / f"{method}.yaml"
    raw: dict = {}
    if path or source.is_file():
        if not source.is_file():
            raise RecipeError(f"no such recipe: {source}")
        try:
            raw = yaml.safe_load(source.read_text()) or {}
        except yaml.YAMLError as err:
            raise RecipeError(f"{source}: invalid YAML ({err})") from err
        if not isinstance(raw, dict) or set(raw) - {"train", "method"}:
            raise RecipeError(f"{source}: a recipe holds only 'train' and 'method' sections")
    train = dict(raw.get("train") or {})
    settings = {**METHOD_KEYS, **(raw.get("method") or {})}
    for key, value in overrides.items():
        (settings if key in METHOD_KEYS else train)[key] = value
    _check_keys(train, trl_fields, "train", source)
    _check_keys({k: v for k, v in settings.items()}, set(METHOD_KEYS), "method", source)
    return train, settings


def _check_keys(values: dict, valid: set[str], section: str, source: Path) -> None:
    for key in values:
        if key not in valid:
            close = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise RecipeError(f"unknown {section} setting {key!r} (recipe {source.name} or --set){hint}")


def parse_overrides(pairs: list[str]) -> dict:
    result = {}
    for pair in pairs:
        if "=" not in pair:
            raise RecipeError(f"--set takes KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        result[key.strip()] = parse_value(value)
    return result
