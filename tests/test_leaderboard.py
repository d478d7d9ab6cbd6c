"""`rmbench leaderboard` on synthetic records whose answers are known: a clearly better model
ranks first, indistinguishable ones share a rank, intervals are where arithmetic says they
should be, the bootstrap is deterministic, and bad or mixed records are refused clearly.

Records are written by the real harness (rmbench.evals.harness.evaluate) and results
writer from scores chosen by the test, so they have exactly the shape `rmbench eval` writes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rmbench.cli import app
from rmbench.data.schema import PreferenceExample
from rmbench.evals.harness import evaluate
from rmbench.evals.suites import Suite, load_suite
from rmbench.leaderboard import build_boards
from rmbench.leaderboard.html import embed_json, to_html
from rmbench.leaderboard.render import to_json
from rmbench.results import build_record, write_results
from rmbench.scoring.engine import EngineResult

runner = CliRunner()
PROMPT = [{"role": "user", "content": "q"}]
XSS = "<script>alert(1)</script>"


def write_record(folder: Path, model: str, examples: list[PreferenceExample], chosen: list[list[float]],
                 rejected: list[list[float]], suite: Suite, *, kind: str = "classifier", data_hash: str = "d1") -> Path:
    """A results.json + scores.jsonl as `rmbench eval --out folder` writes them."""
    scored = EngineResult(chosen=chosen, rejected=rejected, truncated=[0] * len(examples), stats={})
    summary, rows = evaluate(examples, scored, suite, seed=0)
    record = build_record(
        suite={"name": suite.name, "version": suite.version, "manifest": suite.manifest, "score_rule": suite.score},
        data=[{"source": "synthetic.jsonl", "format": "trl", "n": len(examples), "sha256": data_hash}],
        model={"name": model, "kind": kind, "fingerprint": model}, config={"seed": 0}, summary=summary,
        timing={"wall_seconds": 0.0, "examples": len(examples)})
    write_results(folder, record, rows)
    return folder / "results.json"


def pairs(n: int, subset: str = "s") -> list[PreferenceExample]:
    return [PreferenceExample(f"ex-{i:04d}", subset, PROMPT, ["good"], ["bad"]) for i in range(n)]


def pairwise_record(folder: Path, model: str, right: list[bool], suite: Suite | None = None, **kwargs) -> Path:
    """A model that gets example i right exactly when right[i]."""
    examples = pairs(len(right))
    chosen = [[1.0 if ok else 0.0] for ok in right]
    rejected = [[0.0 if ok else 1.0] for ok in right]
    return write_record(folder, model, examples, chosen, rejected, suite or Suite(name="custom"), **kwargs)


N = 200


@pytest.fixture
def three_models(tmp_path) -> Path:
    """strong: 90% right; twin-a and twin-b: 60% right on overlapping but different examples."""
    root = tmp_path / "records"
    pairwise_record(root / "strong", "strong", [i % 10 != 0 for i in range(N)])
    pairwise_record(root / "twin-a", "twin-a", [i < 120 for i in range(N)])
    pairwise_record(root / "twin-b", "twin-b", [i >= 80 for i in range(N)])
    pairwise_record(root / "length", "baseline:length", [i % 3 == 0 for i in range(N)], kind="baseline")
    return root


def invoke(*args):
    return runner.invoke(app, ["leaderboard", *map(str, args)])


def assert_user_error(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.output.strip().startswith("error:"), result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


# --------------------------------------------------------------------------------------
# Ranking and intervals
# --------------------------------------------------------------------------------------


def test_clearly_better_ranks_first_and_indistinguishable_models_tie(three_models):
    (board,) = build_boards([three_models], resamples=500)
    order = [(r.entry.label, r.rank) for r in board.ranked]
    assert order[0] == ("strong", 1)
    ranks = dict(order)
    assert ranks["twin-a"] == ranks["twin-b"] == 2  # 60% vs 60%: shared rank
    assert ranks["baseline:length"] == 4  # 33.5% is clearly below both twins
    assert board.ranked[0].significant_below is True
    assert board.ranked[1].significant_below is False
    assert [r.entry.is_baseline for r in board.ranked] == [False, False, False, True]


def test_ranks_do_not_chain_through_an_indistinguishable_middle(tmp_path):
    """A~B and B~C (B's noise is its own), but A is clearly above C: C must not share A's rank."""
    def right(i: int, model: str) -> bool:
        if i < 200:
            return True  # all right
        if i < 210:
            return model in "AB"  # C's own misses, shared by B
        if i < 220:
            return model == "A"  # C's own misses
        if i < 260:
            return model == "B"  # B-only hits
        if i < 300:
            return model in "AC"  # B-only misses
        return False
    for model in "ABC":
        pairwise_record(tmp_path / model, model, [right(i, model) for i in range(400)])
    (board,) = build_boards([tmp_path], resamples=1000)
    assert [(r.entry.label, r.rank) for r in board.ranked] == [("A", 1), ("B", 1), ("C", 2)]


def test_interval_matches_binomial_arithmetic(three_models):
    (board,) = build_boards([three_models], resamples=2000)
    strong = board.ranked[0].score
    assert strong.value == pytest.approx(0.9)
    # p = 0.9, n = 200: standard error 0.0212, so the 95% interval is about 0.858-0.942.
    assert 0.84 <= strong.low <= 0.875 and 0.925 <= strong.high <= 0.96
    assert board.ranked[0].subsets["s"] == strong  # one subset, mean rule: the same figure


def test_bootstrap_is_seeded_and_deterministic(three_models):
    first = to_json(build_boards([three_models], resamples=300, seed=7))
    again = to_json(build_boards([three_models], resamples=300, seed=7))
    other = to_json(build_boards([three_models], resamples=300, seed=8))
    assert first == again
    assert first != other


def test_identical_models_share_a_rank(tmp_path):
    right = [i % 4 != 0 for i in range(60)]
    pairwise_record(tmp_path / "a", "model-a", right)
    pairwise_record(tmp_path / "b", "model-b", right)
    (board,) = build_boards([tmp_path], resamples=200)
    assert [r.rank for r in board.ranked] == [1, 1]


def test_sections_are_recomputed_with_the_suite_weights(tmp_path):
    manifest = tmp_path / "two.yaml"
    manifest.write_text("name: two\nversion: '3'\nscore: mean\nsources: [{file: x.jsonl}]\n"
                        "sections:\n  Easy: {e1: 1, e2: 3}\n  Hard: {h: 1}\n")
    suite = load_suite(str(manifest))
    examples = pairs(40, "e1") + pairs(40, "e2") + pairs(40, "h")
    for model, skill in (("good", 0.9), ("bad", 0.4)):
        right = [(i % 40) < skill * 40 for i in range(120)]
        write_record(tmp_path / model, model, examples, [[1.0] if ok else [0.0] for ok in right],
                     [[0.0] if ok else [1.0] for ok in right], suite)
    (board,) = build_boards([tmp_path], resamples=300, seed=1)
    assert board.sections == ["Easy", "Hard"]
    good = board.ranked[0]
    assert good.entry.label == "good" and good.rank == 1 and board.ranked[1].rank == 2
    assert good.sections["Easy"].value == pytest.approx(0.9)
    for est in (good.score, *good.sections.values(), *good.subsets.values()):
        assert est.low <= est.value <= est.high


def test_rm_bench_styles_and_pooled_safety(tmp_path):
    suite = load_suite("rm-bench")
    styles = {"styles": ["concise", "detailed_plain", "detailed_markdown"]}
    examples = [PreferenceExample(f"{s}-{i}", s, PROMPT, ["a", "b", "c"], ["x", "y", "z"], styles)
                for s in ("chat", "safety-refuse", "safety-response") for i in range(12)]
    # A style-biased model: prefers longer styles, so plain-beats-fancy cells (hard) fail.
    chosen = [[1.0, 2.0, 3.0] for _ in examples]
    rejected = [[0.5, 1.5, 2.5] if i % 3 else [3.5, 3.5, 3.5] for i in range(len(examples))]
    write_record(tmp_path / "m", "biased", examples, chosen, rejected, suite)
    (board,) = build_boards([tmp_path], resamples=200)
    (ranked,) = board.ranked
    assert board.sections == ["chat", "safety"]
    assert board.extras == ["hard", "normal", "easy"]
    assert ranked.extras["hard"].value < ranked.extras["easy"].value
    record = json.loads((tmp_path / "m" / "results.json").read_text())
    assert ranked.score.value == pytest.approx(record["score"])


def test_rewardbench2_ties_resampled_by_prompt(tmp_path):
    suite = load_suite("rewardbench2")
    examples, chosen, rejected = [], [], []
    for p in range(15):
        examples += [PreferenceExample(f"ref:{p}", "Ties", PROMPT, ["a"], ["x", "y"]),
                     PreferenceExample(f"tied:{p}", "Ties", PROMPT, ["a", "b"], ["x", "y"])]
        good = p % 5 != 0
        chosen += [[2.0 + p / 100], [2.0, 2.1]] if good else [[0.0], [0.0, 2.1]]
        rejected += [[0.0, 0.1], [0.0, 0.2]]
    for i in range(20):
        examples.append(PreferenceExample(f"m{i}", "Math", PROMPT, ["a"], ["x", "y", "z"]))
        chosen.append([1.0 if i % 4 else 0.0])
        rejected.append([0.5, 0.2, 0.1])
    write_record(tmp_path / "m", "rb2-model", examples, chosen, rejected, suite)
    (board,) = build_boards([tmp_path], resamples=200)
    (ranked,) = board.ranked
    assert set(board.sections) == {"Math", "Ties"}
    ties = ranked.subsets["Ties"]
    assert ties.low <= ties.value <= ties.high
    assert ties.high - ties.low > 0  # resampled, not held at its point value


# --------------------------------------------------------------------------------------
# Records from real commands
# --------------------------------------------------------------------------------------


def test_records_written_by_rmbench_eval(tmp_path):
    for reward in ("baseline:length", "baseline:random"):
        result = runner.invoke(app, ["eval", "--reward", reward, "--suite", "demo", "--out",
                                     str(tmp_path / reward.split(":")[1]), "--no-progress"])
        assert result.exit_code == 0, result.output
    result = invoke(tmp_path, "--format", "json", "--resamples", "200")
    assert result.exit_code == 0, result.output
    board = json.loads(result.output)["boards"][0]
    assert board["suite"] == "demo"
    assert {e["label"] for e in board["entries"]} == {"baseline:length", "baseline:random"}
    assert all(e["baseline"] and e["score"]["ci95"][0] is not None for e in board["entries"])


def make_run(root: Path, name: str = "rm-run") -> Path:
    """The folder layout `rmbench train` leaves, with synthetic held-out records."""
    run = root / name
    run.mkdir(parents=True)
    (run / "rmbench-run.json").write_text(json.dumps({"method": "rm"}))
    quality = {"checkpoint-10": 0.6, "checkpoint-20": 0.8, "final": 0.8, "start": 0.5}
    for folder, step in (("checkpoint-10", 10), ("checkpoint-20", 20), ("final", 20)):
        (run / folder).mkdir()
        (run / folder / "rmbench.json").write_text(json.dumps({"method": "rm", "step": step}))
    for folder, q in quality.items():
        model = str(run / folder) if folder != "start" else "base-model"
        pairwise_record(run / "evals" / folder / "heldout", model, [i < q * 100 for i in range(100)],
                        data_hash="heldout")
    pairwise_record(run / "evals" / "baseline-length" / "heldout", "baseline:length",
                    [i % 2 == 0 for i in range(100)], kind="baseline", data_hash="heldout")
    return run


def test_training_run_entries_are_labelled_with_steps(tmp_path):
    make_run(tmp_path)
    (board,) = build_boards([tmp_path], resamples=200)
    entries = {r.entry.label: r.entry for r in board.ranked}
    assert set(entries) == {"rm-run/checkpoint-10", "rm-run/checkpoint-20", "rm-run/final",
                            "rm-run/start (untrained)", "baseline:length (rm-run)"}
    assert entries["rm-run/checkpoint-20"].step == 20 and entries["rm-run/final"].step == 20
    assert entries["rm-run/start (untrained)"].step == 0 and entries["rm-run/start (untrained)"].is_baseline
    assert entries["rm-run/checkpoint-10"].kind == "checkpoint"
    page = to_html([board])
    assert page.count('<svg class="curve"') == 1
    assert "Score versus training step" in page


# --------------------------------------------------------------------------------------
# Output formats
# --------------------------------------------------------------------------------------


def test_formats_md_csv_json_html(three_models, tmp_path):
    md = invoke(three_models, "--format", "md", "--resamples", "200", "--detail")
    assert md.exit_code == 0, md.output
    lines = [line for line in md.output.splitlines() if line.startswith("| ")]
    assert lines[0].startswith("| Rank | Entry | Type | Score | s |")
    assert lines[1].startswith("| 1 | strong | model | 90.0 [")
    assert lines[2].startswith("| 2= | twin-")
    assert "*baseline:length*" in md.output and "paired bootstrap" in md.output

    table = list(csv.DictReader(io.StringIO(invoke(three_models, "--format", "csv", "--resamples", "200").output)))
    assert [row["entry"] for row in table][0] == "strong"
    assert [row["rank"] for row in table] == ["1", "2", "2", "4"]
    assert float(table[0]["score low"]) < float(table[0]["score"]) < float(table[0]["score high"])

    data = json.loads(invoke(three_models, "--format", "json", "--resamples", "200").output)
    assert data["bootstrap"] == {"resamples": 200, "seed": 0, "confidence": 0.95, "unit": "prompt"}
    assert data["boards"][0]["entries"][0]["difference_to_next"]["significant"] is True

    out = tmp_path / "board.html"
    result = invoke(three_models, "--out", out, "--resamples", "200")  # format from the suffix
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table" in page and '<svg class="bars"' in page
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch

    rich = invoke(three_models, "--resamples", "200")
    assert rich.exit_code == 0 and "strong" in rich.output and "significantly better" in rich.output


def test_html_escapes_user_named_strings(tmp_path):
    pairwise_record(tmp_path / "evil", XSS, [True] * 30 + [False] * 10)
    pairwise_record(tmp_path / "quote", 'a"b\'c&d</script><!--', [True] * 20 + [False] * 20)
    page = to_html(build_boards([tmp_path], resamples=200))
    assert XSS not in page and "alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 2  # the data block and the sorting script, nothing else
    embedded = re.search(r'<script type="application/json" id="leaderboard-data">(.*?)</script>', page, re.S)
    labels = [e["label"] for e in json.loads(embedded.group(1))["boards"][0]["entries"]]
    assert labels == [XSS, 'a"b\'c&d</script><!--']
    assert "</" not in embed_json({"x": "</script>"})


def test_markdown_escapes_names(tmp_path):
    pairwise_record(tmp_path / "pipe", "a|b <i>", [True] * 10)
    md = invoke(tmp_path, "--format", "md", "--resamples", "100").output
    assert "a\\|b \\<i\\>" in md


# --------------------------------------------------------------------------------------
# Bad input: one clear line, exit 2
# --------------------------------------------------------------------------------------


def test_mixed_data_versions_are_refused(tmp_path):
    demo = load_suite("demo")
    pairwise_record(tmp_path / "v1", "m1", [True] * 10, suite=demo, data_hash="aaaa")
    pairwise_record(tmp_path / "v2", "m2", [True] * 10, suite=demo, data_hash="bbbb")
    assert_user_error(invoke(tmp_path), "2 different data versions", "aaaa", "bbbb", "--split-versions")
    split = invoke(tmp_path, "--split-versions", "--format", "json", "--resamples", "100")
    assert split.exit_code == 0, split.output
    assert [b["data"] for b in json.loads(split.output)["boards"]] == [["aaaa"], ["bbbb"]]


def test_custom_data_sets_get_separate_boards(tmp_path):
    pairwise_record(tmp_path / "a", "m1", [True] * 10, data_hash="aaaa")
    pairwise_record(tmp_path / "b", "m2", [True] * 10, data_hash="bbbb")
    assert len(build_boards([tmp_path], resamples=100)) == 2


def test_suite_filter(tmp_path):
    pairwise_record(tmp_path / "a", "m1", [True] * 10)
    assert_user_error(invoke(tmp_path, "--suite", "rewardbench"), "no records of suite 'rewardbench'", "custom")


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "results.json").write_text("{not json"), "not valid JSON"),
    (lambda d: (d / "results.json").write_text('{"hello": 1}'), "not an rmbench results record"),
    (lambda d: (d / "scores.jsonl").unlink(), "no scores.jsonl beside it"),
    (lambda d: (d / "scores.jsonl").write_text(
        "".join((d / "scores.jsonl").read_text().splitlines(True)[:-1])), "rows for subset 's' but"),
    (lambda d: (d / "scores.jsonl").write_text(
        (d / "scores.jsonl").read_text().replace('"correct": 1.0', '"correct": 2', 1)), "number from 0 to 1"),
    (lambda d: (d / "scores.jsonl").write_text(
        (d / "scores.jsonl").read_text().replace('"correct": 1.0', '"correct": 0.0', 3)), "scores.jsonl, line 1"),
    (lambda d: (d / "results.json").write_text(
        (d / "results.json").read_text().replace('"sha256": "d1"', '"sha256": null')), "no content hash"),
])
def test_malformed_records_give_clear_errors(tmp_path, damage, message):
    folder = tmp_path / "m"
    pairwise_record(folder, "m", [i % 2 == 0 for i in range(20)])
    damage(folder)
    assert_user_error(invoke(folder), message, str(folder))


def test_paths_and_options_are_checked(tmp_path):
    assert_user_error(invoke(tmp_path / "nope"), "no such file or folder")
    (tmp_path / "empty").mkdir()
    assert_user_error(invoke(tmp_path / "empty"), "no results.json under this folder")
    pairwise_record(tmp_path / "m", "m", [True] * 5)
    assert_user_error(invoke(tmp_path / "m", "--format", "pdf"), "--format 'pdf'")
    assert_user_error(invoke(tmp_path / "m", "--resamples", "10"), "--resamples", "100")


def test_suite_manifest_that_is_gone(tmp_path):
    manifest = tmp_path / "mine.yaml"
    manifest.write_text("name: mine\nversion: '1'\nsources: [{file: x.jsonl}]\n")
    pairwise_record(tmp_path / "m", "m", [True] * 5, suite=load_suite(str(manifest)))
    manifest.unlink()
    assert_user_error(invoke(tmp_path / "m"), "suite 'mine'", "put the manifest back")


def test_same_data_hash_but_different_examples_is_refused(tmp_path):
    pairwise_record(tmp_path / "a", "m1", [True] * 10)
    pairwise_record(tmp_path / "b", "m2", [True] * 10)
    rows = (tmp_path / "b" / "scores.jsonl").read_text().replace("ex-0000", "other")
    (tmp_path / "b" / "scores.jsonl").write_text(rows)
    assert_user_error(invoke(tmp_path), "hold different examples")


def test_untrained_heads_are_baselines_and_unjudged_policies_are_skipped(three_models):
    record_path = three_models / "twin-a" / "results.json"
    record = json.loads(record_path.read_text())
    record["model"]["random_head"] = True
    record_path.write_text(json.dumps(record))
    policy = three_models / "sft-final"
    pairwise_record(policy, "sft/final", [True] * N)
    unjudged = json.loads((policy / "results.json").read_text())
    unjudged["suite"]["name"], unjudged["score"] = "policy", None
    (policy / "results.json").write_text(json.dumps(unjudged))
    result = invoke(three_models, "--format", "json", "--resamples", "100")
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "sft-final" in result.output
    board = json.loads(result.output[result.output.index("{"):])["boards"][0]
    labels = {e["label"]: e["baseline"] for e in board["entries"]}
    assert labels["twin-a (untrained head)"] is True and labels["strong"] is False
    assert "sft/final" not in labels


def test_csv_cells_cannot_become_spreadsheet_formulas(tmp_path):
    evil_hash, evil_version = "=cmd|' /C calc'!A0", "@SUM(1+1)"
    pairwise_record(tmp_path / "evil", '=HYPERLINK("http://x","y")', [True, False] * 10, data_hash=evil_hash,
                    suite=Suite(name="custom", version=evil_version))
    output = invoke(tmp_path, "--format", "csv", "--resamples", "100").output
    table = list(csv.DictReader(io.StringIO(output)))
    assert table[0]["entry"] == '\'=HYPERLINK("http://x","y")'
    assert table[0]["data"] == "'" + evil_hash and table[0]["version"] == "'" + evil_version
    for row in csv.reader(io.StringIO(output)):
        assert not any(cell[:1] in ("=", "+", "@") for cell in row), row
        assert all(cell[:1] != "-" or float(cell) <= 0 for cell in row), row  # only numbers may start with -


# --------------------------------------------------------------------------------------
# Trust: every line's `correct` follows from its own scores; inputs are never overwritten
# --------------------------------------------------------------------------------------


def _forge(folder: Path, flip: int) -> None:
    """What a consistent hand edit looks like: `flip` wrong answers marked correct in
    scores.jsonl, and results.json's accuracy and score raised to match."""
    lines = (folder / "scores.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    wrong = [row for row in rows if row["correct"] == 0.0][:flip]
    for row in wrong:
        row["correct"] = 1.0
    (folder / "scores.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    record = json.loads((folder / "results.json").read_text())
    accuracy = sum(row["correct"] for row in rows) / len(rows)
    record["subsets"]["s"]["accuracy"] = record["score"] = accuracy
    (folder / "results.json").write_text(json.dumps(record))


def test_a_forged_gain_is_refused_at_its_line(three_models):
    forged = three_models / "twin-b"
    _forge(forged, flip=80)  # 60% -> 100%: a 40-point gain, both files edited consistently
    first_wrong = 1  # twin-b gets examples 0..79 wrong, written in order: line 1 is the first forged one
    result = invoke(three_models, "--resamples", "100")
    assert_user_error(result, f"{forged / 'scores.jsonl'}, line {first_wrong}: correct is 1.0",
                      "the scores on this line give 0")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("metric_case", ["best_of_n", "rm_bench", "rb2_ties"])
def test_every_metric_rechecks_correct_from_the_scores(tmp_path, metric_case):
    styles = {"styles": ["concise", "detailed_plain", "detailed_markdown"]}
    if metric_case == "best_of_n":
        suite, examples = Suite(name="custom"), [PreferenceExample(f"b{i}", "s", PROMPT, ["a"], ["x", "y"])
                                                 for i in range(6)]
        chosen, rejected = [[0.0]] * 6, [[1.0, -1.0]] * 6
    elif metric_case == "rm_bench":
        suite = load_suite("rm-bench")
        examples = [PreferenceExample(f"c{i}", "chat", PROMPT, ["a", "b", "c"], ["x", "y", "z"], styles)
                    for i in range(6)]
        chosen, rejected = [[0.0, 0.0, 0.0]] * 6, [[1.0, 1.0, 1.0]] * 6
    else:
        suite = load_suite("rewardbench2")
        examples = [PreferenceExample(f"{k}:{p}", "Ties", PROMPT, ["a"] if k == "ref" else ["a", "b"], ["x"])
                    for p in range(4) for k in ("ref", "tied")]
        chosen = [[0.0] if e.id.startswith("ref") else [0.0, 0.1] for e in examples]
        rejected = [[1.0]] * len(examples)
    write_record(tmp_path / "m", "m", examples, chosen, rejected, suite)
    assert build_boards([tmp_path], resamples=100)  # as written: accepted
    scores = tmp_path / "m" / "scores.jsonl"
    scores.write_text(scores.read_text().replace('"correct": 0.0', '"correct": 1.0', 1))
    assert_user_error(invoke(tmp_path), f"{scores}, line 1: correct is 1.0", f"({metric_case})")


def test_judged_rows_are_rechecked_from_their_verdicts(tmp_path):
    examples = pairs(4)
    verdicts = [[[["A", "B"]]], [[["B", "A"]]], [[["A", "A"]]], [[["B", "A"]]]]
    outcomes = [[[1.0]], [[0.0]], [[0.5]], [[0.0]]]
    scored = EngineResult([[]] * 4, [[]] * 4, [0] * 4, {}, outcomes=outcomes, verdicts=verdicts)
    summary, rows = evaluate(examples, scored, Suite(name="custom"), seed=0)
    record = build_record(suite={"name": "custom", "version": "1", "manifest": None, "score_rule": "mean"},
                          data=[{"source": "x.jsonl", "sha256": "d1"}], model={"name": "judge", "kind": "judge"},
                          config={}, summary=summary, timing={})
    write_results(tmp_path / "j", record, rows)
    assert build_boards([tmp_path], resamples=100)[0].ranked[0].score.value == pytest.approx(0.375)
    scores = tmp_path / "j" / "scores.jsonl"
    lines = scores.read_text().splitlines()
    forged = json.loads(lines[1]) | {"outcomes": [[1.0]], "correct": 1.0}  # outcome no verdict supports
    scores.write_text("\n".join([lines[0], json.dumps(forged), *lines[2:]]) + "\n")
    assert_user_error(invoke(tmp_path), f"{scores}, line 2", "do not follow from verdicts")


def test_a_repeated_id_is_refused_not_counted_twice(tmp_path):
    folder = tmp_path / "m"
    pairwise_record(folder, "m", [True] * 5 + [False] * 5)
    scores = folder / "scores.jsonl"
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join(lines[:-1] + [lines[0]]) + "\n")  # same count, one example twice
    assert_user_error(invoke(folder), f"{scores}, line 10", "'ex-0000'", "repeats line 1")


def test_a_policy_row_is_rechecked_from_its_rewards(tmp_path):
    folder = tmp_path / "p"
    pairwise_record(folder, "policy", [True] * 4)
    record = json.loads((folder / "results.json").read_text())
    record["suite"] = {"name": "policy", "version": "1", "manifest": None, "score_rule": "win_rate"}
    record["subsets"]["s"]["metric"] = "win_rate"
    (folder / "results.json").write_text(json.dumps(record))
    rows = [{"id": f"p{i}", "subset": "s", "completion": "x", "baseline_completion": "y",
             "reward": 2.0, "baseline_reward": 1.0, "correct": 1.0} for i in range(4)]
    rows[2]["reward"] = 0.5  # the policy lost this prompt, yet the row says it won
    (folder / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert_user_error(invoke(folder), f"{folder / 'scores.jsonl'}, line 3: correct is 1.0", "(win_rate)")


@pytest.mark.parametrize("target", ["results.json", "scores.jsonl"])
def test_out_never_overwrites_an_input(three_models, target):
    victim = three_models / "strong" / target
    before = victim.read_bytes()
    assert_user_error(invoke(three_models, "--out", victim, "--format", "md", "--resamples", "100"),
                      "an input of this leaderboard")
    sneaky = three_models / "strong" / ".." / "strong" / target
    assert_user_error(invoke(three_models, "--out", sneaky, "--resamples", "100"), "an input of this leaderboard")
    assert victim.read_bytes() == before
    assert_user_error(invoke(three_models, "--out", three_models, "--resamples", "100"), "is a folder")
    fine = invoke(three_models, "--out", three_models / "strong" / "board.md", "--resamples", "100")
    assert fine.exit_code == 0, fine.output


def test_a_partial_run_gets_its_own_board_titled_with_what_it_covered(tmp_path):
    """A run over part of the data never ranks beside, or reads as, the whole set."""
    from rmbench.evals.run import EvalRequest, run_eval

    data = tmp_path / "data" / "pairs.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "chosen": "a" * (i + 2), "rejected": "b"}) + "\n"
                            for i in range(8)))
    for name, limit in (("whole", None), ("part", 3)):
        run_eval(EvalRequest(reward="baseline:length", data=[str(data)], limit=limit, out=tmp_path / "runs" / name,
                             show_progress=False))
    assert json.loads((tmp_path / "runs" / "part" / "results.json").read_text())["partial"] is True
    boards = build_boards([tmp_path / "runs"], split_versions=True)
    assert len(boards) == 2
    (partial,) = [b for b in boards if b.group.partial_label]
    assert "partial" in partial.group.title and "--limit 3" in partial.group.title
    assert [e.label for e in partial.group.entries] == ["baseline:length"]
    assert sorted(board["partial"] for board in json.loads(to_json(boards))["boards"]) == [False, True]
