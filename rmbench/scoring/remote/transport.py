"""HTTP to inference servers: bounded retries, no redirects, no secrets in messages.

Reward servers (vLLM, SGLang) and policy servers (any OpenAI-compatible one) are all
reached the same way, so the rules live here once:
- Transient failures (429, 5xx, dropped or refused connections, timeouts) are retried a
  bounded number of times with exponential backoff; a server's Retry-After is honoured
  (capped at a minute), so a rate-limited fleet slows rmbench down instead of failing it.
- Anything else in 4xx is a mistake no retry can fix (wrong url, wrong engine, refused
  key, bad request): one line that says what to check, with the server's own explanation
  cut short and any secret in it blanked.
- Redirects are never followed. urllib would resend the Authorization header to wherever
  a 3xx points, another host included; a server that redirects gets a clear error asking
  for the final url instead.
- The API key comes from an environment variable and never appears in a message, a
  description or a repr. Credentials written into the url (user:password@, ?key=) are
  cut from every url rmbench prints or records.
- Servers on this machine are reached without proxies (an http_proxy meant for the
  internet rarely knows 127.0.0.1).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import queue
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rmbench.errors import RmbenchError

RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 60.0
DETAIL_CHARS = 160


class ServerStopped(RmbenchError):
    """The run was stopped (another request failed, or the user interrupted): stop retrying."""


class RequestRefused(RmbenchError):
    """The server refused this one request for its own sake (it is too long for the model)."""


_TOO_LONG = re.compile(r"context length|context size|context window|maximum context|too long|exceeds|"
                       r"max_model_len|maximum model length", re.IGNORECASE)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError, which _post turns into one line


def public_url(url: str) -> str:
    """The url as it may be printed or recorded: no user:password@, no query string."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def check_url(url: str, what: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise RmbenchError(f"{what} url {public_url(url) or url!r} is not an http(s) url; pass one like "
                           "http://127.0.0.1:8000")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as err:
        raise RmbenchError(f"{what} url {public_url(url)!r} has a bad port number") from err
    return url.strip().rstrip("/")


def server_root(url: str) -> str:
    """`http://host:8000/v1` -> `http://host:8000`: OpenAI clients are given the /v1 url, while
    rmbench's paths (/v1/models, /classify, /v1/chat/completions) start at the server's root."""
    parts = urllib.parse.urlsplit(url)
    if parts.path.rstrip("/").endswith("/v1"):
        parts = parts._replace(path=parts.path.rstrip("/")[: -len("/v1")])
    return urllib.parse.urlunsplit(parts).rstrip("/")


def split_urls(text: str | list[str] | tuple[str, ...], what: str) -> list[str]:
    """`a,b` or a list of them -> checked urls, in order, without repeats."""
    pieces = [text] if isinstance(text, str) else list(text)
    urls = [u.strip() for piece in pieces for u in piece.split(",") if u.strip()]
    if not urls:
        raise RmbenchError(f"{what}: no url given; pass one like http://127.0.0.1:8000")
    return list(dict.fromkeys(check_url(u, what) for u in urls))


def _opener(host: str):
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


