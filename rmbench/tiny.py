"""Small random causal LMs that keep a real tokenizer and chat template.

Smoke-running a whole train-then-eval graph (SFT -> RM -> DPO, PPO, ...) on a CPU needs a
model that trains in seconds, yet every stage must see real chat-formatted text, so only
the network is shrunk: the tokenizer (vocabulary, special tokens, chat template) is the
source model's. The results measure the plumbing, not model quality.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from rmbench import models
from rmbench.errors import ModelError


def init_tiny_causal_lm(tokenizer_source: str, out: Path, seed: int = 0, layers: int = 2, hidden_size: int = 64,
                        heads: int = 4, max_position_embeddings: int = 1024) -> Path:
    if hidden_size % heads:
        raise ModelError(f"hidden_size {hidden_size} must be a multiple of heads {heads}")
    tokenizer = models.load_tokenizer(tokenizer_source)  # the pad rule applied
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError(f"{tokenizer_source} has no chat template; pick a chat model's tokenizer")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=4 * hidden_size,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=max_position_embeddings, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out = Path(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
