"""Check the hand-written survey-comment data sets (stdlib only).

Run from the repository root: `python3 nlp/data/check_datasets.py`. Prints counts and exits 1
if a requirement in nlp/data/README.md is violated.
"""

from __future__ import annotations

import ast
import csv
import re
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SENTIMENT_CSV = REPO_ROOT / "nlp" / "data" / "survey_comments.csv"
TOPIC_CSV = REPO_ROOT / "tests" / "data" / "topic_comments.csv"
# Hand-written comments the sentiment tests hold out; none may appear in the data sets.
HELD_OUT_TESTS = REPO_ROOT / "tests" / "nlp" / "test_sentiment.py"

LABELS = ("negative", "neutral", "positive")
# Target share of each label and how far the data may stray from it.
LABEL_TARGETS = {"negative": 0.40, "neutral": 0.25, "positive": 0.35}
LABEL_TOLERANCE = 0.07
SPLITS = ("train", "test")
KINDS = (
    "plain",
    "negation",
    "sarcasm",
    "mixed",
    "long",
    "praise_with_problem",
    "factual",
    "short",
)
TOPICS = (
    "response_time",
    "agent_attitude",
    "resolution_quality",
    "product_defect",
    "billing",
    "delivery",
    "communication",
    "usability",
    "price_value",
    "policy",
    "other",
)
MIN_SENTIMENT_ROWS = 650
MIN_TOPIC_ROWS = 170
MIN_PER_TOPIC = 20
TEST_SHARE = (0.20, 0.30)
# Within each (label, kind) group, in file order, every TEST_EVERY-th row is `test`.
TEST_EVERY = 4
MAX_TOPICS_PER_ROW = 3


def normalise(text: str) -> str:
    """Fold case and drop punctuation and spacing, so "Thanks!" and "thanks" count as one text."""
    return re.sub(r"[\W_]+", "", text.casefold())


def read_rows(path: Path, header: list[str], errors: list[str]) -> list[dict[str, str]]:
    if not path.is_file():
        errors.append(f"{path}: missing")
        return []
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        if reader.fieldnames != header:
            errors.append(f"{path.name}: header is {reader.fieldnames}, expected {header}")
            return []
        rows = list(reader)
    for number, row in enumerate(rows, start=2):
        if None in row or any(value is None for value in row.values()):
            errors.append(f"{path.name} line {number}: wrong number of fields")
        text = row.get("text") or ""
        if not text.strip():
            errors.append(f"{path.name} line {number}: empty text")
        elif text != text.strip():
            errors.append(f"{path.name} line {number}: text has surrounding whitespace")
    return rows


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def check_sentiment(rows: list[dict[str, str]], errors: list[str]) -> None:
    name = SENTIMENT_CSV.name
    print(f"{name}: {len(rows)} rows")
    if len(rows) < MIN_SENTIMENT_ROWS:
        errors.append(f"{name}: {len(rows)} rows, need at least {MIN_SENTIMENT_ROWS}")
    for field, allowed in (("label", LABELS), ("split", SPLITS), ("kind", KINDS)):
        unknown = sorted({row[field] for row in rows} - set(allowed))
        if unknown:
            errors.append(f"{name}: unknown {field} values {unknown}")

    labels = Counter(row["label"] for row in rows)
    tests = Counter(row["label"] for row in rows if row["split"] == "test")
    print(f"  {'label':<10} {'rows':>5} {'share':>6} {'train':>6} {'test':>5} {'test%':>6}")
    for label in LABELS:
        count = labels[label]
        label_share = share(count, len(rows))
        test_share = share(tests[label], count)
        print(
            f"  {label:<10} {count:>5} {label_share:>6.1%} {count - tests[label]:>6}"
            f" {tests[label]:>5} {test_share:>6.1%}"
        )
        if abs(label_share - LABEL_TARGETS[label]) > LABEL_TOLERANCE:
            errors.append(
                f"{name}: {label} is {label_share:.1%} of rows,"
                f" target {LABEL_TARGETS[label]:.0%} ± {LABEL_TOLERANCE:.0%}"
            )
        if not TEST_SHARE[0] <= test_share <= TEST_SHARE[1]:
            errors.append(f"{name}: test share of {label} is {test_share:.1%}, need 20-30%")
    total_test = sum(tests.values())
    total_share = share(total_test, len(rows))
    print(
        f"  {'all':<10} {len(rows):>5} {'':>6} {len(rows) - total_test:>6} {total_test:>5}"
        f" {total_share:>6.1%}"
    )
    if not TEST_SHARE[0] <= total_share <= TEST_SHARE[1]:
        errors.append(f"{name}: test share is {total_share:.1%}, need 20-30%")

    groups = Counter((row["label"], row["kind"]) for row in rows)
    group_tests = Counter((row["label"], row["kind"]) for row in rows if row["split"] == "test")
    print(f"  {'kind (rows/test)':<20} " + " ".join(f"{label:>10}" for label in LABELS))
    for kind in KINDS:
        cells = " ".join(
            f"{f'{groups[label, kind]}/{group_tests[label, kind]}':>10}" for label in LABELS
        )
        print(f"  {kind:<20} {cells}")
        if not any(groups[label, kind] for label in LABELS):
            errors.append(f"{name}: no rows of kind {kind}")
    for (label, kind), count in groups.items():
        if count >= 4 and not group_tests[label, kind]:
            errors.append(f"{name}: {label}/{kind} has {count} rows but none in test")


