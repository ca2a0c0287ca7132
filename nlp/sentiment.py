"""Sentiment of survey comments: MiniLM embeddings through a small trained linear head."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

from nlp import encoder
from nlp.types import SENTIMENT_LABELS, Sentiment

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "sentiment-minilm-lr-v1"
BATCH_SIZE = 64
# Worker threads may ask for the model at the same moment; only one of them should load it.
_LOAD_LOCK = threading.Lock()


class ModelDirError(RuntimeError):
    """A model directory is missing files or was made for another encoder or label set."""


class SentimentModel:
    """A sentiment head loaded from a model directory (head.safetensors + config.json)."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR) -> None:
        self.model_dir = Path(model_dir)
        self.config = _read_config(self.model_dir)
        self.weight, self.bias = _read_head(self.model_dir)
        # Load the encoder now so the first comment does not pay for it.
        encoder.load_encoder()

    @property
    def model_version(self) -> str:
        return str(self.config["model_version"])

    def analyse(self, texts: Sequence[str]) -> list[Sentiment]:
        """Return one Sentiment per text, in input order; empty or blank texts raise ValueError.

        Callers filter out empty comments first: there is nothing to judge in them, and a
        made-up label would be stored as if the model had read something.
        """
        _reject_blank(texts)
        if len(texts) == 0:
            return []
        embeddings = encoder.embed(texts, batch_size=BATCH_SIZE)
        probabilities = _softmax(embeddings @ self.weight.T + self.bias)
        return [self._to_sentiment(row) for row in probabilities]

    def _to_sentiment(self, probabilities: npt.NDArray[np.float64]) -> Sentiment:
        best = int(np.argmax(probabilities))
        return Sentiment(
            label=SENTIMENT_LABELS[best],
            score=float(probabilities[best]),
            model_version=self.model_version,
        )


def get_model() -> SentimentModel:
    """Return the default model, loaded once per process."""
    with _LOAD_LOCK:
        return _load_default_model()


@cache
def _load_default_model() -> SentimentModel:
    return SentimentModel()


def analyse(texts: Sequence[str]) -> list[Sentiment]:
    """Analyse texts with the default model (see SentimentModel.analyse)."""
    return get_model().analyse(texts)


def _reject_blank(texts: Sequence[str]) -> None:
    if isinstance(texts, str):
        # A bare string would be analysed character by character.
        raise TypeError("analyse() takes a sequence of texts, not a single string")
    blank = [i for i, text in enumerate(texts) if not text.strip()]
    if blank:
        raise ValueError(f"empty or blank texts cannot be analysed (positions {blank[:10]})")


def _read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    if not path.is_file():
        raise ModelDirError(f"{path} is missing; train a head with `python -m nlp.train_head`")
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if tuple(config["labels"]) != SENTIMENT_LABELS:
        raise ModelDirError(f"{path}: labels {config['labels']} are not {SENTIMENT_LABELS}")
    if config["encoder"]["name"] != encoder.ENCODER_NAME:
        raise ModelDirError(f"{path}: head was trained on {config['encoder']['name']}")
    return config


def _read_head(model_dir: Path) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    tensors = load_file(str(model_dir / "head.safetensors"))
    weight, bias = tensors["W"], tensors["b"]
    expected = (len(SENTIMENT_LABELS), encoder.EMBEDDING_DIM)
    if weight.shape != expected or bias.shape != (len(SENTIMENT_LABELS),):
        raise ModelDirError(f"{model_dir}: head shapes {weight.shape}, {bias.shape}")
    return weight, bias


def _softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    # float64 and max-shift keep the probabilities exact enough to compare batch vs single.
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]
