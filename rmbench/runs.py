"""Run folders: what makes a folder an rmbench run, and the facts read back from one.

Trainers write run folders and the leaderboard reads them, so the layout lives here, below
both: the marker that says "rmbench made this folder" (the only kind of folder --overwrite
may delete), the run file, checkpoint discovery, JSON helpers and the distributed-launch
facts that decide whether a checkpoint is scored in a process of its own.

    RUN/.rmbench-run            marker, written when the folder is created
    RUN/rmbench-run.json        the run: method, models, settings, data hashes, the request
    RUN/checkpoint-N/           checkpoints (rmbench.json beside the weights); other names are ignored
    RUN/final/                  the last weights
    RUN/evals/<checkpoint>/<target>/results.json   each checkpoint's evaluation
    RUN/leaderboard.json        the run's board (rmbench.leaderboard's JSON)
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

from rmbench import __version__
from rmbench.errors import RmbenchError
from rmbench.models import METADATA_FILE

MARKER = ".rmbench-run"
RUN_FILE = "rmbench-run.json"
BOARD_FILE = "leaderboard.json"
CHECKPOINT = re.compile(r"checkpoint-(\d+)")
# Variables a distributed launch sets; a scoring subprocess must not inherit them (it would wait for peers).
DISTRIBUTED_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                   "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_DEEPSPEED_ZERO_STAGE", "ACCELERATE_USE_CPU")


class RunFolderError(RmbenchError):
    """--out names a folder rmbench may not use as asked (not a run, a file, not writable)."""


def is_run_folder(folder: Path) -> bool:
    """A folder rmbench created for a run: the marker, or the run file of runs made before the marker."""
    return (folder / MARKER).is_file() or (folder / RUN_FILE).is_file()


def read_run(folder: Path) -> dict:
    """The run file, {} when there is none; a damaged one is one clear error."""
    path = folder / RUN_FILE
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunFolderError(f"{path}: cannot read it ({err}); the run folder is damaged") from err
    if not isinstance(value, dict):
        raise RunFolderError(f"{path}: expected a JSON object; the run folder is damaged")
    return value


def write_run(folder: Path, run: dict) -> None:
    (folder / RUN_FILE).write_text(json.dumps(jsonable(run), indent=2, default=str))


def check_run_folder(out: Path, method: str, model: str, *, resume: bool, overwrite: bool) -> None:
    """Whether --out may be used as asked; changes nothing, so it runs before any work.

    A folder is deleted (--overwrite) only when rmbench made it; resumed only when it holds a
    run of the same method and model; an empty folder is used as it is.
    """
    if resume and overwrite:
        raise RunFolderError("--resume continues the run in --out and --overwrite replaces it: pass one")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file: name a folder for the run")
    _check_writable(out)
    holds_files = out.is_dir() and any(out.iterdir())
    if not holds_files:
        if resume:
            raise RunFolderError(f"--resume: {out} holds no run to resume")
        return
    if not is_run_folder(out):
        raise RunFolderError(f"{out} holds files that are not an rmbench run; --resume and --overwrite apply only "
                             "to folders rmbench made (they carry a .rmbench-run marker): choose a new --out")
    if resume:
        previous = read_run(out)
        if previous and (previous.get("method"), previous.get("base_model")) != (method, model):
            raise RunFolderError(f"--resume: {out} holds a {previous.get('method')} run of "
                                 f"{previous.get('base_model')}, not {method} of {model}")
    elif not overwrite:
        raise RunFolderError(f"{out} already holds a run: pass --resume to continue it or --overwrite to replace it")


def _check_writable(out: Path) -> None:
    """The nearest existing folder on the way to --out must accept a new entry."""
    probe = out if out.exists() else out.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise RunFolderError(f"--out {out}: {probe} is a file, so the folder cannot be made there")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise RunFolderError(f"--out {out}: {probe} is not writable; choose a folder you can write to")


def prepare_run_folder(out: Path, method: str, model: str, *, resume: bool, overwrite: bool) -> None:
    """Check again (nothing may have changed since), then empty a replaced run and mark the folder."""
    check_run_folder(out, method, model, resume=resume, overwrite=overwrite)
    try:
        if overwrite and out.is_dir() and is_run_folder(out):
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        marker = out / MARKER
        if not marker.is_file():
            marker.write_text(json.dumps({"created_by": "rmbench", "version": __version__}) + "\n")
    except OSError as err:
        raise RunFolderError(f"--out {out}: {err.strerror or err}") from err


# -- checkpoints ------------------------------------------------------------------------------------

def checkpoints(out: Path) -> list[Path]:
    """checkpoint-N folders by step; other names (checkpoint-old, a copy) are not the run's."""
    found = [p for p in out.glob("checkpoint-*") if p.is_dir() and CHECKPOINT.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def last_checkpoint(out: Path) -> Path | None:
    found = checkpoints(out)
    return found[-1] if found else None


def checkpoint_step(folder: Path) -> int | None:
    """The step a checkpoint folder was saved at: its rmbench.json, else its name."""
    meta = folder / METADATA_FILE
    if meta.is_file():
        try:
            step = json.loads(meta.read_text(encoding="utf-8")).get("step")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            step = None  # the folder name may still say it
        if isinstance(step, int) and not isinstance(step, bool):
            return step
    match = CHECKPOINT.fullmatch(folder.name)
    return int(match.group(1)) if match else None


# -- JSON and processes -----------------------------------------------------------------------------

def jsonable(value):
    """Paths (and tuples) as JSON has them: run files record requests that hold Paths."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return str(value) if isinstance(value, os.PathLike) else value


def zero3_active() -> bool:
    """DeepSpeed ZeRO-3 partitions weights: a model loaded in a training process would be too."""
    from transformers.integrations import is_deepspeed_zero3_enabled  # heavy: only trainers ask

    return bool(is_deepspeed_zero3_enabled())


def is_distributed() -> bool:
    """Several processes or ZeRO-3: evaluations then run in a plain process of their own."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 or zero3_active()


def is_main_process() -> bool:
    """Rank 0 of a launch, or no launch: the one process that checks, creates and writes the run
    folder (read from the launcher's RANK, so it is known before any process group exists)."""
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    """A barrier across the launch's processes once their group exists; nothing outside a launch."""
    import torch.distributed as dist  # heavy: only trainers ask

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@contextmanager
def main_process_alone():
    """Work the main process of a launch does by itself once the others are done (scoring the start
    and the baselines after training): in-process scoring must not take the launch for a data-parallel
    evaluation and wait for peers that have left. Outside a launch it changes nothing."""
    saved = os.environ.get("WORLD_SIZE")
    os.environ["WORLD_SIZE"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("WORLD_SIZE", None)
        else:
            os.environ["WORLD_SIZE"] = saved


def plain_environment() -> dict:
    """os.environ without the distributed launch's variables, for a scoring subprocess."""
    return {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}
