"""Scripted inference servers on 127.0.0.1 for tests: real HTTP, the engines' JSON shapes.

Each server runs a ThreadingHTTPServer in a daemon thread and records every request, how
many were in flight at once, and answers through small hooks a test can replace: how to
score token ids (reward servers), how to answer a chat/completion (policy servers), and a
`fail(n, path)` hook that can turn request n into an HTTP error.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def scripted_reward(ids: list[int]) -> float:
    """A deterministic reward from token ids, so tests can compute what each text must get."""
    return round((sum(ids) % 97) / 10 - len(ids) / 100, 6)


class ScriptedServer:
    def __init__(self, engine: str = "vllm", model: str = "tiny-rm", *, score=scripted_reward, labels: int = 1,
                 delay: float = 0.0, max_model_len: int | None = 512, fail=None, complete=None):
        self.engine, self.model, self.score, self.labels = engine, model, score, labels
        self.delay, self.max_model_len, self.fail, self.complete = delay, max_model_len, fail, complete
        self.requests: list[tuple[str, dict | None, dict]] = []  # (path, json body, headers)
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.posts = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server._handle(self, None)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                server._handle(self, json.loads(self.rfile.read(length)))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- dispatch -----------------------------------------------------------------------------
    def _handle(self, handler, body) -> None:
        path = handler.path
        with self.lock:
            self.requests.append((path, body, dict(handler.headers)))
            if body is not None:
                self.posts += 1
                number = self.posts
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            reply = self._reply(path, body, number if body is not None else 0)
        finally:
            # Leave the in-flight count before answering: once the answer is written the
            # client may send its next request before this thread would get to decrement.
            with self.lock:
                self.inflight -= 1
        self._send(handler, *reply)

    def _reply(self, path: str, body, number: int) -> tuple:
        if body is None:
            if path != "/v1/models":
                return 404, {"detail": "Not Found"}
            entry = {"id": self.model, "object": "model", "owned_by": "test"}
            if self.max_model_len:
                entry["max_model_len"] = self.max_model_len
            return 200, {"object": "list", "data": [entry]}
        if self.fail:
            failure = self.fail(number, path)
            if failure:
                status, payload, *headers = failure
                return status, payload, headers[0] if headers else {}
        time.sleep(self.delay)
        if path == "/classify":
            return 200, self._classify(body)
        if path in ("/v1/chat/completions", "/v1/completions"):
            return 200, self.complete(path, body)
        return 404, {"detail": "Not Found"}

    def _classify(self, body: dict):
        rows = body["input"] if self.engine == "vllm" else body["input_ids"]
        values = []
        for ids in rows:
            reward = self.score(ids)
            values.append([reward] if self.labels == 1 else [0.0, reward])
        if self.engine == "vllm":
            return {"id": "classify-1", "object": "list", "created": 0, "model": self.model,
                    "data": [{"index": i, "label": None, "probs": v, "num_classes": len(v)}
                             for i, v in reversed(list(enumerate(values)))],  # out of order: index decides
                    "usage": {"prompt_tokens": sum(map(len, rows)), "total_tokens": sum(map(len, rows))}}
        return [{"embedding": v, "meta_info": {"prompt_tokens": len(r)}} for v, r in zip(values, rows)]

    @staticmethod
    def _send(handler, status: int, payload, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    def posted(self, path: str = "/classify") -> list[dict]:
        return [body for p, body, _ in self.requests if p == path and body is not None]
