"""Reward models on servers (vLLM / SGLang protocols), against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.errors import RmbenchError
from rmbench.scoring import formatting
from rmbench.scoring.base import Item
from rmbench.scoring.remote import RemoteRewardScorer
from tests.conftest import PAIRS, write_jsonl
from tests.servers import ScriptedServer, scripted_reward

runner = CliRunner()
MORE_PAIRS = PAIRS + [{"prompt": f"question number {n}?", "chosen": f"answer {n} is here", "rejected": f"no {n}"}
                      for n in range(8)]


def run(*args):
    return runner.invoke(app, ["eval", *args])


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "pairs.jsonl", MORE_PAIRS)


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]


def expected_ids(tokenizer_folder: Path) -> dict[str, list[int]]:
    """What the local classifier path would feed the model, per completion."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    items = [Item([{"role": "user", "content": p["prompt"]}], p[side]) for p in MORE_PAIRS
             for side in ("chosen", "rejected")]
    ids = formatting.tokenize_conversations(tokenizer, "tokenizer", [(i.prompt, i.completion) for i in items])
    return {i.completion: row for i, row in zip(items, ids)}


def test_vllm_requests_carry_template_formatted_ids_and_scores_land_in_the_record(tiny_rm, pairs_file, tmp_path):
    out = tmp_path / "out"
    with ScriptedServer("vllm", "org/tiny-rm") as server:
        result = run("--reward", f"vllm:{server.url}", "--tokenizer", str(tiny_rm), "--data", str(pairs_file),
                     "--out", str(out), "--no-progress")
        assert result.exit_code == 0, result.output
        bodies = server.posted()
    for body in bodies:  # vLLM's ClassificationCompletionRequest with token ids, raw logits asked for
        assert set(body) == {"model", "input", "use_activation"}
        assert body["model"] == "org/tiny-rm" and body["use_activation"] is False
        assert all(isinstance(row, list) and all(isinstance(t, int) for t in row) for row in body["input"])
    sent = [row for body in bodies for row in body["input"]]
    ids = expected_ids(tiny_rm)
    assert all(row in sent for row in ids.values())  # every completion went out exactly as templated locally
    for pair, row in zip(MORE_PAIRS, rows_of(out)):
        assert row["chosen_scores"] == [scripted_reward(ids[pair["chosen"]])]
        assert row["rejected_scores"] == [scripted_reward(ids[pair["rejected"]])]
    record = json.loads((out / "results.json").read_text())
    assert record["model"]["name"] == "org/tiny-rm"
    assert record["model"]["backend"] == "vllm" and record["model"]["urls"] == [server.url]
    assert len(record["model"]["probe_scores"]) == 3


def test_sglang_classify_takes_input_ids_and_a_two_label_head_gives_log_odds(tiny_rm):
    with ScriptedServer("sglang", "tiny-rm", labels=2) as server:
        scorer = RemoteRewardScorer("sglang", server.url, tokenizer=str(tiny_rm))
        items = [Item([{"role": "user", "content": "hi"}], text) for text in ("four.", "five.", "the sea")]
        batches = list(scorer.score(items))
        bodies = server.posted()
    assert all(set(b) == {"model", "input_ids"} and b["model"] == "tiny-rm" for b in bodies)
    scores = {i: s for b in batches for i, s in zip(b.indices, b.scores)}
    ids = formatting.tokenize_conversations(scorer.tokenizer, "tokenizer", [(i.prompt, i.completion) for i in items])
    assert scores == {n: scripted_reward(row) for n, row in enumerate(ids)}  # [0, r] -> r - 0


def test_concurrency_is_bounded_per_server_and_every_server_gets_work(tiny_rm):
    items = [Item([{"role": "user", "content": f"q {n}"}], f"answer {n}") for n in range(24)]
    with ScriptedServer(delay=0.05) as one, ScriptedServer(delay=0.05) as two:
        scorer = RemoteRewardScorer("vllm", f"{one.url},{two.url}", tokenizer=str(tiny_rm), concurrency=2,
                                    request_rows=1)
        scored = sorted(i for batch in scorer.score(items) for i in batch.indices)
        assert scored == list(range(24))
        assert one.max_inflight <= 2 and two.max_inflight <= 2
        assert max(one.max_inflight, two.max_inflight) == 2  # the bound is reached, so it is what limits
        # one probe request each, then the 24 items shared between them
        assert len(one.posted()) > 1 and len(two.posted()) > 1
        assert len(one.posted()) + len(two.posted()) == 24 + 2


def test_503_is_retried_with_the_servers_retry_after_then_succeeds(tiny_rm, pairs_file, tmp_path):
    def flaky(number, path):  # the probe passes; the next two requests get 503
        if number in (2, 3):
            return 503, {"error": {"message": "overloaded"}}, {"Retry-After": "0"}
    with ScriptedServer(fail=flaky) as server:
        result = run("--reward", f"vllm:{server.url}", "--tokenizer", str(tiny_rm), "--data", str(pairs_file),
                     "--out", str(tmp_path / "out"), "--no-progress")
        assert result.exit_code == 0, result.output
        assert server.posts == 4  # the probe, two 503s, then the one batch again
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert record["model"]["retried"] == 2


def test_connection_errors_retry_with_backoff_then_give_up_in_one_line(tiny_rm):
    with ScriptedServer() as server:
        scorer = RemoteRewardScorer("vllm", server.url, tokenizer=str(tiny_rm), retries=2, backoff=0.01)
    # the server is gone now: every attempt is refused
    with pytest.raises(RmbenchError, match=r"cannot reach the vllm reward server .* after 3 attempts"):
        list(scorer.score([Item([{"role": "user", "content": "hi"}], "yo")]))


