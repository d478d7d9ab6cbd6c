"""LLM-as-a-judge backends: reply parsing, label-probability judging on a tiny random LM, and
the OpenAI-compatible client against a real HTTP server on 127.0.0.1 (the client is never
mocked: retries, headers and ordering are only worth testing over a real socket)."""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from rmbench.errors import ModelError, RmbenchError
from rmbench.scoring.base import Item
from rmbench.scoring.judge import (
    JudgeRequest,
    JudgeTemplate,
    LocalJudge,
    OpenAIJudge,
    Verdict,
    build_judge,
    parse_rating,
    parse_verdict,
    render_conversation,
)
from tests import tiny

USER = "user"
PAIRWISE_TEMPLATE = "Question: {prompt}\nFirst: {answer_a}\nSecond: {answer_b}\nWhich is better?"
RATING_TEMPLATE = "Question: {prompt}\nReply: {answer}\nRate it."
CHATML_WITH_GENERATION = tiny.CHATML + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"


def conversation(text: str) -> list[dict]:
    return [{"role": USER, "content": text}]


REQUESTS = [
    JudgeRequest(conversation("what is two plus two?"), "four.", "five."),
    JudgeRequest(conversation("write a short poem about the sea"), "the sea is blue and deep", "no."),
    JudgeRequest([{"role": "system", "content": "be brief"}, {"role": USER, "content": "hello"},
                  {"role": "assistant", "content": "hello! what do you need?"},
                  {"role": USER, "content": "the capital of france?"}],
                 "paris", "the capital of france is london, i think, or maybe lyon"),
    JudgeRequest(conversation("please help"), "here is a python function that adds numbers", "i cannot help"),
    JudgeRequest(conversation("say {hi} in json"), '{"answer_b": "{answer_b}"}', "{prompt}"),
]
ITEMS = [Item(r.prompt, text) for r in REQUESTS for text in (r.answer_a, r.answer_b)]


# -- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, winner", [
    ("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie"), ("[[tie]]", "tie"), ("[[ b ]]", "B"), ("[[Tie]]", "tie"),
    ("Reply B misreads the question.\n\n[[A]]", "A"),
    ("I was asked to answer [[A]] or [[B]] or [[C]].\nB is wrong about Paris.\n[[A]]", "A"),
    ("[[B]]\n\nI hope this helps.", "B"),
    ("Output (a)", "A"), ("Output (b)", "B"), ("output (B)", "B"),
    ("A", "A"), ("b", "B"), ("  B.  ", "B"), ("tie", "tie"), ("**A**", "A"), ('"B"', "B"), ("(A)", "A"),
    ("Assistant A", "A"), ("Response B", "B"),
    ("Assistant A is better", "A"), ("assistant b is clearly better than the other.", "B"),
    ("Response (a) was much better.", "A"), ("Output B wins.", "B"), ("Overall, B is better.", "B"),
    ("\\boxed{A}", "A"), ("The answer is $\\boxed{\\text{B}}$", "B"), ("\\boxed{C}", "tie"),
    ("Verdict: B", "B"), ("VERDICT:A", "A"), ("Final verdict: Assistant A", "A"), ("Winner: tie", "tie"),
    ("Verdict: a tie.", "tie"), ("Answer: (B)", "B"), ("decision = b", "B"),
    ('{"winner": "A"}', "A"), ('```json\n{"reason": "shorter", "winner": "B"}\n```', "B"),
    ('{"verdict": "tie"}', "tie"), ('{"winner": "Assistant B"}', "B"),
    ("Assistant A is better at style, but accuracy matters more.\nVerdict: B", "B"),
    ("<think>[[A]] looks tempting, but [[B]] is right.</think>\n[[B]]", "B"),
])
def test_parse_verdict_accepts_every_documented_form(text, winner):
    assert parse_verdict(text) == winner


