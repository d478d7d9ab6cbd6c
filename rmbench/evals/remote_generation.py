"""Policy sampling from OpenAI-compatible servers (vLLM, SGLang, llama.cpp).

`rmbench eval --policy openai:MODEL --policy-url URL [--policy-url URL2 ...]` samples the
completions on servers instead of in this process; everything after sampling (judge,
win-rate, ROUGE, lengths, the record) is the same as for a local policy.

What carries over from local generation (rmbench.evals.generation):
- Seeding. Each prompt gets its own seed, derived from (--seed, the prompt's content),
  and sends it with its request (vLLM, SGLang and llama.cpp all honour a per-request
  seed), so a completion depends on the prompt, the model and the settings, not on which
  server or in which order it was asked.
- Only temperature and top-p shape the distribution: top_k, min_p and repetition
  penalties are sent at their neutral values, so a server's or a checkpoint's defaults
  cannot quietly change what "temperature 1" means. All of it is in the record.
- The cache: one line per prompt, keyed by the served model and the settings, appended
  as each answer lands; an interrupted run resumes, and several urls share one cache.

What does not: the server samples the tokens and sends text back, so there are no token
ids (lengths are the server's own token counts) and KL to a reference, which needs the
log-probabilities of the very tokens drawn, is refused for a served policy.

Endpoints: /v1/chat/completions (the server applies the model's chat template), or with
`--chat-template raw` /v1/completions on the plain prompt text, as local raw mode builds it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from rmbench.data.schema import Message
from rmbench.errors import RmbenchError
from rmbench.evals.generation import Generation, PolicyModel, SamplingSettings, finish_generations, open_generations
from rmbench.scoring import distributed, formatting
from rmbench.scoring.remote.transport import Server, split_urls, spread

OPENAI_PREFIX = "openai:"
SERVER_ONLY = ("concurrency",)
# Neutral values of the knobs servers add on top of temperature and top-p (vLLM, SGLang
# and llama.cpp read these names; a server that does not know one ignores it).
NEUTRAL = {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0, "frequency_penalty": 0.0, "presence_penalty": 0.0}


def request_seed(seed: int, key: str) -> int:
    """The prompt's own seed: the same whichever server or batch answers it (31 bits, as every server takes)."""
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def load_policy(spec: str, urls: Sequence[str], options: dict):
    """`openai:MODEL` -> a served policy on `urls`; anything else -> a local checkpoint."""
    if spec.startswith(OPENAI_PREFIX):
        return RemotePolicy(spec[len(OPENAI_PREFIX):], list(urls), **options)
    # --concurrency is for the served ones; a local baseline beside a served policy ignores it
    return PolicyModel(spec, **{k: v for k, v in options.items() if k not in SERVER_ONLY})


