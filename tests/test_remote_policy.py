"""Policies sampled on OpenAI-compatible servers, against scripted servers on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.evals.generation import prompt_key
from rmbench.evals.remote_generation import request_seed
from tests.conftest import write_jsonl
from tests.servers import ScriptedServer

runner = CliRunner()
PROMPTS = [{"prompt": "what is two plus two?"}, {"prompt": "write a short poem about the sea"},
           {"prompt": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the capital?"}]},
           {"prompt": "please help"}, {"prompt": "the quick brown fox"}, {"prompt": "what is two plus two?"}]


def messages(prompt) -> list[dict]:
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def answer(path: str, body: dict) -> dict:
    """A deterministic 'model': the text depends on the prompt and the request's seed only."""
    asked = body["prompt"] if path == "/v1/completions" else body["messages"][-1]["content"]
    words = min(body["max_tokens"], 3 + body["seed"] % 5)
    text = " ".join(["word"] * words) + f" ({len(asked)}:{body['seed'] % 1000})"
    finish = "length" if words == body["max_tokens"] else "stop"
    choice = {"index": 0, "finish_reason": finish}
    choice |= {"text": text} if path == "/v1/completions" else {"message": {"role": "assistant", "content": text}}
    return {"id": "x", "object": "chat.completion", "model": body["model"], "choices": [choice],
            "usage": {"prompt_tokens": 7, "completion_tokens": words + (finish == "stop"), "total_tokens": 0}}


@pytest.fixture
def prompts_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)


def run(*args):
    return runner.invoke(app, ["eval", *args])


def rows_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]


def test_chat_requests_carry_the_prompt_settings_and_a_per_prompt_seed(prompts_file, tmp_path):
    out = tmp_path / "out"
    with ScriptedServer(model="org/policy", complete=answer) as server:
        result = run("--policy", "openai:org/policy", "--policy-url", server.url, "--data", str(prompts_file),
                     "--judge-rm", "baseline:length", "--max-new-tokens", "6", "--temperature", "0.7",
                     "--top-p", "0.9", "--seed", "3", "--out", str(out), "--no-progress")
        assert result.exit_code == 0, result.output
        bodies = server.posted("/v1/chat/completions")
    assert len(bodies) == 5  # the repeated prompt is asked once
    for body in bodies:
        assert body["model"] == "org/policy" and body["max_tokens"] == 6 and body["n"] == 1
        assert body["temperature"] == 0.7 and body["top_p"] == 0.9
        assert body["top_k"] == -1 and body["min_p"] == 0.0 and body["repetition_penalty"] == 1.0
        assert body["seed"] == request_seed(3, prompt_key(body["messages"]))
    asked = sorted(json.dumps(b["messages"]) for b in bodies)
    assert asked == sorted({json.dumps(messages(p["prompt"])) for p in PROMPTS})
    rows = rows_of(out)
    for row in rows:
        body = next(b for b in bodies if b["messages"] == row["prompt"])
        expected = answer("/v1/chat/completions", body)
        assert row["completion"] == expected["choices"][0]["message"]["content"]
        assert row["hit_max"] == (expected["choices"][0]["finish_reason"] == "length")
        assert row["tokens"] == len(row["completion"].split()) - 1  # the server's count, stop token left out
        assert row["reward"] == len(row["completion"])  # baseline:length judged it
    record = json.loads((out / "results.json").read_text())
    assert record["model"]["name"] == "org/policy" and record["model"]["urls"] == [server.url]
    assert record["config"]["generation"]["seed"] == 3


def test_several_servers_share_the_prompts_and_give_the_same_completions(prompts_file, tmp_path):
    with ScriptedServer(model="p", complete=answer, delay=0.05) as one, \
            ScriptedServer(model="p", complete=answer, delay=0.05) as two:
        spread = run("--policy", "openai:p", "--policy-url", f"{one.url},{two.url}", "--data", str(prompts_file),
                     "--concurrency", "1", "--out", str(tmp_path / "two"), "--no-progress")
        assert spread.exit_code == 0, spread.output
        assert one.posted("/v1/chat/completions") and two.posted("/v1/chat/completions")
    with ScriptedServer(model="p", complete=answer) as alone:
        single = run("--policy", "openai:p", "--policy-url", alone.url, "--data", str(prompts_file),
                     "--out", str(tmp_path / "one"), "--no-progress")
        assert single.exit_code == 0, single.output
    assert [r["completion"] for r in rows_of(tmp_path / "two")] == [r["completion"] for r in rows_of(tmp_path / "one")]
    with ScriptedServer(model="p", complete=answer) as again:
        other_seed = run("--policy", "openai:p", "--policy-url", again.url, "--data", str(prompts_file),
                         "--seed", "1", "--out", str(tmp_path / "seed1"), "--no-progress")
        assert other_seed.exit_code == 0, other_seed.output
    completions = [r["completion"] for r in rows_of(tmp_path / "one")]
    assert [r["completion"] for r in rows_of(tmp_path / "seed1")] != completions


