"""The committed sentiment model on hand-written comments that are in no training or test file."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nlp import sentiment
from nlp.sentiment import SentimentModel
from nlp.types import SENTIMENT_LABELS, Sentiment

REPO_ROOT = Path(__file__).resolve().parents[2]

CLEAR_COMPLAINTS = [
    "The technician never showed up and nobody called to tell me.",
    "I waited three weeks for a refund that still hasn't arrived.",
    "Your support agent was rude and hung up on me halfway through.",
    "I was transferred five times and had to repeat my story to every single person.",
    "The replacement part broke again after two days, a complete waste of money.",
    "Nobody answered my emails for ten days, so I am cancelling my contract.",
    "Terrible service: the fault is still there after four visits.",
    "They charged me twice and refused to correct the bill.",
    "The engineer left mud all over the carpet and the heating still doesn't work.",
    "I was promised a callback within the hour and never heard anything.",
    "Worst customer service I have ever dealt with, absolutely useless.",
    "The chat bot kept going round in circles and I could never reach a human.",
]

CLEAR_PRAISE = [
    "The engineer arrived on time, was really friendly and tidied up afterwards.",
    "Sarah on the phone was kind and patient and sorted everything out in one call.",
    "Excellent service, thank you so much for your help.",
    "Really impressed with how quickly my refund was processed.",
    "The technician was polite, knowledgeable and explained everything clearly.",
    "A great experience from start to finish, I would happily recommend you.",
    "My new router was delivered the next morning and works perfectly.",
    "Thank you to the support team, you went above and beyond for me.",
    "Fast, friendly and professional. I couldn't ask for more.",
    "The agent had my billing question answered in five minutes, brilliant.",
    "Lovely people, very helpful, and the new kitchen looks great.",
    "The best support I've had from any company, I'm genuinely grateful.",
]

# Clear comments the v1 frozen-embedding head gets wrong: its embedding is dominated by the topic
# (engineer, heating, router), which training data associates with the other label. Kept, not
# swapped for easier ones, so the fine-tuned head has to fix them; strict, so a fix is noticed.
KNOWN_V1_MISSES = {
    "The engineer left mud all over the carpet and the heating still doesn't work.",
    "My new router was delivered the next morning and works perfectly.",
}


def _cases(comments: list[str]) -> list[object]:
    miss = pytest.mark.xfail(strict=True, reason="known miss of the v1 frozen-embedding head")
    return [pytest.param(c, marks=miss) if c in KNOWN_V1_MISSES else c for c in comments]


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return sentiment.get_model()


@pytest.mark.parametrize("comment", _cases(CLEAR_COMPLAINTS))
def test_it_calls_clear_complaints_negative(model: SentimentModel, comment: str) -> None:
    [result] = model.analyse([comment])
    assert result.label == "negative", result


@pytest.mark.parametrize("comment", _cases(CLEAR_PRAISE))
def test_it_calls_clear_praise_positive(model: SentimentModel, comment: str) -> None:
    [result] = model.analyse([comment])
    assert result.label == "positive", result


def test_it_gives_the_same_answers_batched_and_one_at_a_time(model: SentimentModel) -> None:
    comments = CLEAR_COMPLAINTS + CLEAR_PRAISE
    batched = model.analyse(comments)
    for comment, together in zip(comments, batched, strict=True):
        [alone] = model.analyse([comment])
        assert alone.label == together.label
        assert alone.score == pytest.approx(together.score, abs=1e-4)


def test_it_answers_in_the_order_of_the_input(model: SentimentModel) -> None:
    # Interleaved and of very different lengths, so the encoder's length sorting must be undone.
    comments = [
        "Awful.",
        CLEAR_PRAISE[0] + " " + CLEAR_PRAISE[4] + " " + CLEAR_PRAISE[9],
        CLEAR_COMPLAINTS[3] + " " + CLEAR_COMPLAINTS[6],
        CLEAR_PRAISE[5],
        CLEAR_COMPLAINTS[0],
        CLEAR_PRAISE[2],
    ]
    labels = [result.label for result in model.analyse(comments)]
    assert labels == ["negative", "positive", "negative", "positive", "negative", "positive"]


def test_it_gives_the_probability_of_the_chosen_label(model: SentimentModel) -> None:
    for result in model.analyse(CLEAR_COMPLAINTS[:3] + CLEAR_PRAISE[:3]):
        assert isinstance(result, Sentiment)
        assert result.label in SENTIMENT_LABELS
        # The winner of three probabilities is above a third.
        assert 1 / 3 < result.score <= 1.0


def test_it_gives_the_same_answers_to_concurrent_worker_threads(model: SentimentModel) -> None:
    # Dramatiq runs actors in threads that share the process's one model.
    batches = [[comment] for comment in CLEAR_COMPLAINTS + CLEAR_PRAISE]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(model.analyse, batches))
    sequential = [model.analyse(batch) for batch in batches]
    for together, alone in zip(concurrent, sequential, strict=True):
        assert together[0].label == alone[0].label
        assert together[0].score == pytest.approx(alone[0].score, abs=1e-4)


def test_it_reports_the_model_version_from_the_config(model: SentimentModel) -> None:
    config = json.loads((model.model_dir / "config.json").read_text(encoding="utf-8"))
    [result] = model.analyse([CLEAR_PRAISE[0]])
    assert result.model_version == config["model_version"] == "minilm-lr-1"


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_it_rejects_empty_comments(model: SentimentModel, blank: str) -> None:
    with pytest.raises(ValueError):
        model.analyse(["Fine.", blank])


def test_it_rejects_a_bare_string_instead_of_a_list(model: SentimentModel) -> None:
    with pytest.raises(TypeError):
        model.analyse("Great service")


def test_it_answers_no_comments_with_no_results(model: SentimentModel) -> None:
    assert model.analyse([]) == []


def test_the_module_function_uses_the_one_cached_model(model: SentimentModel) -> None:
    assert sentiment.get_model() is model
    assert sentiment.analyse([CLEAR_COMPLAINTS[0]]) == model.analyse([CLEAR_COMPLAINTS[0]])


def test_importing_the_types_does_not_import_torch() -> None:
    # The web API imports the types; it must not pay for torch or transformers.
    check = (
        "import nlp, nlp.types, sys; "
        "assert not {'torch', 'transformers'} & set(sys.modules), 'ML imported'"
    )
    subprocess.run([sys.executable, "-c", check], cwd=REPO_ROOT, check=True, timeout=60)
