"""Metrics shared by the sentiment trainers and the benchmark (training time only)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from sklearn.metrics import precision_recall_fscore_support as prfs

from nlp.types import SENTIMENT_LABELS

NEGATIVE = SENTIMENT_LABELS.index("negative")
NEUTRAL = SENTIMENT_LABELS.index("neutral")
Labels = npt.NDArray[np.int64]


def classification_metrics(truth: Labels, predicted: Labels) -> dict[str, Any]:
    """Three-class accuracy and macro-F1, negative-vs-not P/R/F1 and the confusion matrix."""
    precision, recall, f1, _ = prfs(
        truth == NEGATIVE, predicted == NEGATIVE, average="binary", zero_division=0
    )
    labels = list(range(len(SENTIMENT_LABELS)))
    return {
        "n": int(len(truth)),
        "accuracy": float(accuracy_score(truth, predicted)),
        # Over the labels present in the truth: a two-class set (reviews) has no neutral F1.
        "macro_f1": float(
            f1_score(
                truth,
                predicted,
                labels=sorted(set(truth.tolist())),
                average="macro",
                zero_division=0,
            )
        ),
        "negative": {"precision": float(precision), "recall": float(recall), "f1": float(f1)},
        "confusion": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }


def per_kind_accuracy(kinds: list[str], truth: Labels, predicted: Labels) -> dict[str, Any]:
    """Accuracy per kind of comment (plain, sarcasm, long, ...), to see where a model fails."""
    correct, kind_array = predicted == truth, np.array(kinds)
    return {
        kind: {
            "n": int((kind_array == kind).sum()),
            "accuracy": float(correct[kind_array == kind].mean()),
        }
        for kind in sorted(set(kinds))
    }


def long_text_metrics(
    texts: list[str], truth: Labels, predicted: Labels, quantile: float = 0.75
) -> dict[str, Any]:
    """Accuracy and neutral share on the longest quarter of texts (a collapse check)."""
    lengths = np.array([len(text) for text in texts])
    longest = lengths >= np.quantile(lengths, quantile)
    return {
        "min_chars": int(lengths[longest].min()),
        "n": int(longest.sum()),
        "accuracy": float((predicted[longest] == truth[longest]).mean()),
        "neutral_share": float((predicted[longest] == NEUTRAL).mean()),
    }


def paired_comparison(truth: Labels, baseline: Labels, candidate: Labels) -> dict[str, Any]:
    """How two models' answers on the same texts differ: the texts only one of them gets right,
    and the exact McNemar p-value (a two-sided binomial test on those texts). A small p says
    the difference in accuracy is unlikely to be luck; it is how "clearly better" is judged
    before a new model is committed."""
    baseline_right, candidate_right = baseline == truth, candidate == truth
    baseline_only = int((baseline_right & ~candidate_right).sum())
    candidate_only = int((candidate_right & ~baseline_right).sum())
    disagreements = baseline_only + candidate_only
    p_value = binomtest(candidate_only, disagreements).pvalue if disagreements else 1.0
    return {
        "n": int(len(truth)),
        "baseline_only": baseline_only,
        "candidate_only": candidate_only,
        "p_value": float(p_value),
    }
