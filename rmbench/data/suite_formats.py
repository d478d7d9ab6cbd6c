"""Adapters for the benchmark files of the standard battery: JudgeBench, RMB, M-RewardBench.

Each reads the upstream files exactly as they are published (no conversion step) and
declares, in meta["rmbench_metric"], the metric its benchmark scores it with, because that
follows from the format (an RMB best-of-N record is scored by RMB's all-losers rule
wherever it is loaded from, with or without a manifest).

They are registered into rmbench.data.adapters' detection order on import (this module
is imported by rmbench.data); their records carry keys no other format has, so they are
tried first. A record that cannot be interpreted (a JudgeBench label that is neither
"A>B" nor "B>A", an RMB best-of-N record without losers) is skipped and counted through
rmbench.data.skips, never fatal to the file.
"""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any

import rmbench.data.adapters as adapters
from rmbench.data.adapters import Adapter
from rmbench.data.schema import PreferenceExample
from rmbench.data.skips import SkipRecord

METRIC_KEY = "rmbench_metric"

# JudgeBench's source families, as run_judge.py groups them (a prefix of `source`) and the
# paper names them.
JUDGEBENCH_FAMILIES = (
    ("mmlu-pro", "knowledge"),
    ("livebench-reasoning", "reasoning"),
    ("livebench-math", "math"),
    ("livecodebench", "coding"),
)
JUDGEBENCH_LABELS = ("A>B", "B>A")


def judgebench_family(source: str) -> str:
    """knowledge / reasoning / math / coding; an unknown source stands as its own subset."""
    return next((family for prefix, family in JUDGEBENCH_FAMILIES if source.startswith(prefix)), source)


def _skip(rec, reason: str, detail: str) -> SkipRecord:
    return SkipRecord(reason, detail, where=rec.where, id=rec.id)


class _OwnSubset(Adapter):
    """Formats whose records name their own subset (JudgeBench's source family, RMB's
    category path); a caller's `subset=` still wins."""

    def own_subset(self, record: dict) -> str | None:
        raise NotImplementedError

    def convert(self, record: Any, index: int, subset: str | None = None, source: str | None = None):
        if subset is None and isinstance(record, dict):
            subset = self.own_subset(record)
        return super().convert(record, index, subset, source)


def _category_path(record: dict) -> str | None:
    path = record.get("category_path")
    return path if isinstance(path, str) and path else None


def _own_id(rec, key: str) -> str:
    """The upstream id (pair_id, pair_uid, bon_uid) names the example and any skip of it."""
    value = rec.data.get(key)
    if value is not None and not isinstance(value, (dict, list)):
        rec.id = str(value)
    return rec.id


def _text(rec, key: str) -> str:
    value = rec.require(key)
    if not isinstance(value, str):
        raise _skip(rec, "bad-value", f"{key} is {type(value).__name__}, expected text")
    return value


class JudgeBenchAdapter(_OwnSubset):
    """ScalerLab/JudgeBench pairs: question, response_A, response_B, label "A>B"/"B>A", source."""

    name = "judgebench"

    def detect(self, record: dict) -> bool:
        return {"question", "response_A", "response_B", "label"} <= record.keys()

    def own_subset(self, record: dict) -> str | None:
        source = record.get("source")
        return judgebench_family(source) if isinstance(source, str) and source else None

    def build(self, rec) -> PreferenceExample:
        _own_id(rec, "pair_id")
        label = rec.require("label")
        if label not in JUDGEBENCH_LABELS:
            raise _skip(rec, "bad-label", f"label is {label!r}, expected 'A>B' or 'B>A'")
        a, b = _text(rec, "response_A"), _text(rec, "response_B")
        chosen, rejected = (a, b) if label == "A>B" else (b, a)
        meta = {**rec.meta("question", "response_A", "response_B"), METRIC_KEY: "judgebench"}
        return PreferenceExample(rec.id, rec.subset, rec.prompt("question"), [chosen], [rejected], meta)


def _messages(rec, key: str) -> list:
    """RMB's conversation_input: messages with role, content (and a `language` we keep aside)."""
    value = rec.require(key)
    if not isinstance(value, list) or not value:
        raise _skip(rec, "bad-value", f"{key} is not a non-empty list of messages")
    return rec.messages([{"role": m.get("role"), "content": m.get("content")} if isinstance(m, dict) else m
                         for m in value], key)


def _answer(rec, key: str, value: Any = None) -> str:
    item = rec.require(key) if value is None else value
    answer = item.get("answer") if isinstance(item, dict) else None
    if not isinstance(answer, str):
        raise _skip(rec, "bad-value", f"{key} needs an object with an 'answer' text")
    return answer


