"""The paired comparison that decides whether a new sentiment model is clearly better."""

from __future__ import annotations

import math

import numpy as np

from nlp.evaluation import paired_comparison


def _exact_two_sided(wins: int, disagreements: int) -> float:
    # The binomial test written out: twice the smaller tail of Binomial(disagreements, 1/2).
    tail = min(wins, disagreements - wins)
    mass = sum(math.comb(disagreements, k) for k in range(tail + 1)) / 2**disagreements
    return min(1.0, 2 * mass)


def test_counts_only_the_texts_where_the_models_disagree_on_correctness() -> None:
    truth = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    baseline = np.array([0, 1, 2, 2, 2, 0, 0, 0])  # right on 0, 1, 2, 6
    candidate = np.array([0, 0, 2, 0, 1, 2, 1, 0])  # right on 0, 2, 3, 4, 5
    compared = paired_comparison(truth, baseline, candidate)
    assert compared["n"] == 8
    assert compared["baseline_only"] == 2  # texts 1 and 6
    assert compared["candidate_only"] == 3  # texts 3, 4 and 5
    assert math.isclose(compared["p_value"], _exact_two_sided(3, 5))


def test_a_one_sided_run_of_wins_is_significant_and_a_tie_is_not() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=200)
    wrong = (truth + 1) % 3
    candidate = truth.copy()
    baseline = truth.copy()
    baseline[:12] = wrong[:12]
    wins = paired_comparison(truth, baseline, candidate)
    assert (wins["baseline_only"], wins["candidate_only"]) == (0, 12)
    assert math.isclose(wins["p_value"], 2 / 2**12)
    candidate[12:24] = wrong[12:24]
    tie = paired_comparison(truth, baseline, candidate)
    assert (tie["baseline_only"], tie["candidate_only"]) == (12, 12)
    assert tie["p_value"] == 1.0


def test_identical_answers_have_nothing_to_compare() -> None:
    truth = np.array([0, 1, 2])
    answers = np.array([0, 2, 2])
    assert paired_comparison(truth, answers, answers) == {
        "n": 3,
        "baseline_only": 0,
        "candidate_only": 0,
        "p_value": 1.0,
    }