@pytest.mark.parametrize("text", [
    "", "   \n ", "I think both are fine", "A and B", "[[D]]", "[[AB]]", "[[A]] or [[B]]",
    "Assistant A is better. Assistant B is better.", "Output (a) is long; output (b) is short",
    "Assistant A is not better", "the answer is a good one", "a is better", "Verdict: a good question",
    '{"winner": "neither"}', "Rating: 7", "ABBA", "I cannot decide between them.",
    "<think>maybe [[A]]",
])
def test_parse_verdict_rejects_junk_and_ambiguity(text):
    assert parse_verdict(text) is None


@pytest.mark.parametrize("text, rating", [
    ("Rating: 7", 7.0), ("rating:7", 7.0), ("[[7]]", 7.0), ("7/10", 7.0), ("Score: 8.5", 8.5),
    ("Rating: 10", 10.0), ("Rating: 1", 1.0), ("Rating: **9**", 9.0), ("Rating: [[3]]", 3.0),
    ("It is solid but misses edge cases. 6 out of 10", 6.0), ("8", 8.0), ("Rating: 7/10", 7.0),
    ("I was asked for Rating: N with N in 1..10.\nRating: 4", 4.0), ("score = 2.5", 2.5),
    ("<think>Rating: 2? no.</think>Rating: 9", 9.0),
])
def test_parse_rating_accepts_every_documented_form(text, rating):
    assert parse_rating(text) == rating


@pytest.mark.parametrize("text", [
    "", "Rating: 11", "Rating: 0", "Rating: -3", "Score: 85", "[[42]]", "great answer", "Rating: N",
    "11/10", "Rating: 5\nRating: 12", "ratings go from 1 to 10",
])
def test_parse_rating_rejects_out_of_range_and_junk(text):
    assert parse_rating(text) is None


# -- templates -------------------------------------------------------------------------------

def test_template_missing_a_placeholder_is_named(tmp_path, tiny_lm):
    bad = tmp_path / "bad.txt"
    bad.write_text("{prompt}\n{answer_a}\nWhich is better?")
    with pytest.raises(RmbenchError, match=r"\{answer_b\}"):
        JudgeTemplate.load("pairwise", str(bad))
    with pytest.raises(RmbenchError, match=r"\{answer_b\}"):
        LocalJudge(str(tiny_lm), template=str(bad), dtype="fp32")
    with pytest.raises(RmbenchError, match=r"\{answer\}"):
        JudgeTemplate.load("rating", str(bad))
    with pytest.raises(RmbenchError, match="no such file"):
        JudgeTemplate.load("pairwise", str(tmp_path / "absent.txt"))
    with pytest.raises(RmbenchError, match="unknown judge mode"):
        JudgeTemplate.load("pointwise")


def test_templates_replace_only_their_placeholders_once():
    template = JudgeTemplate("pairwise", 'Format: {"winner": "A"} {other} {prompt}|{answer_a}|{answer_b}', "t")
    text = template.pairwise(REQUESTS[4])
    assert text == ('Format: {"winner": "A"} {other} User: say {hi} in json|{"answer_b": "{answer_b}"}|{prompt}')
    for mode in ("pairwise", "rating"):  # the shipped templates load and name the final-line format
        assert JudgeTemplate.load(mode).origin == f"builtin:{mode}"
    assert "[[A]]" in JudgeTemplate.load("pairwise").text and "Rating: N" in JudgeTemplate.load("rating").text


def test_conversation_is_rendered_as_readable_turns():
    assert render_conversation(REQUESTS[2].prompt) == (
        "System: be brief\n\nUser: hello\n\nAssistant: hello! what do you need?\n\nUser: the capital of france?")


def test_request_key_is_a_content_hash():
    same = JudgeRequest(conversation("what is two plus two?"), "four.", "five.")
    assert same.key() == REQUESTS[0].key()
    assert JudgeRequest(same.prompt, same.answer_b, same.answer_a).key() != same.key()


# -- local judge -----------------------------------------------------------------------------

@pytest.fixture
def templates(tmp_path):
    pairwise, rating = tmp_path / "pairwise.txt", tmp_path / "rating.txt"
    pairwise.write_text(PAIRWISE_TEMPLATE)
    rating.write_text(RATING_TEMPLATE)
    return {"pairwise": str(pairwise), "rating": str(rating)}


