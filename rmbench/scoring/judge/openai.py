"""A judge behind any OpenAI-compatible /v1/chat/completions server (vLLM, llama.cpp, TGI,
a hosted API): the judging prompt goes out, the reply's text is parsed.

Junk replies become "no verdict" (counted), never an exception: one rambling reply must
not end a long run. Credentials are handled as a client must: the key comes from an
environment variable and is sent only to the url given, never across a redirect, and it
is blanked from every message.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import math
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rmbench.errors import RmbenchError
from rmbench.scoring.base import Item, ScoredBatch
from rmbench.scoring.judge.templates import JudgeBase, JudgeTemplate, check_mode, require_mode
from rmbench.scoring.judge.verdicts import JudgeRequest, Verdict, parse_rating, parse_verdict

OPENAI_PREFIX = "openai:"
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
_TOO_LONG = re.compile(r"context length|context size|context window|maximum context|too long|exceeds",
                       re.IGNORECASE)


@dataclass
class _Reply:
    text: str | None  # None when the server refused this one request
    tokens: int = 0
    error: str = ""


class _RequestRefused(Exception):
    """The server rejected one request for its own sake (too long): that item gets no verdict."""


class OpenAIJudge(JudgeBase):
    """A judge behind an OpenAI-compatible chat-completions endpoint.

    Requests run on a bounded thread pool; results come back in request order whatever
    order the server answers in. Transient failures (429, 5xx, dropped connections) are
    retried with exponential backoff; a refused key or a wrong url fails the run at once
    with one line that says what to check. The API key is read from an environment
    variable and never appears in messages or descriptions: server text quoted in an error
    has the key and any "Bearer ..." blanked. Redirects are never followed, because urllib
    would resend the Authorization header to wherever a 3xx points, another host included.
    """

    def __init__(self, model: str, *, url: str, mode: str = "pairwise", template: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", max_tokens: int = 512, temperature: float = 0.0, seed: int = 0,
                 concurrency: int = 4, timeout: float = 60, retries: int = 3, backoff: float = 1.0):
        check_mode(mode)
        if not model:
            raise RmbenchError("openai: judge needs a model name, as in openai:MODEL")
        parsed = urllib.parse.urlparse(url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise RmbenchError(f"judge url {public_url(url or '')!r} is not an http(s) url; pass one like http://127.0.0.1:8000/v1")
        if concurrency < 1 or retries < 0:
            raise RmbenchError("judge concurrency must be at least 1 and retries at least 0")
        self.model = model
        self.name = OPENAI_PREFIX + model
        self.url = url.rstrip("/")
        self.endpoint = self.url + "/chat/completions"
        self.public_endpoint = public_url(self.endpoint)  # what messages print: no user:password@, no ?key=
        self.mode = mode
        self.template = JudgeTemplate.load(mode, template)
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) or None
        self.max_tokens, self.temperature, self.seed = max_tokens, temperature, seed
        self.concurrency, self.timeout, self.retries, self.backoff = concurrency, timeout, retries, backoff
        self._opener = _opener_for(parsed.hostname or "")
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
                "api_key_set": self._api_key is not None, "unparsed": self.unparsed, "failed": self.failed,
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
            body = self._post(json.dumps(payload).encode(), stop)
        except _RequestRefused as refused:
            return _Reply(None, error=str(refused))
        return self._read_completion(body)

    def _post(self, data: bytes, stop: threading.Event) -> bytes:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            wait = self.backoff * 2 ** attempt
            request = urllib.request.Request(self.endpoint, data=data, headers=headers, method="POST")
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.read()
            except urllib.error.HTTPError as err:
                detail = self._redact(_error_detail(err))
                self._raise_if_fatal(err, detail)
                last = f"HTTP {err.code}{': ' + detail if detail else ''}"
                wait = _retry_after(err, wait)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                last = self._redact(_reason(err))
            if attempt < self.retries and stop.wait(wait):
                raise RmbenchError("judge run stopped")  # the caller has already gone
        raise RmbenchError(self._gave_up_message(last))

    def _redact(self, text: str) -> str:
        """Servers echo what they were sent: the key and any bearer token never reach a message."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return _BEARER.sub(r"\1***", text)

    def _raise_if_fatal(self, err: urllib.error.HTTPError, detail: str) -> None:
        """Errors no retry can fix end the run; a request too long for the model skips that item."""
        status = err.code
        if 300 <= status < 400:
            target = public_url(err.headers.get("Location", "") or "") or "an unnamed place"
            raise RmbenchError(f"judge server {self.public_endpoint} redirected (HTTP {status}) to {target}: rmbench "
                               "does not follow redirects (they could carry the API key to another host); pass the "
                               "final url as --judge-url")
        if status in RETRY_STATUSES or status < 400:
            return
        said = f" ({detail})" if detail else ""
        if status in (401, 403):
            key = "is set" if self._api_key else "is not set"
            raise RmbenchError(f"judge server {self.public_endpoint} refused the request with HTTP {status}{said}: "
                               f"check the API key in ${self.api_key_env} (it {key})")
        if status == 404:
            raise RmbenchError(f"judge server answered HTTP 404 for {self.public_endpoint}{said}: check the url (it "
                               f"should end in /v1) and the model name {self.model!r}")
        if status in (400, 413, 422) and _TOO_LONG.search(detail or ""):
            raise _RequestRefused(f"HTTP {status}{said}")
        raise RmbenchError(f"judge server {self.public_endpoint} rejected the request with HTTP {status}{said}: check "
                           f"the model name {self.model!r} and the judge options")

    def _gave_up_message(self, last: str) -> str:
        attempts = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        if last.startswith("HTTP 429"):
            return (f"judge server {self.public_endpoint} kept rate-limiting after {attempts} ({last}): lower the "
                    "concurrency")
        if last.startswith("HTTP"):
            return (f"judge server {self.public_endpoint} kept failing after {attempts} ({last}): check the "
                    "server's log")
        return (f"cannot reach the judge server at {self.public_endpoint} after {attempts} ({last}): check that it is "
                "running and that the url is right")

    def _read_completion(self, body: bytes) -> _Reply:
        try:
            data = json.loads(body)
            message = data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
            text = self._redact(_one_line(body.decode("utf-8", "replace")))[:80]
            raise RmbenchError(f"judge server {self.public_endpoint} did not answer with an OpenAI chat completion "
                               f"({text!r}): check the url") from err
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # content parts, as some servers send
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        usage = data.get("usage") or {}
        tokens = usage.get("total_tokens") if isinstance(usage, dict) else 0
        return _Reply(str(content or ""), tokens=int(tokens or 0))


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError: _raise_if_fatal names the Location


_BEARER = re.compile(r"(?i)(bearer\s+|api[_-]?key[\"'=:\s]+)[^\s\"',}]+")


def public_url(url: str) -> str:
    """The url as it may be printed or recorded: no user:password@, no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    netloc = (f"[{host}]" if ":" in host else host) + port
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def _opener_for(host: str):
    """No redirects ever; local servers are reached directly (a proxy set for the internet
    rarely knows 127.0.0.1)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    handlers: list = [_NoRedirects()]
    if loopback:
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_detail(err: urllib.error.HTTPError) -> str:
    """The server's own explanation, from an OpenAI-style error body when there is one."""
    try:
        body = err.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        text = error.get("message", "") if isinstance(error, dict) else str(error)
    except ValueError:
        text = body
    return _one_line(str(text))[:160]


def _retry_after(err: urllib.error.HTTPError, default: float) -> float:
    try:
        return min(60.0, max(0.0, float(err.headers.get("Retry-After", ""))))
    except (TypeError, ValueError):
        return default


def _reason(err: Exception) -> str:
    reason = getattr(err, "reason", None) or err
    return _one_line(f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__)
