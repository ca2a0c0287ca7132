"""Discover recurring themes in recent comments: cluster sentence embeddings, name the clusters.

Sentences are clustered with HDBSCAN (scikit-learn), which finds clusters of any number and
leaves sentences that belong nowhere as noise, after PCA to 20 dimensions, where density is
easier to judge than in 384. Each cluster is named by its most distinctive words, class-based
TF-IDF as in BERTopic: the cluster's sentences form one document, and a term scores by its
frequency in that document times log(1 + average words per cluster / its frequency in all).

Meant for a scheduled batch over recent sentences (hundreds to thousands, not millions):
HDBSCAN's cost grows faster than linearly. A theme shows only against a varied background: 25
late-delivery sentences among 60 unrelated ones come out as a theme, among 20 they do not
(HDBSCAN never makes the whole input one cluster). Deterministic for the same input.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
import numpy.typing as npt
from sklearn.cluster import HDBSCAN
from sklearn.decomposition import PCA
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

Vectors = npt.NDArray[np.float32]

# PCA keeps this many dimensions; fewer sentences than this are clustered as they are.
REDUCED_DIMENSIONS = 20
# HDBSCAN's density estimate looks at this many neighbours (at most min_cluster_size). With
# its default (min_cluster_size) and the default "excess of mass" selection, a thousand varied
# survey sentences came out as one blob of 523 plus noise; "leaf" selection with 3 neighbours
# gave 15 coherent themes (engineer visits, app bugs, refunds, waiting, direct debits, ...).
MIN_SAMPLES = 3
CLUSTER_SELECTION = "leaf"
TERMS_PER_THEME = 5
TERMS_IN_LABEL = 3
REPRESENTATIVES_PER_THEME = 3
NOISE = -1
# The tokenizer cuts "didn't" into "didn" and "t": the stubs are stop words too.
STOP_WORDS = sorted(
    ENGLISH_STOP_WORDS
    | {"aren", "couldn", "didn", "doesn", "don", "hadn", "hasn", "haven", "isn", "ll", "shouldn"}
    | {"ve", "wasn", "weren", "won", "wouldn"}
)
# Two or more word characters, at least one a letter: "10" or "2024" names no theme.
_WORD_WITH_A_LETTER = r"(?u)\b(?=\w*[^\W\d_])\w\w+\b"


class Theme(msgspec.Struct, frozen=True):
    """A group of similar sentences, named by its distinctive terms."""

    # The first terms joined by ", ", e.g. "delivery, parcel, late".
    label: str
    terms: tuple[str, ...]
    size: int
    # The sentences closest to the centroid, closest first.
    representatives: tuple[str, ...]
    # Positions of the member sentences in the input, ascending.
    member_indices: tuple[int, ...]
    # The members' mean embedding, scaled to unit length: new sentences can be compared to it.
    centroid: tuple[float, ...]


def discover_themes(
    sentences: Sequence[str],
    embeddings: Vectors | None = None,
    *,
    min_cluster_size: int = 5,
) -> list[Theme]:
    """Return the recurring themes among the sentences, largest first; noise joins none."""
    if embeddings is None:
        embeddings = _embed(sentences)
    if len(embeddings) != len(sentences):
        raise ValueError(f"{len(sentences)} sentences but {len(embeddings)} embeddings")
    if len(sentences) < max(min_cluster_size, 2):
        return []
    labels = cluster_embeddings(embeddings, min_cluster_size=min_cluster_size)
    clusters = [np.flatnonzero(labels == label) for label in sorted(set(labels) - {NOISE})]
    # Largest first; equal sizes in order of their first sentence, so the order is stable.
    clusters.sort(key=lambda members: (-len(members), int(members[0])))
    noise = np.flatnonzero(labels == NOISE)
    terms = distinctive_terms(
        [[sentences[int(i)] for i in members] for members in clusters],
        noise=[sentences[int(i)] for i in noise],
    )
    return [
        _theme(sentences, embeddings, members, cluster_terms)
        for members, cluster_terms in zip(clusters, terms, strict=True)
    ]


def cluster_embeddings(embeddings: Vectors, *, min_cluster_size: int = 5) -> npt.NDArray[np.intp]:
    """Return a cluster label per sentence, NOISE (-1) for sentences in no cluster."""
    points = np.asarray(embeddings, dtype=np.float64)
    if min(points.shape) > REDUCED_DIMENSIONS:
        # The full SVD has no random start, so the projection is the same on every run.
        points = PCA(n_components=REDUCED_DIMENSIONS, svd_solver="full").fit_transform(points)
    clusterer = HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min(MIN_SAMPLES, min_cluster_size),
        cluster_selection_method=CLUSTER_SELECTION,
        metric="euclidean",
        copy=True,
    )
    labels: npt.NDArray[np.intp] = clusterer.fit_predict(points)
    return labels


def distinctive_terms(
    clusters: Sequence[Sequence[str]], *, noise: Sequence[str] = (), top: int = TERMS_PER_THEME
) -> list[tuple[str, ...]]:
    """Return each cluster's `top` terms (unigrams and bigrams) by class-based TF-IDF.

    The noise sentences count as one more class: a word that is everywhere is not distinctive.
    """
    documents = [" ".join(cluster) for cluster in clusters]
    if noise:
        documents.append(" ".join(noise))
    vectorizer = CountVectorizer(
        stop_words=STOP_WORDS, ngram_range=(1, 2), token_pattern=_WORD_WITH_A_LETTER
    )
    try:
        counts = vectorizer.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # nothing but stop words
        return [() for _ in clusters]
    vocabulary = vectorizer.get_feature_names_out()
    term_frequency = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    words_per_class = counts.sum() / len(documents)
    inverse_frequency = np.log(1.0 + words_per_class / np.maximum(counts.sum(axis=0), 1.0))
    weights = term_frequency * inverse_frequency
    ranked: list[tuple[str, ...]] = []
    for row in weights[: len(clusters)]:
        # Highest weight first, ties alphabetically, so the terms do not depend on hashing.
        order = np.lexsort((vocabulary, -row))
        ranked.append(tuple(str(vocabulary[i]) for i in order[:top] if row[i] > 0))
    return ranked


def _theme(
    sentences: Sequence[str],
    embeddings: Vectors,
    members: npt.NDArray[np.intp],
    terms: tuple[str, ...],
) -> Theme:
    vectors = np.asarray(embeddings[members], dtype=np.float64)
    centroid = vectors.mean(axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    closest_first = members[np.argsort(-(vectors @ centroid), kind="stable")]
    representatives: list[str] = []
    for index in closest_first.tolist():
        if sentences[index] not in representatives:
            representatives.append(sentences[index])
        if len(representatives) == REPRESENTATIVES_PER_THEME:
            break
    return Theme(
        label=", ".join(terms[:TERMS_IN_LABEL]),
        terms=terms,
        size=len(members),
        representatives=tuple(representatives),
        member_indices=tuple(int(i) for i in members),
        centroid=tuple(float(x) for x in centroid),
    )


def _embed(sentences: Sequence[str]) -> Vectors:
    from nlp import encoder  # torch loads only when the caller has no embeddings yet

    return encoder.embed(sentences)
