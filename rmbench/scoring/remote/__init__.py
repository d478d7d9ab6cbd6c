"""Scoring on inference servers: `--reward vllm:URL[,URL...]`, `--reward sglang:URL`, or
`--reward http://HOST:PORT --engine vllm|sglang`.

A remote reward model is one more Scorer (rmbench.scoring.base): the engine caches its
batches and resumes it exactly as it does a local model. Several urls share the work (one
server per GPU, or a fleet behind a list of urls).
"""

from __future__ import annotations

from rmbench.errors import RmbenchError
from rmbench.scoring.remote.reward import ENGINES, RemoteRewardScorer

__all__ = ["ENGINES", "REMOTE_OPTIONS", "RemoteRewardScorer", "build_remote_scorer", "remote_engine"]

# Options only a server-backed scorer takes; build_scorer refuses them for local models.
REMOTE_OPTIONS = ("engine", "tokenizer", "concurrency")


def remote_engine(reward: str | None, engine: str | None = None) -> str | None:
    """The engine a --reward spec names (`vllm:`, `sglang:`, or an http(s) url with --engine); None if local."""
    if reward is None:
        return None
    prefix, _, rest = reward.partition(":")
    if prefix in ENGINES and rest and not rest.startswith("//"):
        if engine and engine != prefix:
            raise RmbenchError(f"--reward {prefix}:... and --engine {engine} disagree: give one of them")
        return prefix
    if reward.startswith(("http://", "https://")):
        if engine is None:
            raise RmbenchError("--reward is a url: say which server it is with --engine vllm or --engine sglang "
                               "(or write --reward vllm:URL)")
        if engine not in ENGINES:
            raise RmbenchError(f"unknown --engine {engine!r}: choose one of {', '.join(ENGINES)}")
        return engine
    return None


def build_remote_scorer(reward: str, *, seed: int = 0, **options) -> RemoteRewardScorer:
    engine = remote_engine(reward, options.pop("engine", None))
    urls = reward[len(engine) + 1:] if reward.startswith(engine + ":") else reward
    return RemoteRewardScorer(engine, urls, seed=seed, **{k: v for k, v in options.items() if v is not None})
