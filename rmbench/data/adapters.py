"""One adapter per upstream data format, each turning a raw record into the schema.

Public data sets each ship their own shape; a small adapter per shape keeps harnesses and
trainers free of special cases. Formats are recognised by the keys a record carries,
most specific first, because several of them share `prompt`/`chosen`/`rejected`.

Every adapter resolves ids and subsets the same way: the record's `id` when it has one
(as text), else "<subset>-<index>"; the subset is the caller's `subset=` when given, else
the record's own `subset` column for formats whose column means an rmbench subset (TRL /
RewardBench v1, RewardBench 2), else a name derived from the file. A `subset` column that
is not used that way is kept in meta["source_subset"] so no upstream label is lost.
"""

from __future__ import annotations

import re
from typing import Any

from rmbench.data.adapter_base import Adapter, Record, is_text_list, record_keys
from rmbench.data.schema import Message, PreferenceExample, SFTExample, UnpairedExample
from rmbench.errors import DataError

_HH_ASSISTANT = "\n\nAssistant:"
_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


class TRLAdapter(Adapter):
    """TRL preference data, explicit or implicit prompt; RewardBench v1 rows are this shape."""

    name = "trl"
    subset_column = True

    def detect(self, record: dict) -> bool:
        has_pair = "chosen" in record and "rejected" in record
        implicit = isinstance(record.get("chosen"), list) and isinstance(record.get("rejected"), list)
        return has_pair and ("prompt" in record or implicit)

    def build(self, rec: Record) -> PreferenceExample:
        chosen, rejected = rec.completion("chosen"), rec.completion("rejected")
        prompt = rec.prompt("prompt") if rec.data.get("prompt") is not None else self._implicit_prompt(rec)
        meta = rec.meta("prompt", "chosen", "rejected")
        return PreferenceExample(rec.id, rec.subset, prompt, [chosen], [rejected], meta)

    def _implicit_prompt(self, rec: Record) -> list[Message]:
        """TRL's implicit-prompt form: the turns both conversations share are the prompt."""
        if not isinstance(rec.data["chosen"], list):
            raise rec.fail(
                "no 'prompt', and chosen/rejected are plain text, so the prompt cannot be inferred; "
                "add a prompt column (or use --format hh-rlhf for Human:/Assistant: transcripts)", "missing-field"
            )
        chosen_turns, _ = rec.final_reply("chosen")
        rejected_turns, _ = rec.final_reply("rejected")
        if chosen_turns != rejected_turns:
            raise rec.fail(
                "no 'prompt', and chosen and rejected differ before their last message; add a prompt",
                "diverging-prefix",
            )
        if not chosen_turns:
            raise rec.fail("no 'prompt', and chosen/rejected hold only the reply; add a prompt", "empty-prompt")
        return chosen_turns


class RewardBench2Adapter(Adapter):
    """allenai/reward-bench-2: several chosen and rejected completions per prompt."""

    name = "rewardbench2"
    subset_column = True

    def detect(self, record: dict) -> bool:
        return isinstance(record.get("chosen"), list) and isinstance(record.get("rejected"), list) and (
            "num_correct" in record
        )

    def build(self, rec: Record) -> PreferenceExample:
        return PreferenceExample(
            rec.id, rec.subset, rec.prompt("prompt"), rec.texts("chosen"), rec.texts("rejected"),
            rec.meta("prompt", "chosen", "rejected"),
        )


RM_BENCH_STYLES = ("concise", "detailed_plain", "detailed_markdown")


class RMBenchAdapter(Adapter):
    """RM-Bench: 3 styles (concise, detailed plain, detailed markdown) on each side.

    Its `subset` column is the upstream source (e.g. "alpacaeval"); the rmbench subset is the
    domain in the file name, since RM-Bench reports accuracy per domain.
    """

    name = "rm-bench"
    styles = 3

    def detect(self, record: dict) -> bool:
        return (
            is_text_list(record.get("chosen"), self.styles)
            and is_text_list(record.get("rejected"), self.styles)
            and "num_correct" not in record
        )

    def build(self, rec: Record) -> PreferenceExample:
        chosen, rejected = rec.texts("chosen"), rec.texts("rejected")
        if len(chosen) != self.styles or len(rejected) != self.styles:
            raise rec.fail(
                f"rm-bench needs exactly {self.styles} chosen and {self.styles} rejected completions "
                f"(concise, detailed plain, detailed markdown); "
                f"got {len(chosen)} chosen and {len(rejected)} rejected"
            )
        # Declares the completions style-ordered: the harness builds RM-Bench's matrix from it.
        meta = {**rec.meta("prompt", "chosen", "rejected"), "styles": list(RM_BENCH_STYLES)}
        return PreferenceExample(rec.id, rec.subset, rec.prompt("prompt"), chosen, rejected, meta)

    def subset_from_stem(self, stem: str) -> str:
        return stem.removesuffix("_filtered")


