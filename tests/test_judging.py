"""Position-swap logic of the pairwise judge harness, with scripted in-process judges."""

from __future__ import annotations

import pytest

from rmbench.data.schema import PreferenceExample
from rmbench.errors import RmbenchError
from rmbench.evals.harness import evaluate
from rmbench.evals.suites import Suite
from rmbench.scoring import build_scorer
from rmbench.scoring.engine import run_examples
from rmbench.scoring.judge import Verdict
from rmbench.scoring.judging import comparison_outcome, judge_examples

PROMPT = [{"role": "user", "content": "q"}]


class Scripted:
    name, kind, mode, output = "scripted", "judge", "pairwise", "outcomes"

    def __init__(self, decide):
        self.decide = decide
        self.calls = 0

    def fingerprint(self):
        return "scripted"

    def describe(self):
        return {"name": self.name, "kind": self.kind}

    def judge(self, requests):
        self.calls += len(requests)
        yield list(range(len(requests))), [Verdict(self.decide(r), "scripted") for r in requests]


@pytest.mark.parametrize("forward,reverse,expected", [
    ("A", "B", 1.0), ("B", "A", 0.0), ("A", "A", 0.5), ("B", "B", 0.5), ("tie", "B", 0.5), (None, "B", 0.5),
])
def test_a_win_needs_both_orders(forward, reverse, expected):
    assert comparison_outcome(forward, reverse) == expected


def examples():
    return [PreferenceExample("1", "s", PROMPT, ["good one"], ["bad one"]),
            PreferenceExample("2", "s", PROMPT, ["good two"], ["bad two"])]


def test_a_fair_judge_wins_and_is_consistent():
    judge = Scripted(lambda r: "A" if "good" in r.answer_a else "B")
    scored = judge_examples(examples(), judge, show_progress=False)
    assert judge.calls == 4  # two orders per comparison
    assert scored.outcomes == [[[1.0]], [[1.0]]]
    assert scored.stats["order_consistency"] == 1.0
    summary, rows = evaluate(examples(), scored, Suite("custom"))
    assert summary["score"] == 1.0 and rows[0]["verdicts"] == [[["A", "B"]]]


def test_a_judge_that_always_picks_the_first_answer_scores_half():
    scored = judge_examples(examples(), Scripted(lambda r: "A"), show_progress=False)
    assert scored.outcomes == [[[0.5]], [[0.5]]]
    assert scored.stats["order_consistency"] == 0.0
    summary, _ = evaluate(examples(), scored, Suite("custom"))
    assert summary["score"] == 0.5 and summary["ties"] == 2


def test_unparseable_verdicts_are_counted_and_cached(tmp_path):
    judge = Scripted(lambda r: None if "two" in r.answer_a else ("A" if "good" in r.answer_a else "B"))
    scored = judge_examples(examples(), judge, cache_dir=tmp_path, show_progress=False)
    assert scored.stats["unparsed_verdicts"] == 2
    again = Scripted(lambda r: "A")
    rerun = judge_examples(examples(), again, cache_dir=tmp_path, show_progress=False)
    assert again.calls == 0 and rerun.outcomes == scored.outcomes


def test_rm_bench_matrix_from_judged_outcomes():
    ex = [PreferenceExample("1", "chat", PROMPT, ["c0", "c1", "c2"], ["r0", "r1", "r2"],
                            {"styles": ["concise", "detailed_plain", "detailed_markdown"]})]
    # the judge prefers the longer-styled answer: wins only where chosen style >= rejected style
    judge = Scripted(lambda r: "A" if r.answer_a[1] >= r.answer_b[1] and r.answer_a[0] == "c"
                     else ("B" if r.answer_b[0] == "c" and r.answer_b[1] >= r.answer_a[1] else
                           ("A" if r.answer_a[1] > r.answer_b[1] else "B")))
    summary, _ = evaluate(ex, judge_examples(ex, judge, show_progress=False), Suite("custom"))
    chat = summary["subsets"]["chat"]
    assert chat["metric"] == "rm_bench"
    assert chat["normal"] == 1.0 and chat["easy"] == 1.0 and chat["hard"] == 0.0


def test_one_runner_decides_scores_or_outcomes():
    """run_examples is the only branch: a pairwise judge gets both orders and gives outcomes,
    a scorer gives a number per completion; callers never look at kind or mode."""
    judged = run_examples(examples(), Scripted(lambda r: "A" if "good" in r.answer_a else "B"), show_progress=False)
    assert judged.outcomes == [[[1.0]], [[1.0]]] and judged.stats["judge_requests"] == 4
    scored = run_examples(examples(), build_scorer("baseline:length"), show_progress=False)
    assert scored.outcomes is None and scored.chosen == [[8.0], [8.0]] and scored.stats["unique_completions"] == 4


def test_a_judge_that_skips_a_request_is_one_clear_error(tmp_path):
    class Skips(Scripted):
        def judge(self, requests):
            yield list(range(len(requests) - 1)), [Verdict("A", "x") for _ in requests[:-1]]

    with pytest.raises(RmbenchError, match=r"scripted returned nothing for 1 of 4 requests"):
        judge_examples(examples(), Skips(lambda r: "A"), cache_dir=tmp_path, show_progress=False)
    # what it did answer was kept: a rerun asks only for the missing one
    again = Scripted(lambda r: "A")
    judge_examples(examples(), again, cache_dir=tmp_path, show_progress=False)
    assert again.calls == 1