def local(tiny_lm, templates, mode="pairwise", **options) -> LocalJudge:
    return LocalJudge(str(tiny_lm), mode=mode, template=templates[mode], dtype="fp32", **options)


def collect(batches, n: int) -> list:
    out = [None] * n
    for indices, values in batches:
        for i, v in zip(indices, values):
            assert out[i] is None, "an index was judged twice"
            out[i] = v
    assert all(v is not None for v in out)
    return out


def probabilities(verdict: Verdict) -> tuple[float, float]:
    match = re.fullmatch(r"p\(A\)=([\d.]+) p\(B\)=([\d.]+) mass=\S+", verdict.raw)
    assert match, verdict.raw
    return float(match.group(1)), float(match.group(2))


def test_local_pairwise_gives_one_deterministic_verdict_per_request(tiny_lm, templates):
    first = collect(local(tiny_lm, templates).judge(REQUESTS), len(REQUESTS))
    again = collect(local(tiny_lm, templates).judge(REQUESTS), len(REQUESTS))
    assert first == again
    for verdict in first:
        p_a, p_b = probabilities(verdict)
        assert p_a + p_b == pytest.approx(1.0, abs=2e-4)
        assert verdict.winner == ("A" if p_a > p_b else "B")


def test_local_pairwise_reads_the_label_after_each_rows_last_real_token(tiny_lm, templates):
    """Padded batches, single rows and a plain unpadded forward pass must agree."""
    judge = local(tiny_lm, templates)
    rows = judge._encode([judge.judge_text(judge.template.pairwise(r)) for r in REQUESTS])
    assert len({len(r) for r in rows}) > 1  # the batch really is padded
    queries = [[(0, judge.label_ids[0][0]), (0, judge.label_ids[1][0])]] * len(rows)
    batched = judge._label_logprobs(rows, queries)
    alone = [judge._label_logprobs([row], queries[:1])[0] for row in rows]
    with torch.inference_mode():
        direct = [torch.log_softmax(judge.model(input_ids=torch.tensor([row])).logits[0, -1].float(), -1)
                  for row in rows]
    for b, a, d in zip(batched, alone, direct):
        assert b == pytest.approx(a, abs=1e-5)
        assert b == pytest.approx([d[judge.label_ids[0][0]].item(), d[judge.label_ids[1][0]].item()], abs=1e-5)
    one_by_one = collect(local(tiny_lm, templates, batch_tokens=1).judge(REQUESTS), len(REQUESTS))
    together = collect(local(tiny_lm, templates, batch_tokens=1 << 16).judge(REQUESTS), len(REQUESTS))
    assert [v.winner for v in one_by_one] == [v.winner for v in together]
    for x, y in zip(one_by_one, together):
        assert probabilities(x) == pytest.approx(probabilities(y), abs=2e-4)


def test_local_judge_prefills_after_the_generation_prompt(tiny_lm, templates, tmp_path):
    ignores = local(tiny_lm, templates)  # the tiny template has no add_generation_prompt branch
    jinja = tmp_path / "chatml.jinja"
    jinja.write_text(CHATML_WITH_GENERATION)
    honours = local(tiny_lm, templates, chat_template=str(jinja))
    expected = "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n[["
    assert ignores.judge_text("hello") == honours.judge_text("hello") == expected
    assert ignores.fingerprint() != honours.fingerprint()


def test_local_judge_without_chat_template_uses_raw_text(tmp_path, templates):
    from transformers import LlamaForCausalLM

    tokenizer = tiny.make_tokenizer(template=None)
    torch.manual_seed(0)
    LlamaForCausalLM(tiny.llama_config(len(tokenizer))).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    judge = local(tmp_path / "base", templates)
    assert judge.describe()["chat_template"] == "raw"
    assert judge.judge_text("hello") == "hello\n\n[["
    assert all(v.winner in ("A", "B") for v in collect(judge.judge(REQUESTS), len(REQUESTS)))