class LLMBarAdapter(Adapter):
    """LLMBar: two outputs and a label naming the better one."""

    name = "llmbar"

    def detect(self, record: dict) -> bool:
        return {"input", "output_1", "output_2", "label"} <= record.keys()

    def build(self, rec: Record) -> PreferenceExample:
        outputs = {1: rec.require("output_1"), 2: rec.require("output_2")}
        label = rec.require("label")
        if isinstance(label, bool) or label not in outputs:
            raise rec.fail(f"label is {label!r}, expected 1 or 2 (the better output)")
        # The label stays in meta: which position won matters for position-bias analyses.
        return PreferenceExample(
            rec.id, rec.subset, rec.prompt("input"), [outputs[label]], [outputs[3 - label]],
            rec.meta("input", "output_1", "output_2"),
        )


class HHRLHFAdapter(Adapter):
    """Anthropic HH-RLHF: whole transcripts whose shared part up to the last assistant turn is the prompt."""

    name = "hh-rlhf"

    def detect(self, record: dict) -> bool:
        sides = (record.get("chosen"), record.get("rejected"))
        transcripts = all(isinstance(text, str) and _HH_ASSISTANT in text for text in sides)
        return transcripts and "prompt" not in record

    def build(self, rec: Record) -> PreferenceExample:
        chosen_prefix, chosen = self._split(rec, "chosen")
        rejected_prefix, rejected = self._split(rec, "rejected")
        if chosen_prefix != rejected_prefix:
            raise rec.skip(
                "diverging-prefix", "chosen and rejected transcripts differ before their last assistant turn"
            )
        prompt, meta = self._turns(rec, chosen_prefix), rec.meta("chosen", "rejected")
        return PreferenceExample(rec.id, rec.subset, prompt, [chosen], [rejected], meta)

    def _split(self, rec: Record, key: str) -> tuple[str, str]:
        text = rec.require(key)
        if not isinstance(text, str):
            raise rec.fail(f"{key} is {type(text).__name__}, expected a transcript")
        cut = text.rfind(_HH_ASSISTANT)
        if cut < 0:
            raise rec.fail(f"{key} transcript has no '\\n\\nAssistant:' turn", "no-reply")
        return text[:cut], text[cut + len(_HH_ASSISTANT):].lstrip()

    def _turns(self, rec: Record, transcript: str) -> list[Message]:
        # re.split with one group gives [text before the first turn, role, content, role, content, ...]
        parts = _HH_TURN.split(transcript)
        if parts[0].strip():
            raise rec.fail("transcript does not start with a '\\n\\nHuman:' turn")
        return [
            {"role": _HH_ROLES[role], "content": content.strip()}
            for role, content in zip(parts[1::2], parts[2::2], strict=True)
        ]


class ShareGPTAdapter(Adapter):
    """LLaMA-Factory pairwise data in ShareGPT style: conversation plus a chosen and a rejected turn."""

    name = "sharegpt"

    def detect(self, record: dict) -> bool:
        return (
            isinstance(record.get("conversations"), list)
            and isinstance(record.get("chosen"), dict)
            and isinstance(record.get("rejected"), dict)
        )

    def build(self, rec: Record) -> PreferenceExample:
        prompt = rec.messages(rec.require("conversations"), "conversations")
        system = rec.data.get("system")
        if system:
            prompt = [{"role": "system", "content": system}, *prompt]
        return PreferenceExample(
            rec.id, rec.subset, prompt, [self._reply(rec, "chosen")], [self._reply(rec, "rejected")],
            rec.meta("conversations", "system", "chosen", "rejected"),
        )

    def _reply(self, rec: Record, key: str) -> str:
        message = rec.message(rec.require(key), key)
        if message["role"] != "assistant":
            raise rec.fail(f"{key} comes from {message['role']!r}, expected the assistant (gpt)")
        return message["content"]


