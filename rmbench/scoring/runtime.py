"""Device and dtype choices shared by every model-backed scorer."""

from __future__ import annotations

from pathlib import Path

import torch

from rmbench.errors import ModelError, RmbenchError
from rmbench.runs import is_main_process
from rmbench.scoring.distributed import local_device
from rmbench.terminal import errors

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        owned = local_device()  # under `accelerate launch`: this process's own GPU
        if owned is not None and owned.type == "cuda":
            return owned
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RmbenchError(f"--device {name} asked for, but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


def cpu_has_native_bf16() -> bool:
    """bf16 only pays off on CPUs with bf16 instructions (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    """bf16 where the hardware does it well, else fp32 (fp16 only when asked: it overflows)."""
    if name != "auto":
        if name not in DTYPES:
            raise RmbenchError(f"unknown --dtype {name}: use one of auto, {', '.join(DTYPES)}")
        return DTYPES[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


# Padded tokens per batch when --batch-tokens is not given, by job and device: the one place
# these defaults live (scorers, judges and policy generation all read them here).
DEFAULT_BATCH_TOKENS = {("score", "cuda"): 32768, ("score", "cpu"): 2048,
                        ("generate", "cuda"): 65536, ("generate", "cpu"): 8192}


def default_batch_tokens(device: torch.device, job: str = "score") -> int:
    """Padded tokens per batch. Scoring is one forward pass: on CPU, speed per token is flat
    from 1k to 4k tokens a batch while padding waste grows with batch size (measured: 2048
    halves it against 4096), so CPU batches stay small; GPUs need large batches to fill their
    cores. Generation counts prompt plus new tokens per row and runs one step per new token,
    each step bound by reading the weights, so more rows per step pay off: its budget is larger."""
    return DEFAULT_BATCH_TOKENS[(job, "cuda" if device.type == "cuda" else "cpu")]


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}[dtype]


def model_max_length(config, tokenizer) -> int:
    """The longest input the model was built for; tokenizers often report 1e30 for 'unset'."""
    candidates = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    sane = [int(c) for c in candidates if isinstance(c, int) and 0 < c < 1_000_000]
    if not sane:
        raise ModelError("cannot tell the model's maximum length: pass --max-length")
    return min(sane)


def attends_causally(model) -> bool:
    """Whether every attention layer of `model` is causal (a decoder: Llama, Qwen, Gemma, GPT-2, ...).

    Then a right-padded batch needs no attention mask: each real token sees only earlier
    positions, all of them real, so its output is the same as without padding (measured:
    bit-identical scores in fp32 and bf16), and SDPA can take its causal-only kernel, which skips
    the masked half of the score matrix instead of computing and discarding it (-12% of a bf16
    SmolLM2 eval on an AMX CPU; no change in fp32, where the matmuls dominate). Encoders (BERT,
    DeBERTa, ModernBERT) attend both ways, where padding would leak into every token: they say
    is_causal=False or have no such flag, and keep the mask. transformers' attention modules
    carry `is_causal`; a model whose modules do not (remote code, older classes) keeps the mask
    too."""
    flags = [m.is_causal for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)]
    return bool(flags) and all(flags)


class CompiledNetwork:
    """`torch.compile` of a model's network, with dynamic shapes: batches of every length and
    width reuse one graph.

    Opt-in (--compile): compiling SmolLM2-135M takes 40-90 s on two CPU cores, then each batch
    runs about a fifth faster (fused normalisation, rotary and activation kernels; see
    benchmarks/README.md), so it pays only on long runs. The first call says so on the terminal
    (the main process only), and a failure of the compiler itself (no C++ compiler, no Triton)
    becomes one clear line instead of a page of inductor traceback."""

    def __init__(self, module: torch.nn.Module, source: str):
        self.compiled = torch.compile(module, dynamic=True)
        self.source = source
        self.started = False

    def __call__(self, **inputs):
        if not self.started:
            self.started = True
            if is_main_process():
                errors.print("note: compiling the reward model (--compile); the first batch takes a minute or "
                             "more on CPU")
        # dynamic=True still specialises a dimension of size 1: the first batch of a single (long)
        # row would compile a second graph (measured: 58 s for SmolLM2, which made a compiled
        # 387-pair run slower than a plain one). An unbacked batch dimension keeps one graph.
        for tensor in inputs.values():
            if isinstance(tensor, torch.Tensor):
                torch._dynamo.decorators.mark_unbacked(tensor, 0)
        try:
            return self.compiled(**inputs)
        except Exception as err:  # torch wraps compiler failures in its own exception classes
            if type(err).__module__.startswith(("torch._dynamo", "torch._inductor")):
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ModelError(f"--compile failed for {self.source} ({first[:200]}); run without --compile") from err
            raise