def test_local_judge_counts_truncation_and_keeps_the_label_position(tiny_lm, templates):
    judge = local(tiny_lm, templates, max_length=24)
    verdicts = collect(judge.judge(REQUESTS), len(REQUESTS))
    assert judge.describe()["truncated"] > 0
    assert all(v.winner in ("A", "B") for v in verdicts)


def brute_force_rating(judge: LocalJudge, item: Item) -> float:
    """Each label's log-prob from its own unpadded forward pass; "1" loses the mass of "10"."""
    prefix = judge._encode([judge.judge_text(judge.template.rating(item))])[0]
    probs = []
    with torch.inference_mode():
        for cont in judge.label_ids:
            logits = judge.model(input_ids=torch.tensor([prefix + cont])).logits[0].float().log_softmax(-1)
            probs.append(math.exp(sum(logits[len(prefix) - 1 + j, tok].item() for j, tok in enumerate(cont))))
    for label, cont in enumerate(judge.label_ids):
        for other, longer in enumerate(judge.label_ids):
            if len(longer) > len(cont) and longer[: len(cont)] == cont:
                probs[label] -= probs[other]
    return sum(p * (n + 1) for n, p in enumerate(probs)) / sum(probs)


def test_local_rating_is_the_expected_rating_over_ten_labels(tiny_lm, templates):
    judge = local(tiny_lm, templates, mode="rating")
    # the tiny tokenizer splits " 10" into " 1" + "0": the multi-token, shared-prefix case
    assert judge.prefill == "Rating:" and len(judge.label_ids[9]) == 2
    assert judge.label_ids[9][:1] == judge.label_ids[0]
    scores = collect(((b.indices, b.scores) for b in judge.score(ITEMS)), len(ITEMS))
    assert all(1 <= s <= 10 for s in scores)
    assert scores == pytest.approx([brute_force_rating(judge, item) for item in ITEMS], abs=1e-6)
    again = collect(((b.indices, b.scores) for b in local(tiny_lm, templates, mode="rating").score(ITEMS)),
                    len(ITEMS))
    assert again == scores
    alone = collect(((b.indices, b.scores) for b in local(tiny_lm, templates, mode="rating", batch_tokens=1)
                     .score(ITEMS)), len(ITEMS))
    assert alone == pytest.approx(scores, abs=1e-6)


def test_local_judge_modes_and_fingerprints(tiny_lm, templates):
    pairwise, rating = local(tiny_lm, templates), local(tiny_lm, templates, mode="rating")
    with pytest.raises(RmbenchError, match="rating"):
        list(pairwise.score(ITEMS))
    with pytest.raises(RmbenchError, match="pairwise"):
        list(rating.judge(REQUESTS))
    builtin = LocalJudge(str(tiny_lm), dtype="fp32")
    assert len({pairwise.fingerprint(), rating.fingerprint(), builtin.fingerprint()}) == 3
    assert local(tiny_lm, templates).fingerprint() == pairwise.fingerprint()
    assert pairwise.describe()["kind"] == "judge" and pairwise.describe()["prefill"] == "[["
    with pytest.raises(ModelError):
        LocalJudge(str(tiny_lm.parent / "no-such-model"))


# -- OpenAI-compatible judge -----------------------------------------------------------------

def _between(text: str, tag: str) -> str:
    return text.split(f"<{tag}>\n", 1)[1].split(f"\n</{tag}>", 1)[0]


def scripted_reply(prompt: str) -> str:
    """What the fake judge says: A wins when it contains "good"; ratings come from "stars=N"."""
    if "garbage" in prompt:
        return "Both replies have merit and I will not choose."
    if "<reply_A>" in prompt:
        return "Reply A is sound.\n[[A]]" if "good" in _between(prompt, "reply_A") else "[[B]]"
    stars = re.search(r"stars=(\d+)", _between(prompt, "reply"))
    return f"It is fine.\nRating: {stars.group(1)}" if stars else "no idea"