class RMBPairwiseAdapter(_OwnSubset):
    """RMB Pairwise_set: conversation_input, chosen/reject {llm_name, answer}, pair_uid, category_path."""

    name = "rmb-pairwise"

    def detect(self, record: dict) -> bool:
        return {"conversation_input", "chosen", "reject"} <= record.keys()

    def own_subset(self, record: dict) -> str | None:
        return _category_path(record)

    def build(self, rec) -> PreferenceExample:
        _own_id(rec, "pair_uid")
        prompt = _messages(rec, "conversation_input")
        meta = {**rec.meta("conversation_input", "chosen", "reject"), METRIC_KEY: "rmb_pairwise",
                "chosen_model": (rec.data["chosen"] or {}).get("llm_name"),
                "rejected_model": (rec.data["reject"] or {}).get("llm_name")}
        return PreferenceExample(rec.id, rec.subset, prompt,
                                 [_answer(rec, "chosen")], [_answer(rec, "reject")], meta)


class RMBBoNAdapter(_OwnSubset):
    """RMB BoN_set: conversation_input, bon_best {llm_name, answer}, loser_list [...], bon_uid."""

    name = "rmb-bon"

    def detect(self, record: dict) -> bool:
        return {"conversation_input", "bon_best", "loser_list"} <= record.keys()

    def own_subset(self, record: dict) -> str | None:
        return _category_path(record)

    def build(self, rec) -> PreferenceExample:
        _own_id(rec, "bon_uid")
        prompt = _messages(rec, "conversation_input")
        losers = rec.data.get("loser_list")
        if not isinstance(losers, list) or not losers:
            raise _skip(rec, "no-losers", "loser_list is empty: a best-of-N item needs at least one loser to beat")
        rejected = [_answer(rec, "loser_list", item) for item in losers]
        meta = {**rec.meta("conversation_input", "bon_best", "loser_list"), METRIC_KEY: "rmb_bon",
                "chosen_model": (rec.data["bon_best"] or {}).get("llm_name"),
                "rejected_models": [item.get("llm_name") for item in losers]}
        return PreferenceExample(rec.id, rec.subset, prompt,
                                 [_answer(rec, "bon_best")], rejected, meta)


_FLORES = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")  # M-RewardBench's config names: deu_Latn, zho_Hant, ...


class MRewardBenchAdapter(Adapter):
    """M-RewardBench (CohereLabsCommunity/multilingual-reward-bench): RewardBench rows translated
    into 23 languages, one config (folder) per language: id, language, prompt, chosen, rejected,
    chosen_model, rejected_model, source (the RewardBench subset). The rmbench subset is
    "<config>/<source>", the config read from the file's folder (deu_Latn/test-*.parquet)."""

    name = "m-rewardbench"

    def detect(self, record: dict) -> bool:
        return {"prompt", "chosen", "rejected", "language", "source"} <= record.keys() and isinstance(
            record.get("chosen"), str)

    def convert(self, record: Any, index: int, subset: str | None = None, source: str | None = None):
        if subset is None and isinstance(record, dict) and isinstance(record.get("source"), str):
            folder = PurePath(source).parent.name if source else ""
            language = folder if _FLORES.match(folder) else str(record.get("language") or "unknown")
            subset = f"{language}/{record['source']}"
        return super().convert(record, index, subset, source)

    def build(self, rec) -> PreferenceExample:
        meta = {**rec.meta("prompt", "chosen", "rejected"), METRIC_KEY: "m_rewardbench"}
        return PreferenceExample(rec.id, rec.subset, rec.prompt("prompt"), [_text(rec, "chosen")],
                                 [_text(rec, "rejected")], meta)


SUITE_ADAPTERS: tuple[Adapter, ...] = (JudgeBenchAdapter(), RMBBoNAdapter(), RMBPairwiseAdapter(),
                                       MRewardBenchAdapter())


def register(*new: Adapter) -> None:
    """Put adapters defined outside rmbench.data.adapters into its registry, tried first
    (their keys are specific enough that no other format can claim their records)."""
    fresh = [a for a in new if a.name not in adapters.ADAPTERS]
    adapters._DETECTION_ORDER = (*fresh, *adapters._DETECTION_ORDER)
    for adapter in fresh:
        adapters.ADAPTERS[adapter.name] = adapter
        adapters.FORMATS.append(adapter.name)


register(*SUITE_ADAPTERS)

__all__ = ["METRIC_KEY", "SUITE_ADAPTERS", "SkipRecord", "judgebench_family", "register"]
