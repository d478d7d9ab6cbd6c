"""Training data through the evaluation harness's adapters, so every format it reads trains.

Held-out prompts are chosen by a hash of the prompt, not by position: the split is the
same on every run and resume, and a prompt never sits on both sides. Records the adapters
cannot read follow the record policy (rmbench.data.skips): counted in the caller's SkipLog,
or an error under strict; a loader tried as a fallback never hides a strict refusal.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rich.text import Text

from rmbench import runs
from rmbench.data import load_preferences, load_sft, load_unpaired
from rmbench.data.schema import PreferenceExample, SFTExample, UnpairedExample
from rmbench.data.skips import SkipLog, StrictSkipError
from rmbench.data.skips import notes as skip_notes
from rmbench.errors import DataError
from rmbench.scoring.formatting import raw_text
from rmbench.terminal import console

ASSISTANT = "assistant"


def _heldout(prompt: list[dict], fraction: float, seed: int) -> bool:
    digest = hashlib.sha256(json.dumps([seed, prompt], sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_examples(examples: list, fraction: float, seed: int) -> tuple[list, list]:
    train = [e for e in examples if not _heldout(e.prompt, fraction, seed)]
    heldout = [e for e in examples if _heldout(e.prompt, fraction, seed)]
    if fraction > 0 and not heldout and len(examples) > 1:
        train, heldout = examples[:-1], examples[-1:]  # tiny sets: still keep one out
    if not train:
        raise DataError("no training examples left after the held-out split; lower heldout_fraction")
    return train, heldout


def load_for(kind: str, sources: list[str], fmt: str | None, limit: int | None, skips: SkipLog | None = None) -> list:
    """kind: preference (rm, DPO family), unpaired (KTO), sft. Skipped records go to `skips`
    (the caller reports them); without one they are logged as a warning."""
    log = skips if skips is not None else SkipLog()
    examples: list = []
    for source in sources:
        if kind == "unpaired":
            examples += _unpaired_or_split_pairs(source, fmt, limit, log)
        elif kind == "sft":
            examples += _sft_or_chosen(source, fmt, limit, log)
        else:
            examples += load_preferences(source, format=fmt, limit=limit, strict=log.strict, skips=log)
    if not examples:
        raise DataError(f"no training examples in {', '.join(sources)}")
    if skips is None:
        log.warn(", ".join(sources))
    return examples


def report_skips(skips: SkipLog) -> None:
    """The terminal line(s) about records the training data left out, with their first ids
    (the run file lists up to 100); nothing when every record was read. Main process only."""
    if runs.is_main_process():
        for line in skip_notes(skips.records(), listed_in=runs.RUN_FILE):
            console.print(Text.assemble(("note: ", "yellow"), line), highlight=False, soft_wrap=True)


def _sft_or_chosen(source: str, fmt: str | None, limit: int | None, skips: SkipLog) -> list:
    """SFT takes instruction data as it is, or preference pairs' chosen answers (the usual
    warm-up before RM and DPO training on the same pairs)."""
    try:
        return load_sft(source, format=fmt, limit=limit, strict=skips.strict, skips=skips)
    except StrictSkipError:
        raise
    except DataError as sft_error:
        try:
            pairs = load_preferences(source, format=fmt, limit=limit, strict=skips.strict, skips=skips)
        except StrictSkipError:
            raise
        except DataError:
            raise sft_error from None
    return [SFTExample(e.id, e.subset, e.prompt, e.chosen[0], e.meta) for e in pairs]


def _unpaired_or_split_pairs(source: str, fmt: str | None, limit: int | None, skips: SkipLog) -> list:
    """KTO takes unpaired data as it is, or pairwise data (kept as pairs until after the
    held-out split, so held-out prompts can still be scored pairwise)."""
    try:
        return load_unpaired(source, format=fmt, limit=limit, strict=skips.strict, skips=skips)
    except StrictSkipError:
        raise
    except DataError as unpaired_error:
        try:
            return load_preferences(source, format=fmt, limit=limit, strict=skips.strict, skips=skips)
        except StrictSkipError:
            raise
        except DataError:
            raise unpaired_error from None


def pairs_to_unpaired(pairs: list[PreferenceExample]) -> list:
    """Chosen completions become desirable examples, rejected ones undesirable."""
    return [UnpairedExample(f"{p.id}/{side}{n}", p.subset, p.prompt, text, side == "chosen", p.meta)
            for p in pairs for side, texts in (("chosen", p.chosen), ("rejected", p.rejected))
            for n, text in enumerate(texts)]


def preference_rows(examples: list[PreferenceExample]) -> list[dict]:
    """TRL's conversational preference format; several completions become every chosen x rejected pair."""
    return [{"prompt": e.prompt, "chosen": [{"role": ASSISTANT, "content": c}],
             "rejected": [{"role": ASSISTANT, "content": r}]}
            for e in examples for c in e.chosen for r in e.rejected]


