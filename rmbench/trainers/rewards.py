"""Rewards for online training (RLOO, GRPO, rmbench's PPO): a checkpoint or a Python function.

A reward model is scored by the same scorer `rmbench eval --reward CKPT` builds (the
classifier reads the last real token found from the attention mask, honours the checkpoint's
chat template or raw mode, and takes a DPO-family checkpoint's implicit reward from its
rmbench.json), so a policy is trained on exactly the reward it is later evaluated with.
TRL's own reward-model path pools at the last token that is not the pad id, which reads
the wrong position when pad == EOS, and knows nothing of rmbench.json.

A Python reward is `module:function` or `path/to/file.py:function`, called as
`function(prompts: list[str], completions: list[str]) -> list[float]`. Conversational rows
reach it as text: the prompt's messages joined by blank lines (the evaluation's raw form)
and the completion's content, so one function serves TRL's trainers and rmbench's PPO.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rmbench import models
from rmbench.errors import ModelError, RmbenchError
from rmbench.scoring import build_scorer
from rmbench.scoring.base import Item

Message = dict


class RewardFunction:
    """A reward with TRL's calling convention, `(prompts, completions, **columns) -> list[float]`.

    Prompts may be text or lists of messages, completions text or one assistant message
    list: TRL hands over whichever form the data has, PPO hands over text.
    """

    def __init__(self, name: str, source: str, kind: str, score: Callable[[list, list], list[float]]):
        self.__name__ = name  # TRL logs each reward as rewards/<__name__>/mean
        self.source, self.kind = source, kind
        self._score = score

    def __call__(self, prompts: Sequence, completions: Sequence, **columns) -> list[float]:
        if len(prompts) != len(completions):
            raise RmbenchError(f"reward {self.source}: {len(prompts)} prompts but {len(completions)} completions")
        rewards = self._score(list(prompts), list(completions))
        if len(rewards) != len(prompts):
            raise RmbenchError(f"reward {self.source} returned {len(rewards)} values for {len(prompts)} completions")
        return [float(r) for r in rewards]

    def describe(self) -> dict:
        return {self.kind: self.source}


def as_list(value) -> list[str]:
    """`--set reward_fn=a.py:f` gives one value, `--set reward_fn=[a.py:f, b:g]` several."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def load_rewards(reward_model=None, reward_fn=None, *, seed: int = 0) -> list[RewardFunction]:
    """Every reward named, models first; at least one must be."""
    rewards = [model_reward(source, seed=seed) for source in as_list(reward_model)]
    rewards += [function_reward(spec) for spec in as_list(reward_fn)]
    if not rewards:
        raise RmbenchError("online training needs a reward: --set reward_model=CHECKPOINT (a reward model) or "
                           "--set reward_fn=module:function (or file.py:function)")
    return rewards


# --- forms -----------------------------------------------------------------------------------------

def prompt_text(prompt) -> str:
    return prompt if isinstance(prompt, str) else "\n\n".join(m["content"] for m in prompt)


def completion_text(completion) -> str:
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] for m in completion if m.get("role", "assistant") == "assistant")


def prompt_messages(prompt) -> list[Message]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


# --- reward models ---------------------------------------------------------------------------------

def model_reward(source: str, *, seed: int = 0) -> RewardFunction:
    """A sequence-classification RM (or a DPO-family checkpoint with rmbench.json), scored as eval scores it."""
    kind = models.scorer_spec(models.read_metadata(source)).get("kind")
    if kind != "implicit" and models.checkpoint_kind(source) != "classifier":
        raise ModelError(f"reward_model={source} is not a reward model (no sequence-classification head): train "
                         "one with `rmbench train rm`, give a DPO-family checkpoint that carries rmbench.json, or "
                         "write the reward as Python and pass --set reward_fn=module:function")
    scorer = build_scorer(source, seed=seed)

    def score(prompts: list, completions: list) -> list[float]:
        items = [Item(prompt_messages(p), completion_text(c)) for p, c in zip(prompts, completions)]
        rewards = [math.nan] * len(items)
        for batch in scorer.score(items):
            for index, value in zip(batch.indices, batch.scores):
                rewards[index] = value
        return rewards

    name = Path(source.rstrip("/")).name or "reward_model"
    return RewardFunction(name, source, "reward_model", score)


# --- Python functions ------------------------------------------------------------------------------

def function_reward(spec: str) -> RewardFunction:
    """`module:function` or `file.py:function`; checked now, so a typo fails before any training."""
    function = load_function(spec)

    def score(prompts: list, completions: list) -> list[float]:
        values = function([prompt_text(p) for p in prompts], [completion_text(c) for c in completions])
        try:
            return [float(v) for v in values]
        except (TypeError, ValueError) as err:
            raise RmbenchError(f"reward_fn {spec} must return a list of numbers, one per completion ({err})") from err

    return RewardFunction(getattr(function, "__name__", "reward_fn"), spec, "reward_fn", score)


def load_function(spec: str) -> Callable:
    target, sep, name = spec.rpartition(":")
    if not sep or not target or not name:
        raise RmbenchError(f"reward_fn={spec!r}: write module:function or path/to/file.py:function")
    path = Path(target).expanduser()
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise RmbenchError(f"reward_fn={spec}: no such file {path}")
        module_name = "rmbench_reward_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module  # picklable by reference, as multi-process trainers need
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:
            sys.modules.pop(module_name, None)
            raise RmbenchError(f"reward_fn={spec}: importing {path} failed: {type(err).__name__}: {err}") from err
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise RmbenchError(f"reward_fn={spec}: cannot import module {target!r} ({err}); give a file as "
                               "path/to/file.py:function") from err
    function = getattr(module, name, None)
    if not callable(function):
        raise RmbenchError(f"reward_fn={spec}: {target} has no function {name!r}")
    try:
        inspect.signature(function).bind([], [])
    except TypeError as err:
        raise RmbenchError(f"reward_fn={spec}: must take (prompts, completions) and return a list of floats "
                           f"({err})") from err
    except ValueError:
        pass  # builtins without a signature: trust them
    return function
