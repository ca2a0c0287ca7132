"""The committed sentiment model on hand-written comments that are in no training or test file."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nlp import sentiment
from nlp.model_card import render_finetuned_model_card
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

# The hard kinds the issue names, each with the label a support lead would give the whole comment
# ("would I call this customer back?" means negative), written for this file only.
HARD_CASES: list[tuple[str, str, str]] = [
    # negation
    ("Not bad at all, the engineer fixed it in twenty minutes.", "positive", "negation"),
    ("I can't fault anything about how my complaint was handled.", "positive", "negation"),
    ("Honestly no complaints, it was sorted quickly.", "positive", "negation"),
    ("Nobody ever explained why my order was cancelled.", "negative", "negation"),
    ("I never got the confirmation email I was promised.", "negative", "negation"),
    ("The agent didn't seem to care whether my problem got solved.", "negative", "negation"),
    # sarcasm
    ("Oh brilliant, a fourth engineer visit and the shower is still cold.", "negative", "sarcasm"),
    (
        "Thanks for nothing, really appreciate being left on hold for an hour.",
        "negative",
        "sarcasm",
    ),
    (
        "Love how every agent gives me a different answer. Very reassuring.",
        "negative",
        "sarcasm",
    ),
    (
        "Wonderful, yet another automated email telling me my case is important to you.",
        "negative",
        "sarcasm",
    ),
    ("Great job closing my ticket without actually fixing anything.", "negative", "sarcasm"),
    # mixed praise and complaint, judged as a whole
    (
        "The agent was lovely, but the product is still broken and I want a refund.",
        "negative",
        "mixed",
    ),
    ("Kind staff, but I've now been waiting six weeks for a replacement.", "negative", "mixed"),
    (
        "Took a while to get through, but once I did the agent sorted everything perfectly.",
        "positive",
        "mixed",
    ),
    (
        "The first person was unhelpful, but her manager fixed the billing mistake the same day "
        "and apologised.",
        "positive",
        "mixed",
    ),
    # praise that mentions a problem
    (
        "My laptop had died completely and they had it repaired within two days.",
        "positive",
        "praise_with_problem",
    ),
    (
        "They found the leak straight away and fixed it the same afternoon.",
        "positive",
        "praise_with_problem",
    ),
    (
        "Lost my bank card abroad and the team had a new one sent to my hotel overnight.",
        "positive",
        "praise_with_problem",
    ),
    (
        "The billing error was spotted and refunded without me having to ask twice.",
        "positive",
        "praise_with_problem",
    ),
    # long answers
    (
        "I first reported the fault on the 3rd of the month. Since then two engineer "
        "appointments have been cancelled on the day, with no warning, and each time I had taken "
        "a day off work to be home. When I called to complain I was told there was nothing they "
        "could do and that I should rebook online. The online system then showed no availability "
        "for a month. I am paying for a service I haven't had for weeks and nobody seems to care.",
        "negative",
        "long",
    ),
    (
        "I was dreading calling because my last experience with an energy company was awful. "
        "Marco picked up within a couple of minutes, listened to the whole story without rushing "
        "me, and found the meter reading error that had doubled my bill. He corrected it while I "
        "was on the line, emailed me a summary, and even called back the next day to check the "
        "new bill was right. Genuinely the best phone support I've had.",
        "positive",
        "long",
    ),
    (
        "I rang to move the payment date on my account from the 1st to the 15th of each month. "
        "The agent asked the usual security questions, made the change and said the next "
        "statement would show the new date.",
        "neutral",
        "long",
    ),
    # factual answers with no verdict
    ("I contacted you about changing my delivery address.", "neutral", "factual"),
    ("The case was about a password reset on the mobile app.", "neutral", "factual"),
    ("Called to ask about the opening hours of the Leeds branch.", "neutral", "factual"),
    ("Rang about the renewal date, that's all.", "neutral", "short"),
]

ALL_CASES = (
    [(c, "negative", "plain") for c in CLEAR_COMPLAINTS]
    + [(c, "positive", "plain") for c in CLEAR_PRAISE]
    + HARD_CASES
)
# Cases the committed model gets wrong, kept rather than swapped for easier ones; strict, so a
# better model that fixes one is noticed. See the model card's limits.
KNOWN_MISSES = {
    # Sarcasm with no complaint word at all: every phrase is literally praise.
    "Love how every agent gives me a different answer. Very reassuring.",
}


def _cases() -> list[object]:
    miss = pytest.mark.xfail(strict=True, reason="known miss of the committed model")
    return [
        pytest.param(text, label, marks=miss, id=f"{kind}-{index}")
        if text in KNOWN_MISSES
        else pytest.param(text, label, id=f"{kind}-{index}")
        for index, (text, label, kind) in enumerate(ALL_CASES)
    ]


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    return sentiment.get_model()


def test_the_list_has_enough_comments_of_every_hard_kind() -> None:
    kinds = [kind for _, _, kind in ALL_CASES]
    assert len(ALL_CASES) >= 40
    for kind in ("negation", "sarcasm", "mixed", "praise_with_problem", "long", "factual"):
        assert kinds.count(kind) >= 3, kind


def test_no_listed_comment_is_in_the_training_or_test_data() -> None:
    # The data checker also refuses any data row that matches a string in this file.
    checker = REPO_ROOT / "nlp" / "data" / "check_datasets.py"
    result = subprocess.run(
        [sys.executable, str(checker)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-1000:]


@pytest.mark.parametrize(("comment", "expected"), _cases())
def test_it_labels_hand_written_comments(
    model: SentimentModel, comment: str, expected: str
) -> None:
    [result] = model.analyse([comment])
    assert result.label == expected, result


def test_it_gives_the_same_answers_batched_and_one_at_a_time(model: SentimentModel) -> None:
    comments = [text for text, _, _ in ALL_CASES]
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
    assert result.model_version == config["model_version"] == "minilm-ft-5"


def test_the_shipped_model_card_is_rendered_from_its_config(model: SentimentModel) -> None:
    config = json.loads((model.model_dir / "config.json").read_text(encoding="utf-8"))
    card = (model.model_dir / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert card == render_finetuned_model_card(config)


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


def test_int8_agrees_with_the_float_model_and_says_so_in_its_version(
    model: SentimentModel,
) -> None:
    quantized = SentimentModel(int8=True)
    comments = [text for text, _, _ in ALL_CASES]
    exact = model.analyse(comments)
    fast = quantized.analyse(comments)
    agreement = sum(a.label == b.label for a, b in zip(exact, fast, strict=True)) / len(comments)
    assert agreement >= 0.9
    assert fast[0].model_version == f"{model.model_version}+int8"


def test_the_v1_head_still_loads_for_the_benchmark() -> None:
    v1 = SentimentModel(sentiment.V1_MODEL_DIR)
    [result] = v1.analyse([CLEAR_COMPLAINTS[0]])
    assert result.model_version == "minilm-lr-1"
    assert result.label == "negative"


def test_int8_is_refused_for_the_v1_head() -> None:
    with pytest.raises(sentiment.ModelDirError, match="int8"):
        SentimentModel(sentiment.V1_MODEL_DIR, int8=True)


def test_a_directory_without_a_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(sentiment.ModelDirError, match="config.json is missing"):
        SentimentModel(tmp_path)


def test_the_committed_weights_are_compact_and_exclude_the_frozen_embeddings(
    model: SentimentModel,
) -> None:
    from safetensors import safe_open

    from nlp.classifier import FROZEN_WEIGHTS

    weights = model.model_dir / model.config["head"]["file"]
    assert weights.stat().st_size < 30_000_000
    with safe_open(str(weights), framework="pt") as stored:
        names = set(stored.keys())
        assert not names & FROZEN_WEIGHTS
        assert {stored.get_slice(name).get_dtype() for name in names} == {"F16"}
