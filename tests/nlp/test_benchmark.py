"""`python -m bench.nlp`: the documented benchmark runs end to end on the real models, and its
paired comparison tells a clearly worse model from the shipped one."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nlp.sentiment import V1_MODEL_DIR, SentimentModel

REPO_ROOT = Path(__file__).resolve().parents[2]


def _rows(report: str, first_cell: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in report.splitlines()
        if line.startswith(f"| {first_cell}")
    ]


def test_quick_benchmark_compares_a_model_directory_with_a_paired_test(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import nlp as bench_nlp

    assert bench_nlp.main(["--quick", "--compare", str(V1_MODEL_DIR)]) == 0
    report = capsys.readouterr().out

    assert "### Sentiment benchmark (quick)" in report
    # The v1 head is far worse than the fine-tuned model: on every split the texts only the
    # current model gets right outnumber the reverse, by more than luck.
    rows = _rows(report, "compared `minilm-lr-1` (measured)")
    # The quality table's rows have seven cells, the paired table's five.
    [compared_quality] = [row for row in rows if len(row) == 7]
    paired = [row for row in rows if len(row) == 5]
    assert [re.sub(r" \(n=\d+\)", "", row[1]) for row in paired] == [
        "in_domain",
        "tweets",
        "rotten_tomatoes",
    ]
    for _, _, current_only, compared_only, p_value in paired:
        assert int(current_only) > int(compared_only)
        assert float(p_value) < 0.05
    # Its quality row agrees with the paired counts: the in-domain accuracy gap equals the
    # difference of the one-sided counts over n.
    [current_quality] = _rows(report, f"`{SentimentModel().model_version}` fp32")
    n = int(re.search(r"n=(\d+)", paired[0][1]).group(1))  # type: ignore[union-attr]
    gap = float(current_quality[1]) - float(compared_quality[1])
    assert gap == pytest.approx((int(paired[0][2]) - int(paired[0][3])) / n, abs=0.002)
    assert "| comments/s batched" in report


def test_compare_refuses_a_directory_that_is_not_a_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.nlp", "--compare", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not a model directory (no config.json)" in result.stderr