class Server:
    """One server at one base url. Thread-safe: each call builds its own request."""

    def __init__(self, url: str, *, role: str, api_key_env: str = "OPENAI_API_KEY", timeout: float = 120,
                 retries: int = 4, backoff: float = 1.0):
        if retries < 0 or backoff < 0 or timeout <= 0:
            raise RmbenchError("server retries and backoff must be at least 0, the timeout above 0")
        self.url = server_root(check_url(url, role))
        self.public = public_url(self.url)
        self.role = role
        self.api_key_env = api_key_env
        self._api_key = os.environ.get(api_key_env) or None
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._opener = _opener(urllib.parse.urlsplit(self.url).hostname or "")
        self.requests = 0  # answered requests, for the record
        self.retried = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Server({self.public!r}, role={self.role!r})"

    @property
    def api_key_set(self) -> bool:
        return self._api_key is not None

    def endpoint(self, path: str) -> str:
        base = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + path, base.query, ""))

    def get_json(self, path: str, stop: threading.Event | None = None) -> Any:
        return self._call("GET", path, None, stop or threading.Event())

    def post_json(self, path: str, payload: dict, stop: threading.Event | None = None) -> Any:
        return self._call("POST", path, json.dumps(payload).encode(), stop or threading.Event())

    # -- internals ----------------------------------------------------------------------------
    def _call(self, method: str, path: str, data: bytes | None, stop: threading.Event) -> Any:
        where = self.public + path
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if stop.is_set():
                raise ServerStopped(f"{self.role} run stopped")
            wait = self.backoff * 2 ** attempt
            request = urllib.request.Request(self.endpoint(path), data=data, headers=headers, method=method)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    body = response.read()
                with self._lock:
                    self.requests += 1
                return self._parse(body, where)
            except urllib.error.HTTPError as err:
                detail = self._detail(err)
                self._raise_if_fatal(err, detail, where)
                last = f"HTTP {err.code}{': ' + detail if detail else ''}"
                wait = _retry_after(err, wait)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                last = self._redact(_reason(err))
            if attempt < self.retries:
                with self._lock:
                    self.retried += 1
                if stop.wait(wait):
                    raise ServerStopped(f"{self.role} run stopped")
        attempts = f"{self.retries + 1} attempt{'s' if self.retries else ''}"
        if last.startswith("HTTP 429"):
            raise RmbenchError(f"{self.role} {where} kept rate-limiting after {attempts} ({last}): lower "
                               "--concurrency or add servers")
        if last.startswith("HTTP"):
            raise RmbenchError(f"{self.role} {where} kept failing after {attempts} ({last}): check the server's log")
        raise RmbenchError(f"cannot reach the {self.role} at {where} after {attempts} ({last}): check that it is "
                           "running and that the url is right")

    def _parse(self, body: bytes, where: str) -> Any:
        try:
            return json.loads(body)
        except ValueError as err:
            text = self._redact(_one_line(body.decode("utf-8", "replace")))[:80]
            raise RmbenchError(f"{self.role} {where} did not answer with JSON ({text!r}): check the url and "
                               "--engine") from err

    def _raise_if_fatal(self, err: urllib.error.HTTPError, detail: str, where: str) -> None:
        status = err.code
        if status in RETRY_STATUSES:
            return
        said = f" ({detail})" if detail else ""
        if 300 <= status < 400:
            target = public_url(err.headers.get("Location", "") or "") or "elsewhere"
            raise RmbenchError(f"{self.role} {where} redirected (HTTP {status}) to {target}: rmbench does not follow "
                               "redirects (they could carry the API key to another host); pass the final url")
        if status in (401, 403):
            key = "is set" if self._api_key else "is not set"
            raise RmbenchError(f"{self.role} {where} refused the request with HTTP {status}{said}: check the API key "
                               f"in ${self.api_key_env} (it {key})")
        if status in (404, 405):
            raise RmbenchError(f"{self.role} {where} answered HTTP {status}{said}: no such endpoint there; check the "
                               "url and that the server is the kind named (--engine, vllm:, sglang:)")
        if status in (400, 413, 422) and _TOO_LONG.search(detail or ""):
            raise RequestRefused(f"HTTP {status}{said}")
        raise RmbenchError(f"{self.role} {where} rejected the request with HTTP {status}{said}: check the model "
                           "name and the options")

    def _detail(self, err: urllib.error.HTTPError) -> str:
        """The server's own explanation (OpenAI-style error body when there is one), short and redacted."""
        try:
            body = err.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            return ""
        try:
            data = json.loads(body)
            error = data.get("error", data.get("detail", data)) if isinstance(data, dict) else data
            text = error.get("message", "") if isinstance(error, dict) else str(error)
        except ValueError:
            text = body
        return self._redact(_one_line(str(text)))[:DETAIL_CHARS]

    def _redact(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return re.sub(r"(?i)(bearer\s+|api[_-]?key[\"'=:\s]+)[^\s\"',}]+", r"\1***", text)


def _retry_after(err: urllib.error.HTTPError, default: float) -> float:
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(err.headers.get("Retry-After", ""))))
    except (TypeError, ValueError):
        return default


def _reason(err: Exception) -> str:
    reason = getattr(err, "reason", None) or err
    return _one_line(f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__)


def spread(servers: list[Server], jobs: list, call, concurrency: int):
    """Run `call(server, job, stop)` for every job, `concurrency` at a time on each server.

    All workers pull from one queue, so a faster server simply takes more jobs and a fleet
    behind several urls is used evenly without a balancer. Yields (job index, result) as
    results land, in any order. The first error stops every worker (no new requests, no
    more retries) and is raised here; so is an interruption of the consumer.
    """
    if concurrency < 1:
        raise RmbenchError(f"--concurrency must be at least 1, got {concurrency}")
    if not jobs:
        return
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for index in range(len(jobs)):
        todo.put(index)
    done: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def work(server: Server) -> None:
        while not stop.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                done.put((index, call(server, jobs[index], stop), None))
            except BaseException as err:  # noqa: BLE001 - handed to the consumer, which re-raises it
                done.put((index, None, err))
                return

    workers = [threading.Thread(target=work, args=(server,), daemon=True, name=f"rmbench-server-{n}")
               for server in servers for n in range(concurrency)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(len(jobs)):
            index, result, error = done.get()
            if error is not None:
                raise error
            yield index, result
    finally:
        stop.set()
