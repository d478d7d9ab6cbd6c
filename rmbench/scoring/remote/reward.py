"""A reward model behind inference servers (vLLM, SGLang), scored as a local one would be.

rmbench formats and tokenizes every conversation itself, with the reward model's tokenizer
and chat template exactly as the local classifier path does (no double BOS, the same
left-cut to max_length keeping the final token the reward is read from), and sends the
token ids. The server never re-templates or re-tokenizes, so a server and a local run
score the same tokens; only the arithmetic (GPU kernels, dtype) can differ.

Request and response shapes, as the engines define them:
- vLLM `POST /classify` (vllm/entrypoints/pooling/classify/protocol.py):
  {"model": NAME, "input": [[ids], ...], "use_activation": false} ->
  {"data": [{"index": i, "probs": [logit, ...], "num_classes": k}, ...]}. With
  use_activation false, `probs` are the head's raw logits rather than sigmoid/softmax.
- SGLang `POST /classify` (python/sglang/srt/entrypoints/http_server.py, EmbeddingReqInput):
  {"model": NAME, "input_ids": [[ids], ...]} -> [{"embedding": [score, ...]}, ...] in input order.
Either way one head output becomes a reward as locally: a 1-label head's value, a 2-label
head's log-odds (label 1 minus label 0).

Identity: the served model name (GET /v1/models) plus the scores the servers give a fixed
probe; every server in the list must serve that name and agree on the probe, so a fleet
with one odd server fails at once instead of mixing two models into one record.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import rmbench.scoring.formatting as formatting
from rmbench.errors import ModelError, RmbenchError
from rmbench.scoring.base import Item, ScoredBatch
from rmbench.scoring.batching import plan_batches
from rmbench.scoring.remote.transport import Server, split_urls, spread

ENGINES = ("vllm", "sglang")
DEFAULT_REQUEST_TOKENS = 16384  # tokens per request: servers batch across concurrent requests anyway
DEFAULT_REQUEST_ROWS = 32
PROBE = [
    ([{"role": "user", "content": "What is 2 + 2?"}], "2 + 2 = 4."),
    ([{"role": "user", "content": "What is 2 + 2?"}], "2 + 2 = 5."),
    ([{"role": "user", "content": "Name a primary colour."}], "Blue is a primary colour of light and of paint."),
]
PROBE_TOLERANCE = 0.02  # servers on different GPUs differ in the last bits, not by this much


class RemoteRewardScorer:
    """The Scorer protocol (rmbench.scoring.base) over one or more reward servers."""

    kind = "classifier"

    def __init__(self, engine: str, urls: str | list[str], *, tokenizer: str | None = None,
                 chat_template: str | None = None, max_length: int | None = None, batch_tokens: int | None = None,
                 concurrency: int = 4, request_rows: int = DEFAULT_REQUEST_ROWS, timeout: float = 300,
                 retries: int = 4, backoff: float = 1.0, api_key_env: str = "OPENAI_API_KEY",
                 trust_remote_code: bool = False, seed: int = 0, dtype: str = "auto", device: str = "auto"):
        if engine not in ENGINES:
            raise RmbenchError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
        if dtype not in ("auto", None) or device not in ("auto", None):
            raise RmbenchError(f"--dtype and --device do not apply to a {engine} server: the server chose them "
                               "when it started")
        if concurrency < 1 or request_rows < 1:
            raise RmbenchError("--concurrency and rows per request must be at least 1")
        self.engine = engine
        self.servers = [Server(u, role=f"{engine} reward server", api_key_env=api_key_env, timeout=timeout,
                               retries=retries, backoff=backoff) for u in split_urls(urls, f"{engine} reward server")]
        self.concurrency = concurrency
        self.request_rows = request_rows
        self.request_tokens = batch_tokens or DEFAULT_REQUEST_TOKENS
        self.seed = seed  # unused: a server's head is trained, never random
        self.served_model, server_max = self._served_model()
        self.name = self.served_model
        self.tokenizer_source = tokenizer or self.served_model
        self.tokenizer = _load_tokenizer(self.tokenizer_source, trust_remote_code, given=tokenizer is not None)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.template_mode = formatting.setup_template(self.tokenizer, chat_template, self.tokenizer_source)
        self.max_length = max_length or _max_length(server_max, self.tokenizer)
        self.probe_scores = self._probe()
        identity = [self.served_model, _tokenizer_identity(self.tokenizer), self.template_mode, self.max_length,
                    [f"{s:.3g}" for s in self.probe_scores]]
        self._fingerprint = hashlib.sha256(f"remote-rm:1:{identity}".encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"RemoteRewardScorer({self.engine!r}, {[s.public for s in self.servers]!r})"

    # -- protocol -------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "source": f"{self.engine}:{self.served_model}",
                "backend": self.engine, "served_model": self.served_model, "fingerprint": self._fingerprint,
                "urls": [s.public for s in self.servers], "tokenizer": self.tokenizer_source,
                "chat_template": self.template_mode, "max_length": self.max_length,
                "probe_scores": self.probe_scores, "concurrency_per_server": self.concurrency,
                "request_tokens": self.request_tokens, "request_rows": self.request_rows,
                "requests": sum(s.requests for s in self.servers), "retried": sum(s.retried for s in self.servers),
                "api_key_env": self.servers[0].api_key_env, "api_key_set": self.servers[0].api_key_set,
                "random_head": False}

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        token_ids = formatting.tokenize_conversations(
            self.tokenizer, self.template_mode, [(i.prompt, i.completion) for i in items])
        truncated = [len(ids) > self.max_length for ids in token_ids]
        token_ids = [ids[-self.max_length:] for ids in token_ids]  # keep the end, as local scoring does
        jobs = plan_batches([len(ids) for ids in token_ids], self.request_tokens, max_rows=self.request_rows)
        rows = [[token_ids[i] for i in job] for job in jobs]
        for n, scores in spread(self.servers, rows, self._classify, self.concurrency):
            job = jobs[n]
            yield ScoredBatch(job, scores, [truncated[i] for i in job], tokens=sum(len(token_ids[i]) for i in job))

    # -- engines --------------------------------------------------------------------------------
    def _classify(self, server: Server, rows: list[list[int]], stop=None) -> list[float]:
        if self.engine == "vllm":
            answer = server.post_json("/classify", {"model": self.served_model, "input": rows,
                                                    "use_activation": False}, stop)
            outputs = _vllm_outputs(answer, len(rows), server)
        else:
            answer = server.post_json("/classify", {"model": self.served_model, "input_ids": rows}, stop)
            outputs = _sglang_outputs(answer, len(rows), server)
        return [_reward(values, server) for values in outputs]

    def _served_model(self) -> tuple[str, int | None]:
        names = {}
        limits = []
        for server in self.servers:
            answer = server.get_json("/v1/models")
            data = answer.get("data") if isinstance(answer, dict) else None
            if not data or not isinstance(data[0], dict) or not data[0].get("id"):
                raise RmbenchError(f"{server.public}/v1/models lists no model: is this a {self.engine} server?")
            names[server.public] = str(data[0]["id"])
            if isinstance(data[0].get("max_model_len"), int):
                limits.append(data[0]["max_model_len"])
        if len(set(names.values())) > 1:
            listed = ", ".join(f"{url} serves {name}" for url, name in names.items())
            raise RmbenchError(f"the reward servers serve different models ({listed}): one record needs one model")
        return next(iter(names.values())), min(limits) if limits else None

    def _probe(self) -> list[float]:
        ids = formatting.tokenize_conversations(self.tokenizer, self.template_mode, PROBE)
        ids = [row[-self.max_length:] for row in ids]
        answers = {server.public: self._classify(server, ids) for server in self.servers}
        first_url, first = next(iter(answers.items()))
        for url, scores in answers.items():
            if any(not math.isclose(a, b, rel_tol=PROBE_TOLERANCE, abs_tol=PROBE_TOLERANCE)
                   for a, b in zip(first, scores)):
                raise RmbenchError(f"reward servers {first_url} and {url} give different scores to the same probe "
                                   f"({first} vs {scores}): they do not serve the same weights")
        return first


def _vllm_outputs(answer, count: int, server: Server) -> list[list[float]]:
    data = answer.get("data") if isinstance(answer, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise _bad_answer(server, "vllm", "a /classify answer with one entry in data per input")
    ordered: list[list[float] | None] = [None] * count
    for position, entry in enumerate(data):
        index = entry.get("index", position) if isinstance(entry, dict) else None
        probs = entry.get("probs") if isinstance(entry, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or not isinstance(probs, list):
            raise _bad_answer(server, "vllm", "entries with an index and probs")
        ordered[index] = probs
    if any(o is None for o in ordered):
        raise _bad_answer(server, "vllm", "one entry per input index")
    return ordered  # type: ignore[return-value]


def _sglang_outputs(answer, count: int, server: Server) -> list[list[float]]:
    entries = [answer] if isinstance(answer, dict) and count == 1 else answer
    if not isinstance(entries, list) or len(entries) != count:
        raise _bad_answer(server, "sglang", "a list with one {\"embedding\": [...]} per input")
    outputs = []
    for entry in entries:
        values = entry.get("embedding") if isinstance(entry, dict) else None
        if not isinstance(values, list):
            raise _bad_answer(server, "sglang", "entries with an embedding")
        outputs.append(values)
    return outputs


def _reward(values: list, server: Server) -> float:
    if not values or len(values) > 2 or not all(isinstance(v, (int, float)) for v in values):
        raise RmbenchError(f"reward server {server.public} returned {len(values) if values else 0} values per text: "
                           "rmbench reads a reward from a 1-label (score) or 2-label (log-odds) head")
    return float(values[0]) if len(values) == 1 else float(values[1]) - float(values[0])


def _bad_answer(server: Server, engine: str, expected: str) -> RmbenchError:
    return RmbenchError(f"{server.public}/classify did not answer as {engine} does (expected {expected}): check "
                        "--engine, and that the server runs a sequence-classification reward model")


def _load_tokenizer(source: str, trust_remote_code: bool, given: bool):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        hint = "" if given else (f" (tried the served model name {source!r}; pass --tokenizer FOLDER_OR_HUB_ID, the "
                                 "reward model's own tokenizer)")
        raise ModelError(f"cannot load the tokenizer {source}{hint}: {str(err).splitlines()[0]}") from err


def _max_length(server_max: int | None, tokenizer) -> int:
    candidates = [server_max, getattr(tokenizer, "model_max_length", None)]
    sane = [int(c) for c in candidates if isinstance(c, int) and 0 < c < 1_000_000]
    if not sane:
        raise ModelError("cannot tell the reward server's maximum length: pass --max-length")
    return min(sane)


def _tokenizer_identity(tokenizer) -> str:
    probe = "Tokenizers must agree: 12345 ünïcode <|im_end|> </s>"
    blob = f"{len(tokenizer)}:{tokenizer(probe)['input_ids']}:{getattr(tokenizer, 'chat_template', '')}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

