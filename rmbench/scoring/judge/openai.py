"""A judge behind any OpenAI-compatible /v1/chat/completions server (vLLM, llama.cpp, TGI,
a hosted API): the judging prompt goes out, the reply's text is parsed.

Junk replies become "no verdict" (counted), never an exception: one rambling reply must
not end a long run. HTTP is rmbench's one client for servers (scoring.remote.transport):
bounded retries, no redirects (the key would follow them to another host), the key from
an environment variable and blanked from every message, url credentials never printed.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rmbench.errors import RmbenchError
from rmbench.scoring.base import Item, ScoredBatch
from rmbench.scoring.judge.templates import JudgeBase, JudgeTemplate, check_mode, require_mode
from rmbench.scoring.judge.verdicts import JudgeRequest, Verdict, parse_rating, parse_verdict
from rmbench.scoring.remote.transport import RequestRefused, Server, public_url

OPENAI_PREFIX = "openai:"


@dataclass
class _Reply:
    text: str | None  # None when the server refused this one request
    tokens: int = 0
    error: str = ""


class OpenAIJudge(JudgeBase):
    """A judge behind an OpenAI-compatible chat-completions endpoint.

    Requests run on a bounded thread pool; results come back in request order whatever
    order the server answers in. Transient failures (429, 5xx, dropped connections) are
    retried with exponential backoff; a refused key or a wrong url fails the run at once
    with one line that says what to check (see the module docstring for credentials).
    """

    def __init__(self, model: str, *, url: str, mode: str = "pairwise", template: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", max_tokens: int = 512, temperature: float = 0.0, seed: int = 0,
                 concurrency: int = 4, timeout: float = 60, retries: int = 3, backoff: float = 1.0):
        check_mode(mode)
        if not model:
            raise RmbenchError("openai: judge needs a model name, as in openai:MODEL")
        if concurrency < 1:
            raise RmbenchError("judge concurrency must be at least 1")
        self.server = Server(url or "", role="judge server", api_key_env=api_key_env, timeout=timeout,
                             retries=retries, backoff=backoff)
        self.model = model
        self.name = OPENAI_PREFIX + model
        self.url = url.rstrip("/")
        # --judge-url is the OpenAI client's base url: usually .../v1, but hosted APIs vary
        self.path = "/v1/chat/completions" if self.url.endswith("/v1") else "/chat/completions"
        self.mode = mode
        self.template = JudgeTemplate.load(mode, template)
        self.api_key_env = api_key_env
        self.max_tokens, self.temperature, self.seed = max_tokens, temperature, seed
        self.concurrency = concurrency
        self.unparsed = 0
        self.failed = 0
        self.tokens = 0
        self._fingerprint = hashlib.sha256(
            f"judge-openai:1:{model}:{self.url}:{mode}:{self.template.digest()}:{max_tokens}:{temperature}:{seed}"
            .encode()).hexdigest()[:16]

    def __repr__(self) -> str:  # the default would be harmless, but keep the key out of any dump
        return f"OpenAIJudge(model={self.model!r}, url={public_url(self.url)!r}, mode={self.mode!r})"

    # -- protocol ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "backend": "openai", "mode": self.mode, "model": self.model,
                "url": public_url(self.url), "fingerprint": self._fingerprint, "template": self.template.origin,
                "max_tokens": self.max_tokens, "temperature": self.temperature, "seed": self.seed,
                "concurrency": self.concurrency, "api_key_env": self.api_key_env,
                "api_key_set": self.server.api_key_set, "unparsed": self.unparsed, "failed": self.failed,
                "tokens": self.tokens}

    def judge(self, requests: Sequence[JudgeRequest]) -> Iterator[tuple[list[int], list[Verdict]]]:
        require_mode(self, "pairwise", "judge")
        for indices, replies in self._complete_all([self.template.pairwise(r) for r in requests]):
            verdicts = []
            for reply in replies:
                if reply.text is None:
                    self.failed += 1
                    verdicts.append(Verdict(None, f"error: {reply.error}"))
                    continue
                winner = parse_verdict(reply.text)
                self.unparsed += winner is None
                verdicts.append(Verdict(winner, reply.text))
            yield indices, verdicts

    def score(self, items: Sequence[Item]) -> Iterator[ScoredBatch]:
        """Rating mode: the parsed rating, NaN (and counted) where none could be read."""
        require_mode(self, "rating", "score")
        for indices, replies in self._complete_all([self.template.rating(i) for i in items]):
            scores = []
            for reply in replies:
                rating = parse_rating(reply.text) if reply.text is not None else None
                self.failed += reply.text is None
                self.unparsed += reply.text is not None and rating is None
                scores.append(math.nan if rating is None else rating)
            yield ScoredBatch(indices, scores, [False] * len(indices), tokens=sum(r.tokens for r in replies))

    # -- transport --------------------------------------------------------------------------
    def _complete_all(self, prompts: list[str]) -> Iterator[tuple[list[int], list[_Reply]]]:
        """All prompts through the pool, yielded in order in small batches as they finish, so
        a cache can keep each batch and an interruption loses little."""
        if not prompts:
            return
        chunk = max(8, 2 * self.concurrency)
        stop = threading.Event()  # set on error or interruption: workers stop retrying at once
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="rmbench-judge")
        try:
            futures = [pool.submit(self._complete, p, stop) for p in prompts]
            for start in range(0, len(prompts), chunk):
                indices = list(range(start, min(start + chunk, len(prompts))))
                replies = [futures[i].result() for i in indices]
                self.tokens += sum(r.tokens for r in replies)
                yield indices, replies
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def _complete(self, prompt: str, stop: threading.Event) -> _Reply:
        payload = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                   "temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed}
        try:
            data = self.server.post_json(self.path, payload, stop)
        except RequestRefused as refused:  # this one request is too long for the model
            return _Reply(None, error=str(refused))
        return self._read_completion(data)

    def _read_completion(self, data: Any) -> _Reply:
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError) as err:
            raise RmbenchError(f"judge server {self.server.public}{self.path} did not answer with an OpenAI chat "
                               "completion (no choices[0].message in its JSON): check the url") from err
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts, as some servers send
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        usage = data.get("usage") or {}
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else 0
        return _Reply(str(content or ""), tokens=int(tokens or 0))
