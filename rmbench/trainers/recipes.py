"""Recipes: one YAML per method in trainers/, overridable from the command line.

A recipe has three parts: `train` (arguments of the method's TRL config, passed through
after checking they exist), `method` (rmbench's own knobs such as the held-out fraction or
the suite checkpoints are scored on) and nothing else. A key that does not exist is an
error naming the closest valid one: a typo must not silently train with the default.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path

import yaml

from rmbench.errors import RmbenchError
from rmbench.evals.suites import load_suite
from rmbench.scoring.baselines import BASELINES

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


# Types a value must have, in the words an error uses; checked before any work (a typo in a number must not
# surface hours into a run, nor after the folder it replaces is gone).
_WORDS = {int: "a whole number", float: "a number", bool: "true or false"}


def _expected(hint) -> tuple[set, bool] | None:
    """(accepted scalar types, None allowed) when a field is a plain number or flag, else None (not checked)."""
    args = set(typing.get_args(hint)) if typing.get_origin(hint) in (typing.Union, types.UnionType) else {hint}
    optional = type(None) in args
    args.discard(type(None))
    return (args, optional) if args and args <= {int, float, bool} else None


def _fits(value, accepted: set) -> bool:
    if isinstance(value, bool):
        return bool in accepted
    if isinstance(value, int):
        return bool(accepted & {int, float})
    return isinstance(value, float) and float in accepted


def check_value_types(values: dict, config_class) -> None:
    """Each number or flag in `train` has its config field's type: max_steps=abc is one line naming the key."""
    try:
        hints = typing.get_type_hints(config_class)
    except (NameError, TypeError):  # a config with annotations that do not resolve: fall back to the raw types
        hints = {f.name: f.type for f in dataclasses.fields(config_class)}
    for key, value in values.items():
        expected = _expected(hints.get(key))
        if expected is None or (value is None and expected[1]) or _fits(value, expected[0]):
            continue
        words = " or ".join(sorted({_WORDS[t] for t in expected[0]}))
        raise RecipeError(f"{key} takes {words}{' or null' if expected[1] else ''}, not {value!r} "
                          "(recipe or --set)")


def _check(ok: bool, key: str, wanted: str, value) -> None:
    if not ok:
        raise RecipeError(f"{key} must be {wanted}, not {value!r} (recipe or --set)")


def _whole(value, low: int = 1) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_method_settings(settings: dict) -> None:
    """rmbench's own keys: types, ranges, baseline names and the eval suite, all before any work."""
    fraction = settings["heldout_fraction"]
    _check(_number(fraction) and 0 <= fraction < 1, "heldout_fraction", "a number in [0, 1)", fraction)
    for key in ("eval_limit", "max_examples"):
        _check(settings[key] is None or _whole(settings[key]), key, "a positive whole number or null", settings[key])
    for key in ("lora", "load_in_4bit"):
        _check(isinstance(settings[key], bool), key, "true or false", settings[key])
    for key in ("lora_r", "lora_alpha"):
        _check(_whole(settings[key]), key, "a positive whole number", settings[key])
    dropout = settings["lora_dropout"]
    _check(_number(dropout) and 0 <= dropout < 1, "lora_dropout", "a number in [0, 1)", dropout)
    for key in ("eval_suite", "eval_data_root", "eval_judge"):
        _check(settings[key] is None or isinstance(settings[key], str), key, "a name or path", settings[key])
    baselines = settings["baselines"]
    if isinstance(baselines, str):
        baselines = settings["baselines"] = [baselines]
    _check(isinstance(baselines, list) and all(isinstance(b, str) for b in baselines), "baselines",
           f"a list of baseline names ({', '.join(BASELINES)})", baselines)
    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise RecipeError(f"baselines: unknown {', '.join(map(repr, unknown))}; choose from {', '.join(BASELINES)} "
                          "(or [] for none)")
    if settings["eval_suite"]:
        load_suite(settings["eval_suite"])  # an unknown suite is an error now, not after training
        root = settings["eval_data_root"]
        if root and not Path(root).is_dir():
            raise RecipeError(f"eval_data_root {root} is not a folder")


def parse_overrides(pairs: list[str]) -> dict:
    result = {}
    for pair in pairs:
        if "=" not in pair:
            raise RecipeError(f"--set takes KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        result[key.strip()] = parse_value(value)
    return result