def raw_preference_rows(examples: list[PreferenceExample]) -> list[dict]:
    """Plain-text pairs for models without a chat template, formatted as the evaluation's raw mode."""
    return [{"chosen": raw_text(e.prompt, c), "rejected": raw_text(e.prompt, r)}
            for e in examples for c in e.chosen for r in e.rejected]


def truncate_left(rows: list[dict], tokenizer, max_length: int) -> int:
    """Cut plain-text rows to their last tokens, in place, so none exceeds max_length.

    TRL's RewardTrainer drops pairs longer than max_length; for encoders capped at 512
    positions that can be most of a data set. Evaluation keeps a long input's end (where
    the answer is), so training keeps the same part. Returns how many texts were cut.
    """
    # room for the tokenizer's specials and the EOS TRL appends
    room = max_length - tokenizer.num_special_tokens_to_add(pair=False) - 1
    cut = 0
    for row in rows:
        for key in ("chosen", "rejected"):
            ids = tokenizer(row[key], add_special_tokens=False)["input_ids"]
            if len(ids) <= room:
                continue
            keep = room
            while len(ids) > room:  # decoding then re-encoding can grow by a token or two
                row[key] = tokenizer.decode(ids[-keep:])
                ids = tokenizer(row[key], add_special_tokens=False)["input_ids"]
                keep -= 1
            cut += 1
    return cut


def unpaired_rows(examples: list) -> list[dict]:
    return [{"prompt": e.prompt, "completion": [{"role": ASSISTANT, "content": e.completion}], "label": e.label}
            for e in examples]


def sft_rows(examples: list) -> list[dict]:
    """Prompt-completion form: TRL's SFT masks the prompt and trains on the completion only."""
    return [{"prompt": e.prompt, "completion": [{"role": ASSISTANT, "content": e.completion}]} for e in examples]


def write_preference_file(path: Path, examples: list[PreferenceExample]) -> Path:
    """A split in TRL preference format (first chosen vs first rejected): the held-out split
    is scored at every checkpoint; the train split teaches baseline:bow without leaking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for e in examples:
            handle.write(json.dumps({"id": e.id, "subset": path.stem, "prompt": e.prompt, "chosen": e.chosen[0],
                                     "rejected": e.rejected[0]}, ensure_ascii=False) + "\n")
    return path


# --- prompts for online methods and distillation --------------------------------------------------

PROMPTED_KINDS = ("prompts", "distill")  # RLOO/GRPO sample their own completions; distillation needs the prompts


def load_prompted(kind: str, sources: list[str], fmt: str | None, limit: int | None,
                  skips: SkipLog | None = None) -> list:
    """Prompts (with a completion each) from any data the harness reads: SFT, preference or unpaired.

    Online methods use only the prompts. Supervised KD teacher-forces on the completion: an
    SFT completion, a pair's first chosen answer, or an unpaired completion whatever its
    label (the student learns the teacher's distribution along the text, not to imitate it).
    """
    log = skips if skips is not None else SkipLog()
    examples: list = []
    for source in sources:
        examples += _prompted(source, fmt, limit, log)
    if not examples:
        raise DataError(f"no prompts in {', '.join(sources)}")
    if skips is None:
        log.warn(", ".join(sources))
    return examples


def _prompted(source: str, fmt: str | None, limit: int | None, skips: SkipLog) -> list:
    errors = []
    for loader in (load_sft, load_preferences, load_unpaired):
        try:
            loaded = loader(source, format=fmt, limit=limit, strict=skips.strict, skips=skips)
        except StrictSkipError:
            raise
        except DataError as err:
            errors.append(err)
            continue
        return [e if isinstance(e, SFTExample) else
                SFTExample(e.id, e.subset, e.prompt, e.chosen[0] if isinstance(e, PreferenceExample) else e.completion,
                           e.meta) for e in loaded]
    # each loader refuses the others' kinds; the error worth showing is the one about the data itself
    raise next((e for e in errors if "load it with load_" not in str(e)), errors[0])


def prompt_rows(examples: list) -> list[dict]:
    """One conversational prompt per distinct prompt: TRL samples the completions itself."""
    seen: set[str] = set()
    rows = []
    for e in examples:
        key = json.dumps(e.prompt, sort_keys=True)
        if key not in seen:
            seen.add(key)
            rows.append({"prompt": e.prompt})
    return rows


def distill_rows(examples: list) -> list[dict]:
    """TRL's GKD collator reads a `messages` column whose last turn is the completion."""
    return [{"messages": [*e.prompt, {"role": ASSISTANT, "content": e.completion}]} for e in examples]


def write_prompt_file(path: Path, examples: list) -> Path:
    """The held-out prompts (with their data completion) as SFT rows, for policy evaluation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for e in examples:
            handle.write(json.dumps({"id": e.id, "prompt": e.prompt, "completion": e.completion},
                                    ensure_ascii=False) + "\n")
    return path
