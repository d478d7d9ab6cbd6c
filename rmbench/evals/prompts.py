"""Prompt sets for policy evaluation: any data rmbench reads (preference, SFT, KTO records or
plain {"prompt": ...} files) as prompts with the reference answers the data offers, for a
policy to answer and for ROUGE to compare with. Its own module so that loading prompts does
not need the sampling and judging machinery of evals.policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rmbench.data.adapters import FORMATS, Adapter, get_adapter, match_format
from rmbench.data.loading import record_sources
from rmbench.data.schema import Message, PreferenceExample, SFTExample, UnpairedExample
from rmbench.data.skips import SkipLog, SkipRecord
from rmbench.errors import DataError

PROMPTS_FORMAT = "prompts"


@dataclass(frozen=True)
class PolicyPrompt:
    id: str
    subset: str
    prompt: list[Message]
    references: list[str] = field(default_factory=list)  # answers to compare with (ROUGE); may be empty

    def validate(self, where: str) -> PolicyPrompt:
        if not self.prompt:
            raise DataError(f"{where}: empty prompt")
        if self.prompt[-1]["role"] == "assistant":
            raise DataError(f"{where}: the prompt ends with an assistant turn; a policy needs a turn to answer")
        return self


class _PromptOnlyAdapter(Adapter):
    """{"prompt": text or messages, optional "reference"}: prompt sets with nothing to compare."""

    name = PROMPTS_FORMAT
    kind = "prompts"

    def detect(self, record: dict) -> bool:
        return isinstance(record.get("prompt"), (str, list))

    def build(self, rec) -> PolicyPrompt:
        reference = rec.data.get("reference")
        references = [reference] if isinstance(reference, str) and reference.strip() else []
        return PolicyPrompt(rec.id, rec.subset, rec.prompt("prompt"), references)


_PROMPT_ONLY = _PromptOnlyAdapter()


def load_prompts(source: str, format: str | None = None, split: str | None = None,
                 limit: int | None = None, skips: SkipLog | None = None) -> list[PolicyPrompt]:
    """Prompts from any data rmbench reads: preference data (references = the chosen answers),
    SFT data (the reference output), KTO data (the completion when labelled good), or plain
    {"prompt": ...} records. Records an adapter cannot read are skipped into `skips` (the
    record policy of rmbench.data.skips); without a log they are counted and warned about."""
    log = skips if skips is not None else SkipLog()
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of prompts, got {limit}")
    if format is not None and format != PROMPTS_FORMAT:
        get_adapter(format, source)
    prompts: list[PolicyPrompt] = []
    for origin, records in record_sources(source, split):
        if not records:
            raise DataError(f"{origin}: holds no records")
        name = format or match_format(records[0]) or (PROMPTS_FORMAT if _PROMPT_ONLY.detect(records[0]) else None)
        if name is None:
            keys = ", ".join(sorted(map(str, records[0]))) if isinstance(records[0], dict) else "none"
            raise DataError(f"{origin} record 0: holds no prompt (keys: {keys}); give {{\"prompt\": ...}} records "
                            f"or one of the formats {', '.join(FORMATS)}")
        adapter = _PROMPT_ONLY if name == PROMPTS_FORMAT else get_adapter(name)
        remaining = None if limit is None else limit - len(prompts)
        read = 0
        for index, record in enumerate(records[:remaining]):
            try:
                example = adapter.convert(record, index, None, origin)
            except SkipRecord as skip:
                if not (skip.excluded and skip.prompt is not None):
                    log.add(skip.located(f"{origin} record {index}", None))
                    continue
                # left out of a reward benchmark's score by its rules (a PPE tie), yet a fine prompt
                example = PolicyPrompt(skip.id, skip.subset, skip.prompt, skip.references)
            prompts.append(_as_prompt(example, f"{origin} record {index}"))
            read += 1
        if records and not read and not prompts:
            raise DataError(f"{origin}: no record could be read as a prompt ({log.summary()})")
        if remaining is not None and len(records) > remaining:
            log.cut.append(origin)
        if limit is not None and len(prompts) >= limit:
            break
    if skips is None:
        log.warn(source)
    return unique_ids(prompts)


def _as_prompt(example, where: str) -> PolicyPrompt:
    if isinstance(example, PolicyPrompt):
        prompt = example
    elif isinstance(example, PreferenceExample):
        prompt = PolicyPrompt(example.id, example.subset, example.prompt, list(example.chosen))
    elif isinstance(example, SFTExample):
        prompt = PolicyPrompt(example.id, example.subset, example.prompt, [example.completion])
    elif isinstance(example, UnpairedExample):
        prompt = PolicyPrompt(example.id, example.subset, example.prompt, [example.completion] if example.label else [])
    else:  # a new kind of example: better a clear error than a silent skip
        raise DataError(f"{where}: {type(example).__name__} records cannot serve as prompts")
    return prompt.validate(where)


def unique_ids(prompts: list[PolicyPrompt]) -> list[PolicyPrompt]:
    """Rows are keyed by (subset, id): repeated ids get "#2", "#3", never a silent drop."""
    seen: dict[tuple[str, str], int] = {}
    unique = []
    for p in prompts:
        count = seen.get((p.subset, p.id), 0) + 1
        seen[(p.subset, p.id)] = count
        unique.append(p if count == 1 else PolicyPrompt(f"{p.id}#{count}", p.subset, p.prompt, p.references))
    return unique
