"""The sentiment result the workers store and the API returns (no ML imports here)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

SentimentLabel = Literal["negative", "neutral", "positive"]

# The order of the head's output rows; training and inference both rely on it.
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")


class Sentiment(msgspec.Struct, frozen=True):
    """The sentiment of one comment, as predicted by one model version."""

    label: SentimentLabel
    # Probability of the label, 0..1.
    score: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    model_version: str