class KTOAdapter(Adapter):
    """Unpaired data: LLaMA-Factory {messages, label} or TRL {prompt, completion, label}."""

    name = "kto"
    kind = "unpaired"

    def detect(self, record: dict) -> bool:
        return "label" in record and ("messages" in record or {"prompt", "completion"} <= record.keys())

    def build(self, rec: Record) -> UnpairedExample:
        if "messages" in rec.data:
            prompt, completion = rec.final_reply("messages")
            used: tuple[str, ...] = ("messages", "label")
        else:
            prompt, completion = rec.prompt("prompt"), rec.completion("completion")
            used = ("prompt", "completion", "label")
        return UnpairedExample(rec.id, rec.subset, prompt, completion, rec.label("label"), rec.meta(*used))


class AlpacaAdapter(Adapter):
    """SFT data: Alpaca {instruction, input, output}, TRL {prompt, completion} or {messages}."""

    name = "alpaca"
    kind = "sft"

    def detect(self, record: dict) -> bool:
        return (
            {"instruction", "output"} <= record.keys()
            or {"prompt", "completion"} <= record.keys()
            or "messages" in record
        )

    def build(self, rec: Record) -> SFTExample:
        if "messages" in rec.data:
            prompt, completion = rec.final_reply("messages")
            used: tuple[str, ...] = ("messages",)
        elif "prompt" in rec.data:
            prompt, completion = rec.prompt("prompt"), rec.completion("completion")
            used = ("prompt", "completion")
        else:
            prompt, completion = self._alpaca(rec), rec.require("output")
            used = ("instruction", "input", "output", "system", "history")
        return SFTExample(rec.id, rec.subset, prompt, completion, rec.meta(*used))

    def _alpaca(self, rec: Record) -> list[Message]:
        """LLaMA-Factory's Alpaca form: optional system text and [question, answer] history."""
        instruction, extra = rec.require("instruction"), rec.data.get("input")
        prompt: list[Message] = []
        if rec.data.get("system"):
            prompt.append({"role": "system", "content": rec.data["system"]})
        for turn in rec.data.get("history") or []:
            if not (isinstance(turn, list) and len(turn) == 2):
                raise rec.fail("history must hold [question, answer] pairs")
            prompt += [{"role": "user", "content": turn[0]}, {"role": "assistant", "content": turn[1]}]
        prompt.append({"role": "user", "content": f"{instruction}\n\n{extra}" if extra else instruction})
        return prompt


# Detection order: most specific first (several formats share chosen/rejected/prompt).
_DETECTION_ORDER: tuple[Adapter, ...] = (
    RewardBench2Adapter(),
    RMBenchAdapter(),
    LLMBarAdapter(),
    ShareGPTAdapter(),
    HHRLHFAdapter(),
    TRLAdapter(),
    KTOAdapter(),
    AlpacaAdapter(),
)
ADAPTERS: dict[str, Adapter] = {adapter.name: adapter for adapter in _DETECTION_ORDER}
FORMATS: list[str] = ["trl", "rewardbench2", "rm-bench", "llmbar", "hh-rlhf", "sharegpt", "kto", "alpaca"]


def get_adapter(format: str, source: str | None = None) -> Adapter:
    """The adapter for a `--format` name; `source` names the data in the error."""
    if format not in ADAPTERS:
        prefix = f"{source}: " if source else ""
        raise DataError(f"{prefix}unknown format {format!r}; valid formats: {', '.join(FORMATS)}")
    return ADAPTERS[format]


def match_format(record: Any) -> str | None:
    """The first format whose shape `record` has, or None."""
    if not isinstance(record, dict):
        return None
    return next((adapter.name for adapter in _DETECTION_ORDER if adapter.detect(record)), None)


def detect_format(record: Any, where: str = "record") -> str:
    """The format `record` looks like; a DataError naming its keys when it fits none."""
    if not isinstance(record, dict):
        raise DataError(f"{where}: is {type(record).__name__}, expected an object with named fields")
    name = match_format(record)
    if name is None:
        raise DataError(
            f"{where}: matches no known format (record has keys: {record_keys(record)}); "
            f"known formats: {', '.join(FORMATS)}; pass --format to choose one"
        )
    return name