def check_split_rule(rows: list[dict[str, str]], errors: list[str]) -> None:
    """Within each (label, kind) group, in file order, every TEST_EVERY-th row is `test`.

    Only the first offending row is reported: a row inserted or deleted mid-file would otherwise
    flag every later row of its group.
    """
    name = SENTIMENT_CSV.name
    seen: Counter[tuple[str, str]] = Counter()
    for number, row in enumerate(rows, start=2):
        group = (row["label"], row["kind"])
        seen[group] += 1
        expected = "test" if seen[group] % TEST_EVERY == 0 else "train"
        if row["split"] != expected:
            errors.append(
                f"{name} line {number}: split is {row['split']!r}, expected {expected!r}"
                f" (row {seen[group]} of {group[0]}/{group[1]}; every {TEST_EVERY}th row of a"
                f" label/kind group is test): {row['text']!r}"
            )
            return


def check_topics(rows: list[dict[str, str]], errors: list[str]) -> None:
    name = TOPIC_CSV.name
    print(f"{name}: {len(rows)} rows")
    if len(rows) < MIN_TOPIC_ROWS:
        errors.append(f"{name}: {len(rows)} rows, need at least {MIN_TOPIC_ROWS}")
    counts: Counter[str] = Counter()
    per_row: Counter[int] = Counter()
    for number, row in enumerate(rows, start=2):
        topics = [topic.strip() for topic in (row["topics"] or "").split(";")]
        per_row[len(topics)] += 1
        counts.update(topics)
        where = f"{name} line {number}"
        unknown = sorted(set(topics) - set(TOPICS))
        if unknown:
            errors.append(f"{where}: unknown topics {unknown}")
        if not 1 <= len(topics) <= MAX_TOPICS_PER_ROW:
            errors.append(f"{where}: {len(topics)} topics, need 1 to {MAX_TOPICS_PER_ROW}")
        if len(set(topics)) != len(topics):
            errors.append(f"{where}: a topic is repeated")
        if "other" in topics and len(topics) > 1:
            errors.append(f"{where}: 'other' must stand alone")
    for topic in TOPICS:
        print(f"  {topic:<20} {counts[topic]:>4}")
        if topic != "other" and counts[topic] < MIN_PER_TOPIC:
            errors.append(f"{name}: {topic} in {counts[topic]} rows, need {MIN_PER_TOPIC}")
    print("  topics per row: " + ", ".join(f"{n}: {per_row[n]}" for n in sorted(per_row)))


def held_out_texts() -> set[str]:
    """Every string literal in the sentiment tests, normalised (code strings never match)."""
    if not HELD_OUT_TESTS.is_file():
        return set()
    tree = ast.parse(HELD_OUT_TESTS.read_text(encoding="utf-8"))
    literals = {
        normalise(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    # Punctuation-only literals ("-" in a test id) normalise to nothing and are no comment.
    return literals - {""}


def check_duplicates(files: dict[str, list[dict[str, str]]], errors: list[str]) -> None:
    seen: dict[str, str] = {}
    held_out = held_out_texts()
    for name, rows in files.items():
        for number, row in enumerate(rows, start=2):
            key = normalise(row["text"])
            where = f"{name} line {number}"
            if key in seen:
                errors.append(f"{where}: duplicate of {seen[key]}: {row['text']!r}")
            else:
                seen[key] = where
            if key in held_out:
                errors.append(f"{where}: held out in {HELD_OUT_TESTS.name}: {row['text']!r}")


def main() -> int:
    errors: list[str] = []
    sentiment_rows = read_rows(SENTIMENT_CSV, ["text", "label", "split", "kind"], errors)
    topic_rows = read_rows(TOPIC_CSV, ["text", "topics"], errors)
    if sentiment_rows:
        check_sentiment(sentiment_rows, errors)
        check_split_rule(sentiment_rows, errors)
    if topic_rows:
        check_topics(topic_rows, errors)
    check_duplicates({SENTIMENT_CSV.name: sentiment_rows, TOPIC_CSV.name: topic_rows}, errors)
    if errors:
        print(f"\nFAILED: {len(errors)} problem(s)")
        for error in errors:
            print(f"  - {error}")
        return 1
    print("\nOK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