class FakeJudgeServer(BaseHTTPRequestHandler):
    """Paths pick the failure: /deny -> 401, /missing -> 404, /broken -> always 503; prompts
    with "flaky" fail once with 500, "toolong" get a 400 context-length error, "sleep=S" waits."""

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        state = self.server.state
        with state["lock"]:
            state["seen"].append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            state["attempts"][prompt] += 1
            attempt = state["attempts"][prompt]
        if self.path.startswith("/deny/"):
            return self.send(401, {"error": {"message": "Incorrect API key provided"}})
        if self.path.startswith("/echo/"):  # servers that quote the request back in their errors
            return self.send(401, {"error": {"message": f"bad header {self.headers.get('Authorization')}"}})
        if self.path.startswith("/echo-busy/"):
            return self.send(503, {"error": {"message": f"busy; you sent {self.headers.get('Authorization')}"}})
        if self.path.startswith("/echo-junk/"):
            return self.send(200, {"junk": f"Authorization: {self.headers.get('Authorization')}"})
        if self.path.startswith("/moved-"):  # /moved-302/...: a redirect to another host (here: another port)
            status, rest = self.path[len("/moved-"):].split("/", 1)
            self.send_response(int(status))
            self.send_header("Location", f"{state['elsewhere']}/{rest}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if self.path.startswith("/missing/"):
            return self.send(404, {"error": {"message": "no such route"}})
        if self.path.startswith("/broken/"):
            return self.send(503, {"error": {"message": "overloaded"}})
        if "flaky" in prompt and attempt == 1:
            return self.send(500, {"error": {"message": "try again"}})
        if "toolong" in prompt:
            return self.send(400, {"error": {"message": "This model's maximum context length is 8 tokens"}})
        delay = re.search(r"sleep=([\d.]+)", prompt)
        if delay:
            time.sleep(float(delay.group(1)))
        self.send(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": scripted_reply(prompt)}}],
                        "usage": {"total_tokens": 10}})

    def do_GET(self):  # noqa: N802 - a 301/302/303 turns urllib's POST into a GET: record it too
        with self.server.state["lock"]:
            self.server.state["seen"].append({"path": self.path, "auth": self.headers.get("Authorization")})
        self.send(404, {"error": {"message": "GET is not served"}})

    def send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _serve_fake_judge():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeJudgeServer)
    httpd.state = {"lock": threading.Lock(), "seen": [], "attempts": Counter()}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def server():
    yield from _serve_fake_judge()


def base_url(httpd, prefix: str = "") -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{prefix}/v1"


def api(httpd, prefix: str = "", **options) -> OpenAIJudge:
    options.setdefault("backoff", 0.01)
    options.setdefault("api_key_env", "RMBENCH_TEST_JUDGE_KEY")
    return OpenAIJudge("judge-model", url=base_url(httpd, prefix), **options)


def pair(i: int, good: bool, extra: str = "") -> JudgeRequest:
    return JudgeRequest(conversation(f"question {i} {extra}"), f"{'good' if good else 'meh'} {i}", f"other {i}")


def test_openai_judge_parses_scripted_verdicts_and_counts_junk(server, monkeypatch):
    monkeypatch.delenv("RMBENCH_TEST_JUDGE_KEY", raising=False)
    requests = [pair(0, True), pair(1, False), pair(2, True, "garbage"), *REQUESTS[:2]]
    judge = api(server, temperature=0.0, max_tokens=64, seed=7)
    verdicts = collect(judge.judge(requests), len(requests))
    assert [v.winner for v in verdicts] == ["A", "B", None, "B", "B"]
    assert verdicts[0].raw == "Reply A is sound.\n[[A]]"
    assert judge.describe()["unparsed"] == 1 and judge.describe()["tokens"] == 50
    sent = server.state["seen"][0]
    assert sent["auth"] is None  # no key in the environment, no header
    assert sent["path"] == "/v1/chat/completions"
    assert {k: sent["body"][k] for k in ("model", "temperature", "max_tokens", "seed")} == {
        "model": "judge-model", "temperature": 0.0, "max_tokens": 64, "seed": 7}
    assert sent["body"]["messages"][0]["role"] == "user"


