"""One evaluation end to end: resolve data, build the scorer, score, judge, record."""

from __future__ import annotations

import time

from rmbench import validate
from rmbench.errors import RmbenchError
from rmbench.evals.analysis import analyze, attach_lengths
from rmbench.evals.coverage import coverage, label
from rmbench.evals.harness import evaluate
from rmbench.evals.request import EvalRequest
from rmbench.evals.sources import load_examples
from rmbench.evals.suites import Suite, load_suite
from rmbench.results import build_record, claim_out, record_identity, write_results
from rmbench.scoring import build_scorer, distributed
from rmbench.scoring.engine import run_examples


def run_eval(request: EvalRequest) -> tuple[dict, list[dict]]:
    started = time.perf_counter()
    check_request(request)
    if request.suite:
        suite = load_suite(request.suite)
    elif request.data:
        suite = Suite(name="custom")
    else:
        raise RmbenchError("nothing to evaluate on: pass --suite NAME or --data FILE")
    # The output folder is claimed (checked, locked) before any data is read or model loaded;
    # under a data-parallel launch by the main process alone (the others wait for its outcome).
    claim = claim_out(request.out, record_identity(request.reward or request.judge, suite.name, request.data),
                      inputs=[request.baseline_train, request.model_options.chat_template,
                              request.scorer_options.judge_template, request.suite],
                      data_inputs=[*request.data, request.data_root], overwrite=request.overwrite)
    with distributed.main_claims(claim):
        return _run(request, suite, started)


def check_request(request: EvalRequest) -> None:
    """Every setting's type and range, before any work (one line each; see rmbench.validate)."""
    validate.seed("--seed", request.seed)
    validate.integer("--limit", request.limit, low=1, optional=True)
    validate.number("--beta", request.scorer_options.beta, low=0, low_open=True, optional=True)
    validate.choice("--judge-mode", request.scorer_options.judge_mode, validate.JUDGE_MODES)
    validate.model_options(request.model_options)
    validate.integer("--concurrency", request.model_options.concurrency, low=1, high=1024, optional=True)
    if request.scorer_options.judge_template is not None:
        validate.text_file("--judge-template", request.scorer_options.judge_template)
    if request.subsets is not None and not request.subsets:
        raise RmbenchError("--subsets names no subset: give comma-separated subset names")


def _run(request: EvalRequest, suite: Suite, started: float) -> tuple[dict, list[dict]]:
    loaded = load_examples(request, suite)
    examples, sources = loaded.examples, loaded.sources
    scorer = request.scorer or build_scorer(request.reward, judge=request.judge, seed=request.seed,
                                            baseline_train=request.baseline_train, **request.scorer_options.kwargs(),
                                            **request.model_options.kwargs())
    cache_dir = request.cache_dir or (request.out / ".cache" if request.out else None)
    scored = run_examples(examples, scorer, cache_dir=cache_dir, show_progress=request.show_progress)
    summary, rows = evaluate(examples, scored, suite, seed=request.seed)
    cov = coverage(suite, {e.subset for e in examples}, loaded.skips.cut, request.limit)
    summary = {"label": label(suite, cov), "partial": cov["partial"], **summary, "coverage": cov,
               **loaded.skips.records()}
    attach_lengths(rows, examples, getattr(scorer, "tokenizer", None))
    wall = time.perf_counter() - started
    comparisons = sum(len(e.chosen) * len(e.rejected) for e in examples)
    seconds = scored.stats["scoring_seconds"]
    timing = {"wall_seconds": round(wall, 3), **scored.stats, "comparisons": comparisons,
              "comparisons_per_second": round(comparisons / seconds, 2) if scored.stats["scored"] and seconds else None}
    record = build_record(
        suite={"name": suite.name, "version": suite.version, "manifest": suite.manifest, "score_rule": suite.score},
        data=sources, model={**scorer.describe(), "fingerprint": scorer.fingerprint()},
        config={"seed": request.seed, "limit": request.limit, "subsets": request.subsets,
                "format": request.format, "split": request.split, "data_root": request.data_root,
                "strict": request.strict},
        summary=summary, timing=timing)
    record["analysis"] = analyze(rows)  # length bias, calibration, judge order: from the rows alone
    if request.out and distributed.is_main():  # under a data-parallel launch the main process writes
        write_results(request.out, record, rows)
    return record, rows