def test_an_interrupted_generation_resumes_from_the_cache(prompts_file, tmp_path):
    out = tmp_path / "out"
    args = ["--policy", "openai:p", "--data", str(prompts_file), "--concurrency", "1", "--no-progress"]

    def dies(number, path):
        if number > 2:
            return 400, {"error": {"message": "shutting down"}}
    with ScriptedServer(model="p", complete=answer, fail=dies) as dying:
        first = run(*args, "--policy-url", dying.url, "--out", str(out))
    assert first.exit_code == 2 and "HTTP 400" in first.output
    with ScriptedServer(model="p", complete=answer) as healthy:
        second = run(*args, "--policy-url", healthy.url, "--out", str(out))
        assert second.exit_code == 0, second.output
        assert len(healthy.posted("/v1/chat/completions")) == 5 - 2  # only what was not answered before
    with ScriptedServer(model="p", complete=answer) as fresh:
        assert run(*args, "--policy-url", fresh.url, "--out", str(tmp_path / "fresh")).exit_code == 0
    assert [r["completion"] for r in rows_of(out)] == [r["completion"] for r in rows_of(tmp_path / "fresh")]


def test_raw_template_uses_plain_completions(prompts_file, tmp_path):
    with ScriptedServer(model="p", complete=answer) as server:  # a /v1 url, as OpenAI clients take, works too
        result = run("--policy", "openai:p", "--policy-url", server.url + "/v1/", "--data", str(prompts_file),
                     "--chat-template", "raw", "--limit", "2", "--out", str(tmp_path / "raw"), "--no-progress")
        assert result.exit_code == 0, result.output
        bodies = server.posted("/v1/completions")
    assert sorted(b["prompt"] for b in bodies) == ["what is two plus two?\n\n", "write a short poem about the sea\n\n"]
    assert all("messages" not in b for b in bodies)


@pytest.mark.parametrize("extra, fragment", [
    (["--policy", "openai:p"], "pass --policy-url"),
    (["--policy", "openai:missing", "--policy-url", "URL"], "does not serve 'missing'"),
    (["--policy", "openai:p", "--policy-url", "URL", "--ref", "openai:p"], "KL to --ref"),
    (["--policy", "openai:p", "--policy-url", "URL", "--dtype", "bf16"], "--dtype does not apply"),
    (["--policy", "LOCAL", "--policy-url", "URL"], "--policy-url applies to served policies"),
    (["--reward", "baseline:length", "--policy-url", "URL"], "--policy-url applies to policy evaluation"),
])
def test_served_policy_mistakes_are_one_line(prompts_file, tiny_lm, extra, fragment):
    with ScriptedServer(model="p", complete=answer) as server:
        extra = [server.url if v == "URL" else str(tiny_lm) if v == "LOCAL" else v for v in extra]
        result = run(*extra, "--data", str(prompts_file), "--no-progress")
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output


def test_a_served_policy_judged_by_a_served_reward_model(prompts_file, tiny_rm, tmp_path):
    out = tmp_path / "out"
    with ScriptedServer(model="p", complete=answer) as policy, ScriptedServer("sglang", "rm") as rm:
        result = run("--policy", "openai:p", "--policy-url", policy.url, "--data", str(prompts_file),
                     "--judge-rm", f"sglang:{rm.url}", "--tokenizer", str(tiny_rm), "--out", str(out), "--no-progress")
        assert result.exit_code == 0, result.output
        scored = [row for body in rm.posted()[1:] for row in body["input_ids"]]  # after the probe
    assert len(scored) == 5  # each unique completion once
    record = json.loads((out / "results.json").read_text())
    assert record["model"]["judge"]["name"] == "rm" and record["model"]["judge"]["backend"] == "sglang"
    assert all(isinstance(row["reward"], float) for row in rows_of(out))
