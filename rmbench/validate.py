"""Range and type checks of user-given values, shared by the CLI, the pipeline and the library.

Why one module: a value must be checked before any work starts, in the same words whether
it came from a flag (`--seed -1`) or a pipeline key (`seed: -1`), and never coerced
(`n: 1.7` is not 1, `--max-length 0` is not "the model's maximum", `--beta 0` is not 1).
Every check raises RmbenchError naming the setting, the value and the accepted range.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict
from pathlib import Path

from rmbench.errors import RmbenchError

SEED_MAX = 2**32 - 1  # numpy and torch seeds
MAX_LENGTH_MAX = 10_000_000  # tokens: far above any model, below what would overflow a batch plan
BATCH_TOKENS_MAX = 100_000_000
GENERATE_MAX = 100_000  # generated pairs per file: ~1 minute on a laptop CPU; larger draws are a typo
RESAMPLES_MAX = 100_000  # bootstrap resamples: more only burns time (1e9 would run for days)
DTYPES = ("auto", "bf16", "fp16", "fp32")
JUDGE_MODES = ("pairwise", "rating")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")


def integer(name: str, value, *, low: int | None = None, high: int | None = None, optional: bool = False):
    """A whole number within [low, high]; booleans and fractions are refused, never rounded."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RmbenchError(f"{name} must be a whole number, not {_show(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise RmbenchError(f"{name} must be {_range(low, high)}, not {_show(value)}")
    return value


def number(name: str, value, *, low: float | None = None, high: float | None = None, low_open: bool = False,
           optional: bool = False):
    """A finite number within the range; `low_open` excludes low itself (e.g. beta > 0)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RmbenchError(f"{name} must be a finite number, not {_show(value)}")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        bound = f"above {low}" if low_open and high is None else (
            f"above {low} and at most {high}" if low_open else _range(low, high))
        raise RmbenchError(f"{name} must be {bound}, not {_show(value)}")
    return value


def choice(name: str, value, options: tuple[str, ...] | list[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise RmbenchError(f"{name} must be one of {', '.join(options)}, not {_show(value)}")
    return value


def text(name: str, value, *, optional: bool = False):
    """A string (a path, a model, a method): numbers and lists in its place are mistakes."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise RmbenchError(f"{name} must be a non-empty string, not {_show(value)}")
    return value


def texts(name: str, value) -> list[str]:
    """One string or a list of strings (e.g. `data: a.jsonl` or `data: [a.jsonl, b.jsonl]`)."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise RmbenchError(f"{name} must be a string or a list of strings, not {_show(value)}")
    return list(items)


def device(name: str, value) -> str:
    if not isinstance(value, str) or not _DEVICE.match(value):
        raise RmbenchError(f"{name} must be auto, cpu, mps, cuda or cuda:N, not {_show(value)}")
    return value


def seed(name: str, value):
    return integer(name, value, low=0, high=SEED_MAX)


def text_file(name: str, value) -> str:
    """A file the user names for its text (a chat or judge template): there, readable, UTF-8."""
    path = Path(text(name, value))
    if not path.is_file():
        raise RmbenchError(f"{name} {value}: no such file")
    try:
        path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RmbenchError(f"{name} {value}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise RmbenchError(f"{name} {value}: cannot read it ({err.strerror or err})") from None
    return value


def model_options(options, flags: dict[str, str] | None = None) -> None:
    """dtype, device, max_length, batch_tokens, chat_template as scorers and policies take them
    (a ModelOptions, or a dict of the same keys)."""
    if not isinstance(options, dict):
        options = asdict(options)
    flag = {"dtype": "--dtype", "device": "--device", "max_length": "--max-length",
            "batch_tokens": "--batch-tokens", "chat_template": "--chat-template", **(flags or {})}
    if options.get("chat_template") not in (None, "raw"):
        text_file(flag["chat_template"], options["chat_template"])
    if "dtype" in options:
        choice(flag["dtype"], options["dtype"], DTYPES)
    if "device" in options:
        device(flag["device"], options["device"])
    integer(flag["max_length"], options.get("max_length"), low=1, high=MAX_LENGTH_MAX, optional=True)
    integer(flag["batch_tokens"], options.get("batch_tokens"), low=1, high=BATCH_TOKENS_MAX, optional=True)


def _range(low, high) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    return f"at least {low}" if low is not None else f"at most {high}"


def _show(value) -> str:
    """The value as the user wrote it, cut short: a 10,000-digit number is not echoed whole."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit integer"  # str() of a 10,000-digit int raises
    shown = type(value).__name__ if isinstance(value, (dict, list)) else repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."