class RemotePolicy:
    """A policy behind OpenAI-compatible servers, with PolicyModel's generate() contract."""

    def __init__(self, model: str, urls: list[str], *, chat_template: str | None = None, concurrency: int = 4,
                 timeout: float = 600, retries: int = 4, backoff: float = 1.0, api_key_env: str = "OPENAI_API_KEY",
                 dtype: str = "auto", device: str = "auto", max_length: int | None = None,
                 batch_tokens: int | None = None, batch_size: int | None = None, trust_remote_code: bool = False):
        if not model:
            raise RmbenchError("openai: needs the served model's name, as in --policy openai:MODEL")
        if not urls:
            raise RmbenchError(f"--policy openai:{model} is sampled on a server: pass --policy-url "
                               "http://127.0.0.1:8000 (repeat it for several servers)")
        local_only = {"--dtype": dtype not in ("auto", None), "--device": device not in ("auto", None),
                      "--max-length": max_length is not None, "--batch-tokens": batch_tokens is not None}
        given = [flag for flag, is_set in local_only.items() if is_set]
        if given:
            raise RmbenchError(f"{given[0]} does not apply to a served policy: the server chose it when it started")
        if chat_template not in (None, formatting.RAW):
            raise RmbenchError("a served policy uses the server's chat template (or --chat-template raw for plain "
                               "text on /v1/completions); a template file only applies to local policies")
        if concurrency < 1:
            raise RmbenchError(f"--concurrency must be at least 1, got {concurrency}")
        self.model = model
        self.name = model
        self.servers = [Server(u, role="policy server", api_key_env=api_key_env, timeout=timeout, retries=retries,
                               backoff=backoff) for u in split_urls(urls, "policy server")]
        self.raw = chat_template == formatting.RAW
        self.path = "/v1/completions" if self.raw else "/v1/chat/completions"
        self.concurrency = concurrency
        self.batch_size = concurrency * len(self.servers)  # requests in flight: what the record's batch_size means
        self.batch_tokens = None
        self._check_served()
        self._fingerprint = hashlib.sha256(
            f"remote-policy:1:{model}:{self.path}:{sorted(NEUTRAL.items())}".encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"RemotePolicy({self.model!r}, {[s.public for s in self.servers]!r})"

    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "source": OPENAI_PREFIX + self.model, "fingerprint": self._fingerprint,
                "backend": "openai", "served_model": self.model, "urls": [s.public for s in self.servers],
                "endpoint": self.path, "chat_template": "raw" if self.raw else "server",
                "neutral_sampling": dict(NEUTRAL), "seed_per_request": "sha256(seed:prompt key), 31 bits",
                "concurrency_per_server": self.concurrency, "requests": sum(s.requests for s in self.servers),
                "retried": sum(s.retried for s in self.servers), "api_key_env": self.servers[0].api_key_env,
                "api_key_set": self.servers[0].api_key_set}

    def release(self) -> None:
        """Nothing held here: the weights live on the servers."""

    def check_same_vocabulary(self, other) -> None:
        raise RmbenchError("KL needs the log-probabilities of the sampled tokens under local weights: drop --ref, "
                           "or evaluate a local checkpoint as --policy")

    # -- generation -------------------------------------------------------------------------------
    def generate(self, prompts: Sequence[list[Message]], settings: SamplingSettings, cache_dir: Path | None = None,
                 show_progress: bool = True, label: str | None = None) -> tuple[list[Generation], dict]:
        """One completion per prompt (identical prompts share it), cached as each answer lands."""
        keys, unique, known, cache = open_generations(prompts, self._fingerprint, settings, cache_dir)
        everything = [k for k in unique if k not in known]
        # under a data-parallel launch each process asks for its own share of the prompts
        todo = distributed.my_part(everything, [[i] for i in range(len(everything))], [1] * len(everything))
        started = time.perf_counter()
        new_tokens = 0
        jobs = [(k, unique[k]) for k in todo]
        with Progress(TextColumn("[bold]generating[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), disable=not show_progress, transient=True) as progress:
            task = progress.add_task(label or self.name, total=len(todo))
            for n, generation in spread(self.servers, jobs, self._sample_for(settings), self.concurrency):
                key = jobs[n][0]
                known[key] = generation
                new_tokens += generation.sampled
                if cache:
                    cache.append([(key, asdict(generation))])
                progress.advance(task)
        return finish_generations(keys, unique, known, todo, everything, new_tokens, started)

    def payload(self, prompt: list[Message], settings: SamplingSettings, key: str) -> dict:
        body: dict[str, Any] = {"model": self.model, "max_tokens": settings.max_new_tokens,
                                "temperature": settings.temperature, "top_p": settings.top_p, "n": 1,
                                "seed": request_seed(settings.seed, key), **NEUTRAL}
        if self.raw:
            body["prompt"] = formatting.raw_text(prompt, "")
        else:
            body["messages"] = prompt
        return body

    def _sample_for(self, settings: SamplingSettings):
        def sample(server: Server, job: tuple[str, list[Message]], stop) -> Generation:
            key, prompt = job
            answer = server.post_json(self.path, self.payload(prompt, settings, key), stop)
            return self._read(answer, server)
        return sample

    def _read(self, answer, server: Server) -> Generation:
        try:
            choice = answer["choices"][0]
            text = choice["text"] if self.raw else choice["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError) as err:
            raise RmbenchError(f"policy server {server.public}{self.path} did not answer with an OpenAI "
                               f"{'completion' if self.raw else 'chat completion'}: check the url") from err
        if isinstance(text, list):  # content parts, as some servers send
            text = "".join(part.get("text", "") for part in text if isinstance(part, dict))
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        finish = choice.get("finish_reason")
        stopped = finish != "length"
        count = usage.get("completion_tokens")
        if not isinstance(count, int):
            raise RmbenchError(f"policy server {server.public}{self.path} reported no usage.completion_tokens: "
                               "rmbench needs the server's token counts for completion lengths")
        return Generation(str(text or ""), [], int(usage.get("prompt_tokens") or 0), stopped, False, count=count)

    def _check_served(self) -> None:
        for server in self.servers:
            answer = server.get_json("/v1/models")
            data = answer.get("data") if isinstance(answer, dict) else None
            served = [str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")]
            if self.model not in served:
                listed = ", ".join(served) or "none"
                raise RmbenchError(f"policy server {server.public} does not serve {self.model!r} (it lists: "
                                   f"{listed}): pass --policy openai:NAME with a listed name")