def test_a_4xx_is_one_line_with_the_servers_reason_and_no_secret(tiny_rm, pairs_file, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")

    def refuse(number, path):
        if number > 1:
            return 400, {"error": {"message": "bad request, key sk-test-secret-123 Bearer sk-test-secret-123"}}
    with ScriptedServer(fail=refuse) as server:
        result = run("--reward", f"vllm:{server.url}", "--tokenizer", str(tiny_rm), "--data", str(pairs_file),
                     "--no-progress")
        headers = server.requests[-1][2]
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "HTTP 400" in lines[0] and "bad request" in lines[0]
    assert "sk-test-secret-123" not in result.output and "Traceback" not in result.output
    assert headers["Authorization"] == "Bearer sk-test-secret-123"  # sent to the server it was meant for


def test_redirects_are_refused_not_followed(tiny_rm, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    with ScriptedServer() as target, ScriptedServer(fail=lambda n, p: (307, {}, {"Location": target.url})) as hop:
        scorer = RemoteRewardScorer("vllm", target.url, tokenizer=str(tiny_rm))
        scorer.servers[0].url = hop.url  # the same model, now behind a server that redirects
        with pytest.raises(RmbenchError, match="does not follow redirects") as err:
            list(scorer.score([Item([{"role": "user", "content": "hi"}], "yo")]))
        assert len(target.posted()) == 1  # the probe only: the redirect led nowhere
    assert "sk-test-secret-123" not in str(err.value)


def test_an_interrupted_run_resumes_from_the_cache(tiny_rm, pairs_file, tmp_path):
    out = tmp_path / "out"
    base = ["--tokenizer", str(tiny_rm), "--data", str(pairs_file), "--no-progress", "--batch-tokens", "60",
            "--concurrency", "1"]
    args = [*base, "--out", str(out)]

    def dies_after_two(number, path):  # the probe + 2 batches, then the server fails for good
        if number > 3:
            return 400, {"error": {"message": "server is shutting down"}}
    with ScriptedServer(fail=dies_after_two) as dying:
        first = run("--reward", f"vllm:{dying.url}", *args)
    assert first.exit_code == 2 and "HTTP 400" in first.output
    cached = (out / ".cache").glob("scores-*.jsonl")
    done = sum(len(p.read_text().splitlines()) for p in cached)
    assert done > 0
    with ScriptedServer() as healthy:
        second = run("--reward", f"vllm:{healthy.url}", *args)
        assert second.exit_code == 0, second.output
        resent = sum(len(b["input"]) for b in healthy.posted()[1:])  # after the probe
    unique = 2 * len(MORE_PAIRS)
    assert resent == unique - done  # only what the first run had not finished
    with ScriptedServer() as fresh:
        assert run("--reward", f"vllm:{fresh.url}", *base, "--out", str(tmp_path / "fresh")).exit_code == 0
    assert rows_of(out) == rows_of(tmp_path / "fresh")


def test_servers_that_disagree_are_refused(tiny_rm):
    with ScriptedServer(model="a") as one, ScriptedServer(model="b") as two:
        with pytest.raises(RmbenchError, match="serve different models"):
            RemoteRewardScorer("vllm", [one.url, two.url], tokenizer=str(tiny_rm))
    with ScriptedServer() as one, ScriptedServer(score=lambda ids: 1.0 + scripted_reward(ids)) as two:
        with pytest.raises(RmbenchError, match="different scores to the same probe"):
            RemoteRewardScorer("vllm", [one.url, two.url], tokenizer=str(tiny_rm))


def test_served_scores_match_local_scoring_of_the_same_model(tiny_rm, pairs_file, tmp_path):
    """A server running the very model gives the local path's decisions and (fp32) its scores."""
    from rmbench.scoring.classifier import ClassifierScorer

    model = ClassifierScorer(str(tiny_rm), dtype="fp32", device="cpu")
    local = run("--reward", str(tiny_rm), "--data", str(pairs_file), "--out", str(tmp_path / "local"),
                "--dtype", "fp32", "--no-progress")
    assert local.exit_code == 0, local.output
    with ScriptedServer(model=str(tiny_rm), score=lambda ids: model.forward([ids])[0]) as server:
        served = run("--reward", f"vllm:{server.url}", "--data", str(pairs_file), "--out", str(tmp_path / "served"),
                     "--no-progress", "--concurrency", "1")  # tokenizer: the served model's name, a folder here
        assert served.exit_code == 0, served.output
    for a, b in zip(rows_of(tmp_path / "local"), rows_of(tmp_path / "served")):
        assert a["correct"] == b["correct"]
        assert a["chosen_scores"] == pytest.approx(b["chosen_scores"], abs=1e-5)
        assert a["rejected_scores"] == pytest.approx(b["rejected_scores"], abs=1e-5)


@pytest.mark.parametrize("args, fragment", [
    (["--reward", "http://127.0.0.1:9"], "--engine vllm or --engine sglang"),
    (["--reward", "baseline:length", "--engine", "vllm"], "--engine applies to reward servers"),
    (["--reward", "baseline:length", "--tokenizer", "x"], "--tokenizer applies to reward servers"),
    (["--reward", "vllm:ftp://host"], "is not an http(s) url"),
    (["--reward", "vllm:http://127.0.0.1:9", "--engine", "sglang"], "disagree"),
    (["--reward", "vllm:http://127.0.0.1:9", "--ref", "none"], "apply to local checkpoints"),
    (["--reward", "http://127.0.0.1:9", "--engine", "tgi"], "unknown --engine"),
])
def test_server_spec_mistakes_are_one_line(pairs_file, args, fragment):
    result = run(*args, "--data", str(pairs_file), "--no-progress")
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
