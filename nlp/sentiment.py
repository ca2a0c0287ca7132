"""Sentiment of survey comments: a fine-tuned MiniLM classifier (or the v1 frozen-embedding head).

`get_model()` loads the newest packaged model once per process. `SentimentModel(int8=True)` runs
its Linear layers in int8 (faster on CPU, slightly different scores; see bench/nlp.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

from nlp import classifier, encoder
from nlp.classifier import ModelDirError
from nlp.types import SENTIMENT_LABELS, Sentiment

MODELS_DIR = Path(__file__).resolve().parent / "models"
# The frozen-embedding head the fine-tuned model replaced; kept as the benchmark's baseline.
V1_MODEL_DIR = MODELS_DIR / "sentiment-minilm-lr-v1"
DEFAULT_MODEL_DIR = MODELS_DIR / "sentiment-minilm-ft-5"
BATCH_SIZE = 64
# Worker threads may ask for the model at the same moment; only one of them should load it.
_LOAD_LOCK = threading.Lock()

__all__ = ["ModelDirError", "SentimentModel", "analyse", "get_model"]


class _Scorer(Protocol):
    def logits(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


class SentimentModel:
    """A sentiment model loaded from a model directory (weights + config.json)."""

    def __init__(self, model_dir: Path = DEFAULT_MODEL_DIR, int8: bool = False) -> None:
        self.model_dir = Path(model_dir)
        self.config = _read_config(self.model_dir)
        self.int8 = int8
        self._scorer = _load_scorer(self.model_dir, self.config, self.int8)

    @property
    def model_version(self) -> str:
        # int8 labels can differ from the float model's, so stored results say which ran.
        version = str(self.config["model_version"])
        return f"{version}+int8" if self.int8 else version

    def analyse(self, texts: Sequence[str]) -> list[Sentiment]:
        """Return one Sentiment per text, in input order; empty or blank texts raise ValueError.

        Callers filter out empty comments first: there is nothing to judge in them, and a
        made-up label would be stored as if the model had read something.
        """
        _reject_blank(texts)
        if len(texts) == 0:
            return []
        probabilities = _softmax(self._scorer.logits(texts))
        return [self._to_sentiment(row) for row in probabilities]

    def _to_sentiment(self, probabilities: npt.NDArray[np.float64]) -> Sentiment:
        best = int(np.argmax(probabilities))
        return Sentiment(
            label=SENTIMENT_LABELS[best],
            score=float(probabilities[best]),
            model_version=self.model_version,
        )


def get_model(int8: bool = False) -> SentimentModel:
    """Return the default model (float or int8), loaded once per process."""
    with _LOAD_LOCK:
        return _load_default_model(int8)


@cache
def _load_default_model(int8: bool) -> SentimentModel:
    return SentimentModel(int8=int8)


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


class _FineTunedScorer:
    """The fine-tuned classifier: its own tokenizer and transformer, one forward at a time."""

    def __init__(self, model_dir: Path, config: dict[str, Any], int8: bool) -> None:
        self.max_length = int(config["encoder"]["max_length"])
        self.tokenizer = classifier.load_tokenizer()
        model = classifier.load_classifier(
            model_dir / config["head"]["file"], len(SENTIMENT_LABELS)
        )
        self.model = classifier.quantize_int8(model) if int8 else model
        # Torch already spreads one batch over every core, and fast tokenizers have raised
        # "Already borrowed" when two threads used one at once.
        self._lock = threading.Lock()

    def logits(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        with self._lock:
            return classifier.predict_logits(
                self.model, self.tokenizer, texts, self.max_length, BATCH_SIZE
            )


class _FrozenHeadScorer:
    """The v1 head: a linear layer over the shared encoder's sentence embeddings."""

    def __init__(self, model_dir: Path) -> None:
        self.weight, self.bias = _read_head(model_dir)
        # Load the encoder now so the first comment does not pay for it.
        encoder.load_encoder()

    def logits(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        embeddings = encoder.embed(texts, batch_size=BATCH_SIZE)
        return embeddings @ self.weight.T + self.bias


def _load_scorer(model_dir: Path, config: dict[str, Any], int8: bool) -> _Scorer:
    kind = config["head"]["kind"]
    if kind == "fine-tuned":
        return _FineTunedScorer(model_dir, config, int8)
    if int8:
        raise ModelDirError(f"{model_dir}: int8 applies to fine-tuned models, not {kind!r}")
    return _FrozenHeadScorer(model_dir)


def _read_config(model_dir: Path) -> dict[str, Any]:
    path = model_dir / "config.json"
    if not path.is_file():
        raise ModelDirError(f"{path} is missing; train a model with `python -m nlp.finetune`")
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
