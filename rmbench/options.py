"""Typed options, from the CLI down to the loaders: how a model is loaded and run
(ModelOptions) and how a reward checkpoint or a judge is turned into scores (ScorerOptions).

They were dicts once, and a misspelt key travelled silently until some constructor ignored
it. As frozen dataclasses a wrong name fails where it is written, and the worker's JSON
(rmbench.worker) reads them back with `from_dict`, which refuses keys it does not know.
Bottom-level module: it imports nothing of rmbench's but errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, TypeVar

from rmbench.errors import RmbenchError

T = TypeVar("T")


@dataclass(frozen=True)
class ModelOptions:
    """How a model is loaded and batched: a scorer's, a judge's or a policy's."""

    dtype: str = "auto"
    device: str = "auto"
    chat_template: str | None = None  # "raw" or a .jinja file; None: the checkpoint's own
    max_length: int | None = None  # token limit; None: the model's
    batch_tokens: int | None = None  # padded tokens per batch; None: scoring.runtime's default for the job
    batch_size: int | None = None  # policy sampling: rows per batch at most; None: the sampler's default
    trust_remote_code: bool = False
    engine: str | None = None  # reward servers: vllm or sglang
    tokenizer: str | None = None  # reward servers: the tokenizer that formats texts
    concurrency: int | None = None  # servers: requests in flight per server
    compile: bool | None = None  # classifier reward models: torch.compile the network (slow start, faster batches)

    def kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments, those left unset (None) out: every loader keeps
        its own default for them, and a server-only option never reaches a local loader."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ScorerOptions:
    """How a checkpoint or judge scores: implicit-reward settings, untrained heads, judge settings."""

    ref: str | None = None  # implicit reward's reference model; "none" for reference-free
    beta: float | None = None  # implicit reward scale; None: the checkpoint's, else 1
    length_normalize: bool | None = None  # SimPO-style mean log-prob; None: as the checkpoint says
    allow_random_head: bool = False
    judge_url: str | None = None
    judge_mode: str = "pairwise"
    judge_template: str | None = None

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


def from_dict(cls: type[T], data: dict | T | None) -> T:
    """`cls` from a JSON object (a worker request, a stored run file); an unknown key is an
    error naming it, never dropped. An instance passes through; None gives the defaults."""
    if data is None:
        return cls()
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        raise RmbenchError(f"{cls.__name__}: expected an object of options, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise RmbenchError(f"unknown {cls.__name__} key {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return cls(**data)
