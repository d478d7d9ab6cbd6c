"""What `rmbench train` was asked to do, as every trainer (TRL's and rmbench's PPO) receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainRequest:
    method: str
    model: str
    data: list[str]
    out: Path
    recipe: str | None = None
    overrides: dict = field(default_factory=dict)
    format: str | None = None
    resume: bool = False
    overwrite: bool = False
    seed: int = 42
    show_progress: bool = True
    strict: bool = False  # a training record the loader would skip is an error instead
