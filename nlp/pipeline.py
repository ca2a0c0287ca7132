"""The whole analysis of survey comments, batched: language, sentences, sentiment, topics.

One call handles many comments with a handful of model passes: the sentiment model over the
whole comments and over the sentences of the longer ones, and the base encoder over every
sentence (whose embeddings give topics now and themes later).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from nlp.discovery import Theme, discover_themes
from nlp.encoder import embed
from nlp.language import detect_language
from nlp.results import CommentAnalysis, SentenceAnalysis, TopicMatch
from nlp.sentences import split_sentences
from nlp.sentiment import SentimentModel, get_model
from nlp.topics import TopicAssigner, TopicDefinition
from nlp.types import Sentiment


class TopicLike(Protocol):
    """Anything with a topic's fields, such as the domain's TopicView."""

    @property
    def key(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def examples(self) -> Sequence[str]: ...


class CommentPipeline:
    """Analyse comments against a taxonomy; reuses the topic embeddings while it is unchanged."""

    def __init__(self, sentiment_model: SentimentModel | None = None) -> None:
        self.sentiment_model = sentiment_model or get_model()
        self._assigner: TopicAssigner | None = None
        self._assigner_topics: tuple[TopicDefinition, ...] = ()
        self._lock = threading.Lock()

    @property
    def model_version(self) -> str:
        return self.sentiment_model.model_version

    def __call__(self, texts: list[str], topics: Sequence[TopicLike]) -> list[CommentAnalysis]:
        return self.analyse(texts, topics)

    def analyse(self, texts: Sequence[str], topics: Sequence[TopicLike]) -> list[CommentAnalysis]:
        """One CommentAnalysis per (non-blank) text, in order."""
        languages = [detect_language(text) for text in texts]
        sentences = [split_sentences(text) or [text.strip()] for text in texts]
        judged = [i for i, language in enumerate(languages) if language.supported]
        overall = dict(
            zip(judged, self.sentiment_model.analyse([texts[i] for i in judged]), strict=True)
        )
        per_sentence = self._sentence_sentiments(sentences, judged, overall)
        flat = [sentence for group in sentences for sentence in group]
        embeddings = embed(flat)
        assigner = self._topic_assigner(topics)
        matches = assigner.assign_embeddings(embeddings) if assigner else [[] for _ in flat]
        results = []
        cursor = 0
        for i, group in enumerate(sentences):
            analysed = []
            for position, sentence in enumerate(group):
                analysed.append(
                    SentenceAnalysis(
                        text=sentence,
                        sentiment=per_sentence.get((i, position)),
                        topics=tuple(
                            TopicMatch(key=match.key, score=round(float(match.score), 4))
                            for match in matches[cursor]
                        ),
                        embedding=embeddings[cursor].astype(np.float16).tobytes(),
                    )
                )
                cursor += 1
            results.append(
                CommentAnalysis(
                    language=languages[i].code,
                    language_supported=languages[i].supported,
                    sentiment=overall.get(i),
                    sentences=tuple(analysed),
                    model_version=self.model_version,
                )
            )
        return results

    def _sentence_sentiments(
        self, sentences: list[list[str]], judged: list[int], overall: dict[int, Sentiment]
    ) -> dict[tuple[int, int], Sentiment]:
        """Each sentence's sentiment; a one-sentence comment reuses the whole comment's."""
        found: dict[tuple[int, int], Sentiment] = {}
        several = [
            (i, p) for i in judged if len(sentences[i]) > 1 for p in range(len(sentences[i]))
        ]
        for i in judged:
            if len(sentences[i]) == 1:
                found[(i, 0)] = overall[i]
        predicted = self.sentiment_model.analyse(
            [sentences[i][position] for i, position in several]
        )
        found.update(zip(several, predicted, strict=True))
        return found

    def _topic_assigner(self, topics: Sequence[TopicLike]) -> TopicAssigner | None:
        definitions = tuple(
            TopicDefinition(
                key=topic.key,
                name=topic.name,
                description=topic.description,
                examples=tuple(topic.examples),
            )
            for topic in topics
        )
        if not definitions:
            return None
        with self._lock:
            if self._assigner is None or definitions != self._assigner_topics:
                self._assigner = TopicAssigner(definitions)
                self._assigner_topics = definitions
            return self._assigner


def find_themes(texts: list[str], embeddings: list[bytes]) -> list[Theme]:
    """Themes among stored sentences, from their float16 embeddings (no re-embedding)."""
    if not texts:
        return []
    vectors = np.stack([np.frombuffer(raw, dtype=np.float16) for raw in embeddings])
    return discover_themes(texts, vectors.astype(np.float32))