def test_openai_judge_sends_the_key_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("RMBENCH_TEST_JUDGE_KEY", "sk-test-secret")
    judge = api(server)
    collect(judge.judge([pair(0, True)]), 1)
    assert server.state["seen"][-1]["auth"] == "Bearer sk-test-secret"
    assert "sk-test-secret" not in json.dumps(judge.describe()) + repr(judge)


def test_openai_judge_retries_a_server_error(server):
    judge = api(server, retries=2)
    verdicts = collect(judge.judge([pair(0, True, "flaky")]), 1)
    assert verdicts[0].winner == "A"
    assert server.state["attempts"][next(iter(server.state["attempts"]))] == 2


def test_openai_judge_fails_clearly_on_a_refused_key(server, monkeypatch):
    monkeypatch.setenv("RMBENCH_TEST_JUDGE_KEY", "sk-test-secret")
    with pytest.raises(RmbenchError) as refused:
        collect(api(server, "/deny").judge([pair(0, True), pair(1, False)]), 2)
    message = str(refused.value)
    assert "\n" not in message and "401" in message and "$RMBENCH_TEST_JUDGE_KEY" in message
    assert base_url(server, "/deny") in message and "sk-test-secret" not in message
    assert len(server.state["seen"]) <= 2  # refused keys are not retried
    with pytest.raises(RmbenchError, match=r"HTTP 404 .*no such endpoint there; check the url"):
        collect(api(server, "/missing").judge([pair(0, True)]), 1)


