"""Results records: what ran, on what, with which versions, and what it scored.

One immutable results.json per run plus scores.jsonl (one line per example), both
written to a temporary file and renamed, so a reader never sees half a record and an
interrupted run never leaves one behind. scores.jsonl is written first and results.json
last, carrying the sha256 of the scores file it belongs to: a reader that catches the
pair between the two renames sees a mismatch (`check_pair`), never a silently mixed pair.

An output folder is claimed before any work (`claim_out`): it must be a writable folder
that holds no input of the same run and no record of another model or suite (unless
`overwrite`), and a lock file keeps two runs from writing into it at once. Rerunning the
same model on the same suite is not a conflict: it resumes from the folder's score cache.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import platform
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from rmbench.errors import RmbenchError

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"
SCORES_FILE = "scores.jsonl"
CACHE_DIR = ".cache"
LOCK_FILE = ".rmbench.lock"
# Who wrote the folder's results.json, as the command named it (a served model's record names the
# model the server reports, not the url the user typed): the next run compares against this.
OWNER_FILE = ".rmbench-record.json"
AD_HOC_SUITES = ("custom", "policy")  # suites defined by their data: the data is part of the identity


def versions() -> dict[str, str]:
    import datasets
    import torch
    import transformers

    from rmbench import __version__

    return {"rmbench": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "datasets": datasets.__version__, "python": platform.python_version()}


def build_record(*, suite: dict, data: list[dict], model: dict, config: dict, summary: dict,
                 timing: dict) -> dict:
    return {"schema_version": SCHEMA_VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "suite": suite, "data": data, "model": model, "config": config, **summary, "timing": timing,
            "versions": versions()}


def _clean(value):
    """JSON has no NaN: write null, so every reader (not just Python's) can parse the file."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def atomic_write(path: Path, lines: Iterable[str]) -> str:
    """Write through a temporary file and rename; returns the sha256 of what was written.
    A folder, an unwritable place or a full disk is one RmbenchError naming the path."""
    path = Path(path)
    if path.is_dir():
        raise RmbenchError(f"cannot write {path}: it is a folder; name a file, or move the folder away")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as err:
        raise RmbenchError(f"cannot write {path}: {_reason(err)}") from None
    digest = hashlib.sha256()
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are shared like any other file
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(line)
                digest.update(line.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise RmbenchError(f"cannot write {path}: {_reason(err)}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _reason(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    return f"{err.strerror or err}{where}"


def make_out_folder(out: Path, shown: str, holds: str, error: type[RmbenchError] = RmbenchError) -> None:
    """Create an output folder (parents too), or say in one line why not: a file in the way
    names what the folder is for (`holds`), an OS refusal gives its reason and path."""
    if out.exists() and not out.is_dir():
        raise error(f"{shown} is a file, not a folder: name a folder for {holds}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise error(f"cannot create {shown}: {_reason(err)}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_results(out_dir: Path, record: dict, rows: list[dict]) -> None:
    """Scores first, then the record naming their sha256: a results.json on disk always has
    its scores.jsonl beside it, and a reader can tell when it caught the pair half-replaced."""
    out_dir = Path(out_dir)
    digest = atomic_write(out_dir / SCORES_FILE, (json.dumps(_clean(r), ensure_ascii=False) + "\n" for r in rows))
    record["scores_file"] = {"name": SCORES_FILE, "sha256": digest, "rows": len(rows)}
    atomic_write(out_dir / RESULTS_FILE, [json.dumps(_clean(record), indent=2, ensure_ascii=False) + "\n"])


def check_pair(results_path: Path, record: dict) -> None:
    """A record written by write_results names its scores file's sha256; refuse a pair that
    disagrees (another run's scores, a hand edit, or a pair caught between its two renames).
    Records from before this check carry no digest and are taken as they are."""
    expected = (record.get("scores_file") or {}).get("sha256") if isinstance(record.get("scores_file"), dict) \
        else None
    if not expected:
        return
    scores = Path(results_path).parent / SCORES_FILE
    digest = hashlib.sha256()
    try:
        with scores.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise RmbenchError(f"cannot read {scores}: {_reason(err)}") from None
    if digest.hexdigest() != expected:
        raise RmbenchError(f"{scores} is not the scores file {results_path} was written with (sha256 differs): "
                           "the pair was edited, mixed with another run, or is being rewritten; rerun the "
                           "evaluation")


def record_identity(model: str | None, suite: str, data: Iterable[str] = ()) -> dict:
    """What makes two records "the same run" for an output folder: the model as named, the
    suite, and for ad-hoc data the sources (resolved when they exist here)."""
    return {"model": _norm(model), "suite": suite,
            "data": sorted(_norm(d) for d in data) if suite in AD_HOC_SUITES else []}


def _norm(name: str | None) -> str | None:
    if not name:
        return name
    path = Path(name)
    try:
        return str(path.resolve()) if path.exists() else name
    except OSError:
        return name


@contextmanager
def claim_out(out: Path | None, identity: dict, *, inputs: Iterable[str | Path] = (),
              data_inputs: Iterable[str | Path] = (), overwrite: bool = False, flag: str = "--out") -> Iterator[None]:
    """Check and lock an eval output folder for the whole run (see the module docstring).

    `inputs` are files the run reads (an output must never replace one); `data_inputs` are
    data files or folders (the output folder must not be one of them or sit inside one: the
    next run would read the records as data). Under a data-parallel launch only the main
    process enters it (rmbench.scoring.distributed.main_claims): it alone writes the record."""
    if out is None:
        yield
        return
    out = Path(out)
    shown = f"{flag} {out}"
    _refuse_overlap(out, inputs, data_inputs, shown)
    created = not out.exists()
    make_out_folder(out, shown, "results.json and scores.jsonl")
    for name, want_dir in ((RESULTS_FILE, False), (SCORES_FILE, False), (CACHE_DIR, True)):
        path = out / name
        if path.exists() and path.is_dir() != want_dir:
            raise RmbenchError(f"{path} is {'a file' if want_dir else 'a folder'}; rmbench writes its "
                               f"{'score cache' if want_dir else name} there: move it away or choose another {flag}")
    try:
        lock = open(out / LOCK_FILE, "a")  # noqa: SIM115 (held for the whole run)
    except OSError as err:
        raise RmbenchError(f"cannot write in {shown}: {_reason(err)}") from None
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RmbenchError(f"another rmbench run is writing into {shown} right now: wait for it to finish, "
                               f"or choose another {flag}") from None
        if not overwrite:
            _refuse_other_record(out, identity, shown, flag)
        before = _stamp(out / RESULTS_FILE)
        yield
        after = _stamp(out / RESULTS_FILE)
        if after is not None and after != before:  # this run wrote the record: say whose it is
            atomic_write(out / OWNER_FILE, [json.dumps({"identity": identity, "results": after}) + "\n"])
    finally:
        lock.close()
        if created and not (out / RESULTS_FILE).exists():
            _remove_if_only_lock(out)


def _remove_if_only_lock(out: Path) -> None:
    """A run that failed before writing anything leaves no empty folder behind (the battery
    lists unreachable suites; their folders would only mislead). Only a folder this run
    created, and only when nothing but the lock is in it: a score cache stays for resuming."""
    try:
        if [p.name for p in out.iterdir()] == [LOCK_FILE]:
            (out / LOCK_FILE).unlink()
            out.rmdir()
    except OSError:
        pass  # something appeared meanwhile, or the folder went: either way nothing of ours to tidy


def _stamp(path: Path) -> list[int] | None:
    """Identifies one version of a file (os.replace gives every write a new inode)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _refuse_overlap(out: Path, inputs, data_inputs, shown: str) -> None:
    target = _resolved(out)
    writes = {target, target / RESULTS_FILE, target / SCORES_FILE}
    for raw in [*inputs, *data_inputs]:
        if raw is None or not str(raw) or not Path(raw).exists():
            continue
        source = _resolved(Path(raw))
        if source in writes or target / CACHE_DIR in source.parents:
            raise RmbenchError(f"{shown} would overwrite the input {raw}: write the results to another folder")
    for raw in data_inputs:
        if raw is None or not Path(str(raw)).is_dir():
            continue
        source = _resolved(Path(raw))
        if target == source or source in target.parents:
            raise RmbenchError(f"{shown} is inside the data folder {raw}: the records would be read as data next "
                               "time; write the results to another folder")


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _refuse_other_record(out: Path, identity: dict, shown: str, flag: str) -> None:
    path = out / RESULTS_FILE
    if not path.is_file():
        return
    what_to_do = f"pass --overwrite to replace it, or choose another {flag}"
    try:
        owner = json.loads((out / OWNER_FILE).read_text(encoding="utf-8"))
        theirs = owner["identity"] if owner["results"] == _stamp(path) else None
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        theirs = None  # no owner file (older rmbench, or written by another command): judge by the record
    if isinstance(theirs, dict):
        if theirs == identity:
            return  # the same run again, as recorded when it wrote this results.json
        data = theirs.get("data") or []
        what = f"{theirs.get('model')} on {theirs.get('suite')}" + (f" ({', '.join(map(str, data))})" if data else "")
        raise RmbenchError(f"{shown} holds the record of {what}: {what_to_do}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        model, suite = record["model"]["name"], record["suite"]["name"]
        data = [d["source"] for d in record.get("data") or [] if isinstance(d, dict) and "source" in d]
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, KeyError, TypeError) as err:
        raise RmbenchError(f"{shown} holds a {RESULTS_FILE} rmbench cannot read ({type(err).__name__}): "
                           f"{what_to_do}") from None
    theirs = record_identity(model, suite, data)
    if theirs == identity:
        return  # the same run again: it resumes from the cache and replaces its own record
    what = f"{model} on {suite}" + (f" ({', '.join(map(str, data))})" if suite in AD_HOC_SUITES and data else "")
    raise RmbenchError(f"{shown} holds the record of {what}: {what_to_do}")

