"""What the comment analysis returns for the workers to store (no ML imports here)."""

from __future__ import annotations

import msgspec

from nlp.types import Sentiment


class TopicMatch(msgspec.Struct, frozen=True):
    """A topic found in a sentence, with its similarity score (cosine, about -1..1)."""

    key: str
    score: float


class SentenceAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    # None when the comment's language is one the sentiment model cannot judge.
    sentiment: Sentiment | None
    # Empty means "other": no topic of the taxonomy matched.
    topics: tuple[TopicMatch, ...]
    # The base encoder's embedding (float16 bytes), stored once for theme discovery.
    embedding: bytes


class CommentAnalysis(msgspec.Struct, frozen=True, kw_only=True):
    language: str
    language_supported: bool
    # The whole comment's sentiment; None for an unsupported language.
    sentiment: Sentiment | None
    sentences: tuple[SentenceAnalysis, ...]
    model_version: str