def test_openai_judge_gives_up_on_a_dead_or_broken_server(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dead = OpenAIJudge("m", url=f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01, timeout=2)
    with pytest.raises(RmbenchError, match=r"cannot reach the judge server .* after 2 attempts") as err:
        collect(dead.judge([pair(0, True)]), 1)
    assert "\n" not in str(err.value)
    with pytest.raises(RmbenchError, match=r"kept failing after 3 attempts \(HTTP 503: overloaded\)"):
        collect(api(server, "/broken", retries=2).judge([pair(0, True)]), 1)


def test_openai_judge_skips_a_request_too_long_for_the_model(server):
    judge = api(server)
    verdicts = collect(judge.judge([pair(0, True), pair(1, True, "toolong")]), 2)
    assert verdicts[0].winner == "A" and verdicts[1].winner is None
    assert verdicts[1].raw.startswith("error: HTTP 400") and judge.describe()["failed"] == 1


def test_openai_judge_keeps_request_order_under_concurrency(server):
    # early requests answer last, so any mix-up between futures and indices would show
    requests = [pair(i, i % 3 == 0, f"sleep={0.01 * (12 - i):.2f}") for i in range(12)]
    judge = api(server, concurrency=4)
    batches = list(judge.judge(requests))
    assert [i for indices, _ in batches for i in indices] == list(range(12))
    winners = [v.winner for _, verdicts in batches for v in verdicts]
    assert winners == ["A" if i % 3 == 0 else "B" for i in range(12)]


def test_openai_judge_stops_sending_when_the_caller_stops(server):
    requests = [pair(i, True, "sleep=0.02") for i in range(40)]
    batches = api(server, concurrency=2).judge(requests)
    indices, _ = next(batches)
    batches.close()  # as an interrupted engine would
    time.sleep(0.1)
    assert indices == list(range(8)) and len(server.state["seen"]) < 16


def test_openai_rating_mode_is_a_scorer_with_nan_for_junk(server):
    items = [Item(conversation("q"), "stars=8"), Item(conversation("q"), "garbage"),
             Item(conversation("q"), "stars=11"), Item(conversation("q"), "stars=3")]
    judge = api(server, mode="rating")
    batches = list(judge.score(items))
    scores = [s for b in batches for s in b.scores]
    assert scores[0] == 8.0 and scores[3] == 3.0 and math.isnan(scores[1]) and math.isnan(scores[2])
    assert judge.describe()["unparsed"] == 2
    assert batches[0].truncated == [False] * 4 and batches[0].tokens == 40


def test_openai_fingerprint_tracks_everything_that_changes_verdicts(tmp_path):
    url = "http://127.0.0.1:9/v1"
    base = OpenAIJudge("m", url=url)
    custom = tmp_path / "t.txt"
    custom.write_text(PAIRWISE_TEMPLATE)
    variants = [OpenAIJudge("m2", url=url), OpenAIJudge("m", url="http://127.0.0.1:10/v1"),
                OpenAIJudge("m", url=url, mode="rating"), OpenAIJudge("m", url=url, template=str(custom)),
                OpenAIJudge("m", url=url, temperature=0.7), OpenAIJudge("m", url=url, max_tokens=16),
                OpenAIJudge("m", url=url, seed=1)]
    assert len({base.fingerprint(), *(v.fingerprint() for v in variants)}) == len(variants) + 1
    assert OpenAIJudge("m", url=url + "/", concurrency=8).fingerprint() == base.fingerprint()
    with pytest.raises(RmbenchError, match="not an http"):
        OpenAIJudge("m", url="127.0.0.1:8000/v1")


def test_build_judge_picks_the_backend(tiny_lm):
    with pytest.raises(RmbenchError, match="url"):
        build_judge("openai:gpt-judge", url=None, mode="pairwise", template=None)
    remote = build_judge("openai:gpt-judge", url="http://127.0.0.1:8000/v1", mode="rating", template=None,
                         dtype="auto", batch_tokens=None, concurrency=2)  # model flags at their defaults: fine
    assert isinstance(remote, OpenAIJudge) and remote.model == "gpt-judge" and remote.concurrency == 2
    local_judge = build_judge(str(tiny_lm), url=None, mode="pairwise", template=None, dtype="fp32", concurrency=None)
    assert isinstance(local_judge, LocalJudge) and local_judge.describe()["dtype"] == "fp32"
    # an option the backend cannot use is an error naming the flag, never silently dropped
    with pytest.raises(RmbenchError, match="--batch-tokens does not apply to the judge openai:gpt-judge"):
        build_judge("openai:gpt-judge", url="http://127.0.0.1:8000/v1", template=None, batch_tokens=512)
    with pytest.raises(RmbenchError, match="--concurrency does not apply .* server judges"):
        build_judge(str(tiny_lm), url=None, template=None, dtype="fp32", concurrency=2)
    with pytest.raises(RmbenchError, match="unknown judge option 'temprature'"):
        build_judge("openai:gpt-judge", url="http://127.0.0.1:8000/v1", template=None, temprature=0.5)
    with pytest.raises(RmbenchError, match="only applies to openai"):
        build_judge(str(tiny_lm), url="http://127.0.0.1:8000/v1", mode="pairwise", template=None)


def test_eval_with_a_server_judge_asks_both_orders(server, tmp_path):
    """End to end through the CLI: the scripted judge picks whichever reply says "good", so
    it agrees with itself in both orders and gets every pair right."""
    from typer.testing import CliRunner

    from rmbench.cli import app
    from tests.conftest import write_jsonl

    rows = [{"prompt": f"question {n}", "chosen": f"a good answer {n}", "rejected": f"a weak answer {n}"}
            for n in range(4)]
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    result = CliRunner().invoke(app, ["eval", "--judge", "openai:judge-model", "--judge-url", base_url(server),
                                      "--data", str(data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["score"] == 1.0
    assert record["timing"]["judge_requests"] == 8 and record["timing"]["order_consistency"] == 1.0
    assert len(server.state["seen"]) == 8
    scores = [json.loads(x) for x in (tmp_path / "out" / "scores.jsonl").read_text().splitlines()]
    assert scores[0]["verdicts"] == [[["A", "B"]]] and scores[0]["outcomes"] == [[1.0]]


def test_a_served_judge_under_policy_leaves_the_local_policys_settings_to_it(server, tiny_lm, tmp_path):
    """--dtype and --batch-tokens set how the local policy samples; a served judge must not
    refuse them as if they were its own."""
    from typer.testing import CliRunner

    from rmbench.cli import app
    from tests.conftest import write_jsonl

    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": f"question {n}"} for n in range(2)])
    result = CliRunner().invoke(app, [
        "eval", "--policy", str(tiny_lm), "--baseline-policy", str(tiny_lm), "--data", str(prompts),
        "--judge", "openai:judge-model", "--judge-url", base_url(server), "--max-new-tokens", "4",
        "--dtype", "fp32", "--batch-tokens", "256", "--out", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["config"]["generation"]["batch_tokens"] == 256
    assert record["subsets"]["prompts"]["n"] == 2  # the same checkpoint twice: identical answers, tied unasked


# -- credentials never leave for another host, never reach a message ---------------------------


@pytest.fixture
def elsewhere():
    """A second server on another port: where a redirect points. It records every header."""
    yield from _serve_fake_judge()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_openai_judge_never_follows_a_redirect_with_the_key(server, elsewhere, monkeypatch, status):
    monkeypatch.setenv("RMBENCH_TEST_JUDGE_KEY", "sk-test-secret")
    server.state["elsewhere"] = f"http://127.0.0.1:{elsewhere.server_address[1]}"
    with pytest.raises(RmbenchError) as moved:
        collect(api(server, f"/moved-{status}", retries=2).judge([pair(0, True)]), 1)
    message = str(moved.value)
    assert "\n" not in message and f"HTTP {status}" in message and "does not follow redirects" in message
    assert f"{server.state['elsewhere']}/v1/chat/completions" in message  # the Location, named
    assert "sk-test-secret" not in message
    assert server.state["seen"][0]["auth"] == "Bearer sk-test-secret" and len(server.state["seen"]) == 1
    assert elsewhere.state["seen"] == []  # nothing, and so no Authorization header, arrived there


@pytest.mark.parametrize("prefix, said", [("/echo", "HTTP 401"), ("/echo-busy", "HTTP 503"),
                                          ("/echo-junk", "did not answer with an OpenAI chat completion")])
def test_openai_judge_redacts_a_key_the_server_echoes(server, monkeypatch, prefix, said):
    monkeypatch.setenv("RMBENCH_TEST_JUDGE_KEY", "sk-test-secret")
    with pytest.raises(RmbenchError) as echoed:
        collect(api(server, prefix, retries=1).judge([pair(0, True)]), 1)
    message = str(echoed.value)
    assert said in message and "\n" not in message
    assert server.state["seen"][0]["auth"] == "Bearer sk-test-secret"  # the server did get (and echo) it
    assert "sk-test-secret" not in message
    assert prefix == "/echo-junk" or "Bearer ***" in message  # quoted error text is kept, with the key blanked


def test_openai_judge_keeps_url_credentials_out_of_messages_and_records(server):
    port = server.server_address[1]
    judge = OpenAIJudge("m", url=f"http://user:hunter2@127.0.0.1:{port}/deny/v1", backoff=0.01)
    assert "hunter2" not in json.dumps(judge.describe()) + repr(judge)
    with pytest.raises(RmbenchError) as refused:
        collect(judge.judge([pair(0, True)]), 1)
    assert "hunter2" not in str(refused.value) and f"127.0.0.1:{port}/deny/v1" in str(refused.value)


def test_eval_refuses_flags_a_judge_cannot_use(server, tmp_path):
    from typer.testing import CliRunner

    from rmbench.cli import app
    from tests.conftest import write_jsonl

    data = write_jsonl(tmp_path / "pairs.jsonl", [{"prompt": "q", "chosen": "a good answer", "rejected": "meh"}])
    base = ["eval", "--judge", "openai:judge-model", "--judge-url", base_url(server), "--data", str(data)]
    for extra, said in ((["--batch-tokens", "512"], "--batch-tokens does not apply to the judge openai:judge-model"),
                        (["--ref", "none"], "--ref applies to --reward checkpoints, not to a judge")):
        result = CliRunner().invoke(app, [*base, *extra])
        assert result.exit_code == 2 and said in result.output and "Traceback" not in result.output, result.output
    assert server.state["seen"] == []  # refused before any request
