"""rmbench.json: what a checkpoint is, so `rmbench eval --reward CKPT` needs no other flag."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rmbench import __version__
from rmbench.models import METADATA_FILE
from rmbench.trainers.methods import Method


def file_hash(source: str) -> str | None:
    path = Path(source)
    if not path.is_file():
        return None  # a folder or hub id: the eval records carry per-example content hashes
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def run_metadata(method: Method, request, resolved: str, args, settings: dict) -> dict:
    reference = resolved if method.needs_ref else None
    loss = {k: getattr(args, k) for k in ("loss_type", "loss_weights", "label_smoothing", "cpo_alpha",
                                          "simpo_gamma", "desirable_weight", "undesirable_weight",
                                          "center_rewards_coefficient") if hasattr(args, k)}
    beta = getattr(args, "beta", None)
    return {"method": method.name, "base_model": request.model, "base_model_resolved": resolved,
            "reference_model": reference, "beta": beta, "length_normalize": method.name == "simpo",
            "scorer": scorer_record(method, reference, beta), "loss": loss, "lora": bool(settings["lora"]),
            "data": [{"source": s, "sha256": file_hash(s)} for s in request.data], "seed": request.seed,
            "learning_rate": args.learning_rate, "rmbench_version": __version__}


def scorer_record(method: Method, reference: str | None, beta) -> dict:
    """How `rmbench eval --reward CKPT` is to score this checkpoint, recorded rather than guessed from
    the method's name: its classifier head, its implicit reward (against the reference, or none for the
    reference-free methods, with the training's beta), or not at all (a policy: judged by what it writes)."""
    if method.scorer == "classifier":
        return {"kind": "classifier"}
    if method.scorer == "none":
        return {"kind": "policy"}
    return {"kind": "implicit", "reference": reference if method.scorer == "implicit" else None, "beta": beta,
            "length_normalize": method.name == "simpo"}


def write_checkpoint_metadata(folder: Path, meta: dict, step: int) -> None:
    (folder / METADATA_FILE).write_text(json.dumps({**meta, "step": step}, indent=2, default=str))
