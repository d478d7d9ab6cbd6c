"""One evaluation end to end: resolve data, build the scorer, score, judge, record."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from rmbench.data import load_preferences
from rmbench.data.schema import PreferenceExample
from rmbench.errors import RmbenchError
from rmbench.evals.analysis import analyze, attach_lengths
from rmbench.evals.harness import evaluate
from rmbench.evals.suites import Source, Suite, load_suite, resolve_source, select_sources
from rmbench.results import build_record, write_results
from rmbench.scoring import build_scorer
from rmbench.scoring.engine import score_examples
from rmbench.scoring.judging import judge_examples


@dataclass
class EvalRequest:
    reward: str | None = None
    judge: str | None = None
    suite: str | None = None
    data: list[str] = field(default_factory=list)
    data_root: str | None = None
    subsets: list[str] | None = None
    format: str | None = None
    split: str | None = None
    limit: int | None = None
    out: Path | None = None
    seed: int = 0
    baseline_train: str | None = None
    scorer_options: dict = field(default_factory=dict)  # ref, beta, judge_url, judge_mode, ...
    model_options: dict = field(default_factory=dict)  # dtype, device, chat_template, max_length, ...
    show_progress: bool = True


def load_examples(request: EvalRequest, suite: Suite) -> tuple[list[PreferenceExample], list[dict]]:
    """Examples plus a description of every source they came from (for the record)."""
    loaded: list[tuple[str, str | None, list[PreferenceExample], dict]] = []
    if request.data:
        for source in request.data:
            loaded.append((source, request.format, load_preferences(source, format=request.format,
                                                                    split=request.split, limit=request.limit), {}))
    else:
        for src in select_sources(suite, request.subsets):
            if src.generate:
                loaded.append(_generated(src, request.limit))
                continue
            where = resolve_source(src, suite, request.data_root)
            is_local = Path(where).exists()
            loaded.append((where, src.format, load_preferences(where, format=src.format, subset=src.subset,
                                                               split=None if is_local else src.split,
                                                               limit=request.limit), {}))
    examples: list[PreferenceExample] = []
    sources = []
    for where, fmt, exs, extra in loaded:
        if request.subsets:
            exs = [e for e in exs if e.subset in request.subsets]
        examples.extend(exs)
        sources.append({"source": where, "format": fmt or "auto", "n": len(exs),
                        "subsets": sorted({e.subset for e in exs}), "sha256": _content_hash(exs), **extra})
    if not examples:
        wanted = f" in subsets {request.subsets}" if request.subsets else ""
        raise RmbenchError(f"no examples to evaluate{wanted}: check --data / --subsets")
    return examples, sources


def _generated(src: Source, limit: int | None) -> tuple[str, str, list[PreferenceExample], dict]:
    """A generated source: the record names generator, version, seed, n and split, so the same
    items can be drawn again and records of different draws are never mixed."""
    from rmbench.probes import describe, generate_suite

    examples = generate_suite(src.generate, src.n, seed=src.seed, split=src.split)
    if src.subset:
        examples = [e for e in examples if e.subset == src.subset]
    return (f"generate:{src.generate}", "generated", examples[:limit] if limit else examples,
            {"generator": describe(src.generate, src.n, src.seed, src.split)})


def run_eval(request: EvalRequest) -> tuple[dict, list[dict]]:
    started = time.perf_counter()
    if request.suite:
        suite = load_suite(request.suite)
    elif request.data:
        suite = Suite(name="custom")
    else:
        raise RmbenchError("nothing to evaluate on: pass --suite NAME or --data FILE")
    examples, sources = load_examples(request, suite)
    scorer = build_scorer(request.reward, judge=request.judge, seed=request.seed,
                          baseline_train=request.baseline_train, **request.scorer_options, **request.model_options)
    cache_dir = request.out / ".cache" if request.out else None
    if getattr(scorer, "kind", "") == "judge" and getattr(scorer, "mode", "") == "pairwise":
        scored = judge_examples(examples, scorer, cache_dir=cache_dir, show_progress=request.show_progress)
    else:
        scored = score_examples(examples, scorer, cache_dir=cache_dir, show_progress=request.show_progress)
    summary, rows = evaluate(examples, scored, suite, seed=request.seed)
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
                "format": request.format, "split": request.split, "data_root": request.data_root},
        summary=summary, timing=timing)
    record["analysis"] = analyze(rows)  # length bias, calibration, judge order: from the rows alone
    if request.out:
        write_results(request.out, record, rows)
    return record, rows


def _content_hash(examples: list[PreferenceExample]) -> str:
    """Identifies the data version: records of different versions must not be mixed."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.id, e.subset, e.prompt, e.chosen, e.rejected], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]
