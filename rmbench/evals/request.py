"""EvalRequest: one evaluation as the library takes it (the CLI, the battery, trainers and the worker
build one). Its own module so that the modules `evals.run` calls (sources, ...) can name it
without importing `run` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rmbench.options import ModelOptions, ScorerOptions


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
    scorer_options: ScorerOptions = field(default_factory=ScorerOptions)  # ref, beta, judge_url, judge_mode, ...
    model_options: ModelOptions = field(default_factory=ModelOptions)  # dtype, device, chat_template, max_length, ...
    show_progress: bool = True
    strict: bool = False  # a record the loader would skip is an error instead
    overwrite: bool = False  # replace another model's or suite's record in `out`
    scorer: object | None = None  # a scorer already built (the battery shares one model across suites)
    cache_dir: Path | None = None  # score cache folder; default OUT/.cache (the battery shares one)
