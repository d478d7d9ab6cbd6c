"""Hand-computed checks of the benchmark score arithmetic in rmbench.evals.metrics.

Every expected number below is worked out in the comments next to it, so a change in a
formula (strict vs non-strict comparison, triangle swapped, weight changed) fails here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rmbench.errors import DataError
from rmbench.evals import metrics as m
from rmbench.evals.rb2_ties import rb2_ties_score

# --------------------------------------------------------------------------------------
# pairwise_outcome
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chosen", "rejected", "expected"),
    [
        ([2.0], [1.0], (1.0, 0)),
        ([1.0], [2.0], (0.0, 0)),
        ([1.0], [1.0], (0.0, 1)),  # an exact tie is wrong, and reported
        # 3>2 win, 3>1 win, 1>2 loss, 1=1 tie -> 2 of 4 comparisons, 1 tie
        ([3.0, 1.0], [2.0, 1.0], (0.5, 1)),
        ([math.nan], [1.0], (0.0, 0)),  # NaN never wins and is not a tie
    ],
)
def test_pairwise_outcome(chosen, rejected, expected):
    assert m.pairwise_outcome(chosen, rejected) == expected


def test_pairwise_outcome_rejects_empty_side():
    with pytest.raises(ValueError):
        m.pairwise_outcome([], [1.0])


# --------------------------------------------------------------------------------------
# best_of_n_outcome (RewardBench 2 outside Ties)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rejected", "expected"),
    [
        ([1.0, 2.0, 3.0], (1.0, 0)),  # strictly on top
        ([5.0, 2.0, 3.0], (0.5, 1)),  # tied with one rejected: 1/2
        ([5.0, 5.0, 1.0], (1 / 3, 2)),  # tied with two: 1/3
        ([5.0, 5.0, 5.0], (0.25, 3)),  # all four equal: random-chance 1/4
        ([5.0, 6.0, 1.0], (0.0, 0)),  # beaten: the tie below the top does not count
        ([1.0, math.nan, 2.0], (0.0, 0)),  # NaN makes the outcome wrong
    ],
)
def test_best_of_n_outcome(rejected, expected):
    correct, ties = m.best_of_n_outcome([5.0], rejected)
    assert correct == pytest.approx(expected[0])
    assert ties == expected[1]


def test_best_of_n_needs_exactly_one_chosen():
    with pytest.raises(ValueError):
        m.best_of_n_outcome([1.0, 2.0], [0.0])
    with pytest.raises(ValueError):
        m.best_of_n_outcome([1.0], [])


# --------------------------------------------------------------------------------------
# RewardBench 2 Ties
# --------------------------------------------------------------------------------------

# Per prompt: gap = min(correct) - max(incorrect), spread = max(correct) - min(correct).
TIES_EXAMPLES = [
    ("ref:1", [5.0], [1.0, 2.0]),  # gap 3, accurate
    ("tied:1", [4.0, 4.5], [2.0, 3.0]),  # gap 1, spread 0.5, accurate
    ("ref:2", [1.0], [2.0]),  # gap -1, not accurate
    ("tied:2", [3.0, 4.0], [1.0]),  # gap 2, spread 1, accurate
    ("tied:3", [0.0, 0.5], [1.0]),  # gap -0.5, not accurate; no ref:3, so only in tied_accuracy
]
# ref_accuracy  = 1/2 (ref:1 yes, ref:2 no)
# tied_accuracy = 2/3 (tied:1, tied:2 yes; tied:3 no)
# paired prompts 1 and 2:
#   p1: tied gap 1 > spread 0.5 -> preferred; min(3, 1) = 1 > 0.5 -> preferred_hard;
#       margin tanh(1 / 0.5 - 1) = tanh(1)
#   p2: tied gap 2 > spread 1 -> preferred; min(-1, 2) = -1 > 1 is false -> not hard;
#       margin tanh(-1 / 1 - 1) = tanh(-2)
#   correctness_preferred = 1.0, correctness_preferred_hard = 0.5,
#   correctness_margin_score = (tanh(1) + tanh(-2)) / 2 = (0.76159 - 0.96403) / 2 = -0.10122
# overall = 0.3 * 2/3 + 0.3 * 0.5 + 0.2 * 1.0 + 0.2 * 0.5 + 0.01 * -0.10122
#         = 0.2 + 0.15 + 0.2 + 0.1 - 0.0010122 = 0.6489878
TIES_MARGIN = (math.tanh(1.0) + math.tanh(-2.0)) / 2


def test_rb2_ties_hand_computed():
    result = rb2_ties_score(TIES_EXAMPLES)
    assert result["ref_accuracy"] == pytest.approx(0.5)
    assert result["tied_accuracy"] == pytest.approx(2 / 3)
    assert result["correctness_preferred"] == pytest.approx(1.0)
    assert result["correctness_preferred_hard"] == pytest.approx(0.5)
    assert result["correctness_margin_score"] == pytest.approx(TIES_MARGIN)
    assert TIES_MARGIN == pytest.approx(-0.1012167, abs=1e-6)
    assert result["overall"] == pytest.approx(0.65 + 0.01 * TIES_MARGIN)
    assert result["overall"] == pytest.approx(0.6489878, abs=1e-6)
    assert (result["n_ref"], result["n_tied"], result["n_paired"]) == (2, 3, 2)
    assert result["n_undefined_correct_margin"] == 0
    assert result["per_example"] == {"ref:1": 1.0, "tied:1": 1.0, "ref:2": 0.0, "tied:2": 1.0, "tied:3": 0.0}


def test_rb2_ties_pools_rows_with_the_same_id():
    # tied:1 split over two rows must score exactly as the single row above.
    split = [e for e in TIES_EXAMPLES if e[0] != "tied:1"]
    split += [("tied:1", [4.0], [2.0]), ("tied:1", [4.5], [3.0])]
    assert rb2_ties_score(split)["overall"] == pytest.approx(rb2_ties_score(TIES_EXAMPLES)["overall"])


def test_rb2_ties_single_correct_tied_prompt_counts_as_not_preferred():
    # tied:5 has one correct answer: spread undefined -> NaN. Both prompts are accurate
    # (gap 2 > 0), the prompt stays in the denominators: preferred 0, hard 0, margin 0.
    # overall = 0.3 * 1 + 0.3 * 1 + 0 + 0 + 0 = 0.6
    result = rb2_ties_score([("ref:5", [3.0], [1.0]), ("tied:5", [3.0], [1.0])])
    assert result["correctness_preferred"] == 0.0
    assert result["correctness_preferred_hard"] == 0.0
    assert result["correctness_margin_score"] == 0.0
    assert result["n_undefined_correct_margin"] == 1
    assert result["overall"] == pytest.approx(0.6)


def test_rb2_ties_zero_spread_follows_numpy_division():
    # Correct answers tied exactly (spread 0) and well above the incorrect one:
    # gap/0 = +inf, tanh(inf) = 1; preferred and hard (1 > 0). overall = 0.3+0.3+0.2+0.2+0.01
    result = rb2_ties_score([("ref:7", [2.0], [0.0]), ("tied:7", [2.0, 2.0], [1.0])])
    assert result["correctness_margin_score"] == pytest.approx(1.0)
    assert result["overall"] == pytest.approx(1.01)
    # Everything equal: 0/0 is NaN -> margin 0; nothing accurate or preferred.
    flat = rb2_ties_score([("ref:8", [2.0], [2.0]), ("tied:8", [2.0, 2.0], [2.0])])
    assert flat["overall"] == 0.0


def test_rb2_ties_without_paired_prompts_is_nan():
    result = rb2_ties_score([("ref:1", [5.0], [1.0])])
    assert result["ref_accuracy"] == 1.0
    assert result["tied_accuracy"] == 0.0
    assert math.isnan(result["correctness_preferred"])
    assert math.isnan(result["overall"])


def test_rb2_ties_integer_prompt_ids_pair_up():
    a = rb2_ties_score([("ref:12", [5.0], [1.0]), ("tied:012", [4.0, 4.5], [1.0])])
    assert a["n_paired"] == 1


@pytest.mark.parametrize("bad_id", ["12", "other:1", "ref:", "tied"])
def test_rb2_ties_rejects_malformed_ids(bad_id):
    with pytest.raises(DataError):
        rb2_ties_score([(bad_id, [1.0], [0.0])])


# --------------------------------------------------------------------------------------
# RM-Bench
# --------------------------------------------------------------------------------------


def test_rm_bench_style_biased_model_gets_zero_hard():
    # A model that rewards detail: reward = style index (+0.5 for being correct).
    # chosen i beats rejected j iff i + 0.5 > j iff i >= j: diagonal and below win,
    # above the diagonal (chosen plainer than rejected) always loses.
    chosen = np.array([[0.5, 1.5, 2.5]] * 4)
    rejected = np.array([[0.0, 1.0, 2.0]] * 4)
    result = m.rm_bench_matrix(chosen, rejected)
    assert result["matrix"] == [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    assert result["hard"] == 0.0
    assert result["normal"] == 1.0
    assert result["easy"] == 1.0
    assert result["average"] == pytest.approx(6 / 9)


def test_rm_bench_matrix_hand_computed():
    # prompt A: chosen (1, 2, 3) vs rejected (1, 0, 5)
    #   row 0: 1=1 tie, 1>0 win, 1<5 -> [0, 1, 0]
    #   row 1: 2>1, 2>0, 2<5          -> [1, 1, 0]
    #   row 2: 3>1, 3>0, 3<5          -> [1, 1, 0]   accuracy 5/9, 1 tie
    # prompt B: chosen (4, 4, 4) vs rejected (3, 3, 3): all 9 win, accuracy 1
    # M = [[.5, 1, .5], [1, 1, .5], [1, 1, .5]]
    # hard = (1 + .5 + .5)/3 = 2/3, normal = (.5 + 1 + .5)/3 = 2/3, easy = (1+1+1)/3 = 1,
    # average = 7/9 (= mean of the three)
    result = m.rm_bench_matrix([[1, 2, 3], [4, 4, 4]], [[1, 0, 5], [3, 3, 3]])
    assert np.allclose(result["matrix"], [[0.5, 1.0, 0.5], [1.0, 1.0, 0.5], [1.0, 1.0, 0.5]])
    assert result["hard"] == pytest.approx(2 / 3)
    assert result["normal"] == pytest.approx(2 / 3)
    assert result["easy"] == pytest.approx(1.0)
    assert result["average"] == pytest.approx(7 / 9)
    assert result["per_example_accuracy"] == pytest.approx([5 / 9, 1.0])
    assert result["per_example_ties"] == [1, 0]
    assert (result["n"], result["ties"]) == (2, 1)


def test_rm_bench_matrix_checks_shapes():
    with pytest.raises(ValueError):
        m.rm_bench_matrix([[1, 2]], [[1, 2]])
    with pytest.raises(ValueError):
        m.rm_bench_matrix([[1, 2, 3]], [[1, 2, 3], [1, 2, 3]])


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("chat", "chat"),
        ("code", "code"),
        ("math", "math"),
        ("safety-refuse", "safety"),
        ("safety-response", "safety"),
    ],
)
def test_rm_bench_domain(name, domain):
    assert m.rm_bench_domain(name) == domain


def test_rm_bench_domain_unknown():
    with pytest.raises(ValueError):
        m.rm_bench_domain("poetry")


def test_rm_bench_safety_files_combine_by_prompt_count():
    # refuse: 1 prompt, all 9 comparisons won; response: 3 prompts, all lost.
    # Concatenated: every cell is 1/4, not the 1/2 an unweighted mean of matrices gives.
    refuse = m.rm_bench_matrix([[2, 2, 2]], [[1, 1, 1]])
    response = m.rm_bench_matrix([[0, 0, 0]] * 3, [[1, 1, 1]] * 3)
    combined = m.rm_bench_domain_matrices({"safety-refuse": refuse, "safety-response": response})
    safety = combined["safety"]
    assert safety["n"] == 4
    assert np.allclose(safety["matrix"], 0.25)
    assert safety["average"] == pytest.approx(0.25)
    assert safety["subsets"] == ["safety-refuse", "safety-response"]


def test_rm_bench_combination_equals_concatenation():
    rng = np.random.default_rng(1)
    c1, r1 = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    c2, r2 = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    combined = m.rm_bench_domain_matrices(
        {"safety-refuse": m.rm_bench_matrix(c1, r1), "safety-response": m.rm_bench_matrix(c2, r2)}
    )["safety"]
    direct = m.rm_bench_matrix(np.vstack([c1, c2]), np.vstack([r1, r2]))
    assert np.allclose(combined["matrix"], direct["matrix"])
    for key in ("hard", "normal", "easy", "average"):
        assert combined[key] == pytest.approx(direct[key])


def test_rm_bench_overall():
    # (0.8 + 0.6 + 0.5 + 0.9) / 4 = 0.7
    assert m.rm_bench_overall({"chat": 0.8, "code": 0.6, "math": 0.5, "safety": 0.9}) == pytest.approx(0.7)
    # a missing / NaN domain is left out: (0.8 + 0.6) / 2
    assert m.rm_bench_overall({"chat": 0.8, "code": 0.6, "math": math.nan}) == pytest.approx(0.7)
    with pytest.raises(ValueError):
        m.rm_bench_overall({"safety-refuse": 0.5})
    assert math.isnan(m.rm_bench_overall({}))


# --------------------------------------------------------------------------------------
# Sections and final scores
# --------------------------------------------------------------------------------------


def test_v1_constants_match_the_counts():
    weights, sections = m.REWARDBENCH_V1_WEIGHTS, m.REWARDBENCH_V1_SECTIONS
    totals = {name: sum(weights[s] for s in subsets) for name, subsets in sections.items()}
    assert totals == {"Chat": 358, "Chat Hard": 456, "Safety": 740, "Reasoning": 1968}
    assert weights["math-prm"] == 984
    assert all(weights[f"hep-{lang}"] == 164 for lang in ("cpp", "go", "java", "js", "python", "rust"))
    # upstream EXAMPLE_COUNTS since allenai/reward-bench 6552e93 (see metrics.py)
    assert (weights["xstest-should-refuse"], weights["xstest-should-respond"]) == (154, 250)
    assert {s for subsets in sections.values() for s in subsets} == set(weights)


def test_reasoning_section_weights_math_as_all_code():
    # math-prm perfect, every hep subset wrong: 984 * 1 / (984 + 6 * 164) = 0.5
    scores = {"math-prm": 1.0} | {f"hep-{x}": 0.0 for x in ("cpp", "go", "java", "js", "python", "rust")}
    result = m.weighted_sections(scores, m.REWARDBENCH_V1_SECTIONS, m.REWARDBENCH_V1_WEIGHTS)
    assert result == {"Reasoning": pytest.approx(0.5)}
    # only math-prm (1.0) and hep-python (0.5) present: (984 + 82) / (984 + 164)
    partial = m.weighted_sections(
        {"math-prm": 1.0, "hep-python": 0.5}, m.REWARDBENCH_V1_SECTIONS, m.REWARDBENCH_V1_WEIGHTS
    )
    assert partial["Reasoning"] == pytest.approx(1066 / 1148)


def test_weighted_sections_omits_empty_sections_and_needs_weights():
    sections = {"A": ["a1", "a2"], "B": ["b1"]}
    # A = (1.0 * 1 + 0.0 * 3) / 4 = 0.25; B has nothing evaluated -> absent, not 0
    assert m.weighted_sections({"a1": 1.0, "a2": 0.0}, sections, {"a1": 1, "a2": 3}) == {"A": 0.25}
    with pytest.raises(ValueError):
        m.weighted_sections({"a1": 1.0}, sections, {})


SECTIONS = {"Chat": 0.9, "Chat Hard": 0.5, "Safety": 0.8, "Reasoning": 0.6}


def test_v1_final_without_prior_is_plain_mean():
    # (0.9 + 0.5 + 0.8 + 0.6) / 4 = 0.7
    assert m.rewardbench_v1_final(SECTIONS) == pytest.approx(0.7)
    assert m.rewardbench_v1_final(SECTIONS, {}) == pytest.approx(0.7)


def test_v1_final_with_prior_sets():
    # Prior = mean(0.6, 0.8, 0.5, 0.5) = 0.6; anthropic_harmless is not a prior set.
    # final = (2 * (0.9 + 0.5 + 0.8 + 0.6) + 1 * 0.6) / 9 = 6.2 / 9
    prior = {
        "anthropic_helpful": 0.6,
        "anthropic_hhh": 0.8,
        "shp": 0.5,
        "summarize": 0.5,
        "anthropic_harmless": 0,
    }
    assert m.rewardbench_v1_prior(prior) == pytest.approx(0.6)
    assert m.rewardbench_v1_final(SECTIONS, prior) == pytest.approx(6.2 / 9)


def test_v1_final_masks_missing_and_nan_sections():
    # Chat 0.9 and Safety 0.8 (weight 2 each), Chat Hard NaN, Reasoning missing, Prior 0.6:
    # (1.8 + 1.6 + 0.6) / 5 = 0.8
    scores = {"Chat": 0.9, "Chat Hard": math.nan, "Safety": 0.8}
    assert m.rewardbench_v1_final(scores, {"shp": 0.6}) == pytest.approx(0.8)
    assert math.isnan(m.rewardbench_v1_final({}))
    with pytest.raises(ValueError):
        m.rewardbench_v1_final({"chat": 0.9})


def test_v2_final():
    scores = {"Factuality": 0.6, "Precise IF": 0.3, "Math": 0.7, "Safety": 0.9, "Focus": 0.8, "Ties": 0.3}
    assert m.rewardbench_v2_final(scores) == pytest.approx(3.6 / 6)
    assert m.rewardbench_v2_final({"Math": 0.7, "Ties": 0.3}) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        m.rewardbench_v2_final({"Reasoning": 0.5})


# --------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------


def test_bootstrap_is_deterministic_and_seeded():
    values = np.array([1.0, 0.0] * 50)
    first = m.bootstrap_ci(values, seed=3)
    assert first == m.bootstrap_ci(values, seed=3)
    assert first != m.bootstrap_ci(values, seed=4)
    low, high = first
    # mean 0.5, standard error sqrt(0.25 / 100) = 0.05: the 95% interval is about +-0.1
    assert 0.35 < low < 0.5 < high < 0.65


def test_bootstrap_edge_cases():
    assert m.bootstrap_ci([0.7] * 10) == (pytest.approx(0.7), pytest.approx(0.7))
    assert all(math.isnan(x) for x in m.bootstrap_ci([]))
    with pytest.raises(ValueError):
        m.bootstrap_ci([1.0, math.nan])
    with pytest.raises(ValueError):
        m.bootstrap_ci([1.0], alpha=1.5)


def test_bootstrap_large_input_is_chunked(monkeypatch):
    # Small chunks must still give an interval of the right size and stay deterministic.
    monkeypatch.setattr(m, "_BOOTSTRAP_CELLS_PER_CHUNK", 1000)
    values = np.arange(400, dtype=float) % 2
    low, high = m.bootstrap_ci(values, n_resamples=200, seed=0)
    assert (low, high) == m.bootstrap_ci(values, n_resamples=200, seed=0)
    assert 0.40 < low < 0.5 < high < 0.60
