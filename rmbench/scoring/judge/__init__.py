"""LLM-as-a-judge: a language model compares two replies, or grades one, instead of a reward head.

Two backends share one judging prompt (templates.py) and one verdict shape (verdicts.py):
`LocalJudge` (local.py) reads a causal LM's label probabilities in-process; `OpenAIJudge`
(openai.py) asks any OpenAI-compatible server and parses its reply. Both are pairwise
judges in pairwise mode (an outcome per comparison; scoring.judging asks both answer
orders) and rmbench `Scorer`s in rating mode (a completion's score is its rating), so the
shared runner caches and resumes them like any reward model.
"""

from __future__ import annotations

import inspect
from typing import Any

from rmbench.errors import RmbenchError
from rmbench.scoring.judge.local import LocalJudge
from rmbench.scoring.judge.openai import OPENAI_PREFIX, OpenAIJudge
from rmbench.scoring.judge.templates import MODES, PLACEHOLDERS, JudgeTemplate, render_conversation
from rmbench.scoring.judge.verdicts import (
    JudgeRequest,
    PairwiseJudge,
    Verdict,
    comparison_outcome,
    parse_rating,
    parse_verdict,
)

__all__ = ["MODES", "OPENAI_PREFIX", "PLACEHOLDERS", "JudgeRequest", "JudgeTemplate", "LocalJudge", "OpenAIJudge",
           "PairwiseJudge", "Verdict", "build_judge", "comparison_outcome", "parse_rating", "parse_verdict",
           "render_conversation"]

# Options that load a model on this machine, and their "not given" values: a caller passes
# one set of flags, so these may reach a server judge, but only at their defaults.
_LOCAL_ONLY = {"dtype": "auto", "device": "auto", "chat_template": None, "max_length": None, "batch_tokens": None,
               "trust_remote_code": False}
_FLAGS = {"dtype": "--dtype", "device": "--device", "chat_template": "--chat-template", "max_length": "--max-length",
          "batch_tokens": "--batch-tokens", "trust_remote_code": "--trust-remote-code",
          "concurrency": "--concurrency", "engine": "--engine", "tokenizer": "--tokenizer"}


def build_judge(spec: str, *, url: str | None = None, mode: str = "pairwise", template: str | None = None,
                **options) -> LocalJudge | OpenAIJudge:
    """`openai:MODEL` talks to a server at `url`; anything else is a local checkpoint (folder,
    .gguf or hub id). An option the chosen backend cannot use is an error naming its flag,
    never silently dropped: a user who set --batch-tokens for a server judge, or
    --concurrency for a local one, would otherwise believe it took effect."""
    if spec.startswith(OPENAI_PREFIX):
        if not url:
            raise RmbenchError(f"{spec} is served over HTTP: pass the server's url, e.g. --judge-url "
                               "http://127.0.0.1:8000/v1")
        given = {k: v for k, v in options.items() if k not in _LOCAL_ONLY or v != _LOCAL_ONLY[k]}
        return OpenAIJudge(spec[len(OPENAI_PREFIX):], url=url, mode=mode, template=template,
                           **_accepted(OpenAIJudge, given, spec, "a local judge model"))
    if url:
        raise RmbenchError(f"a judge url only applies to openai:MODEL judges, not to the local model {spec}")
    given = {k: v for k, v in options.items() if v is not None}
    return LocalJudge(spec, mode=mode, template=template, **_accepted(LocalJudge, given, spec, "server judges"))


def _accepted(cls, options: dict[str, Any], spec: str, belongs: str) -> dict[str, Any]:
    names = set(inspect.signature(cls.__init__).parameters) - {"self", "source", "model", "url", "mode", "template"}
    unknown = [k for k in options if k not in names]
    if unknown:
        flag = _FLAGS.get(unknown[0])
        if flag:
            raise RmbenchError(f"{flag} does not apply to the judge {spec}: it applies to {belongs}")
        raise RmbenchError(f"unknown judge option {unknown[0]!r} for {spec}; known: {', '.join(sorted(names))}")
    return options
