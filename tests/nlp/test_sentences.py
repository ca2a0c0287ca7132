"""Sentence splitting of survey comments: where a full stop ends a sentence and where not."""

from __future__ import annotations

import pytest

from nlp.sentences import MAX_SENTENCE_CHARS, split_sentences


@pytest.mark.parametrize(
    ("comment", "sentences"),
    [
        ("Great service. Will use again!", ["Great service.", "Will use again!"]),
        ("great service. will use again", ["great service.", "will use again"]),
        ("Is it fixed? Not yet. Call me!", ["Is it fixed?", "Not yet.", "Call me!"]),
        ("Wow!!! The app is ok?!", ["Wow!!!", "The app is ok?!"]),
        (
            'He said "we\'ll call you." They never did.',
            ['He said "we\'ll call you."', "They never did."],
        ),
    ],
)
def test_it_splits_on_full_stops_exclamation_and_question_marks(
    comment: str, sentences: list[str]
) -> None:
    assert split_sentences(comment) == sentences


def test_it_splits_on_line_breaks_and_drops_bullets_and_blank_lines() -> None:
    comment = "Two problems:\r\n- slow delivery\n\n* rude driver\n1. fix the app\n2) call back"
    assert split_sentences(comment) == [
        "Two problems:",
        "slow delivery",
        "rude driver",
        "fix the app",
        "call back",
    ]


@pytest.mark.parametrize(
    "sentence",
    [
        "The engineer, e.g. Mr. Smith, came at 9 a.m. and left by noon.",
        "Dr. Patel and Mrs. Jones i.e. the whole team were great.",
        "They charged me 2.5 times the quote and $19.99 for postage.",
        "Order no. 12345 never arrived.",
        "J. R. Smith was very kind.",
        "See www.example.com/help.html for details.",
        "I waited... and waited... and nothing happened.",
    ],
)
def test_it_keeps_abbreviations_decimals_initials_and_ellipses_inside_a_sentence(
    sentence: str,
) -> None:
    assert split_sentences(sentence) == [sentence]


def test_it_ends_a_sentence_after_an_abbreviation_when_a_capital_follows() -> None:
    comment = "They came at 10 a.m. The boiler works now. Billing, delivery, etc. Overall fine."
    assert split_sentences(comment) == [
        "They came at 10 a.m.",
        "The boiler works now.",
        "Billing, delivery, etc.",
        "Overall fine.",
    ]


def test_it_ends_a_sentence_at_an_ellipsis_when_a_capital_follows() -> None:
    assert split_sentences("I waited... Then nobody called back.") == [
        "I waited...",
        "Then nobody called back.",
    ]


def test_it_tells_the_word_no_from_the_abbreviation() -> None:
    assert split_sentences("The answer was no. I left. Ticket no. 4 is still open.") == [
        "The answer was no.",
        "I left.",
        "Ticket no. 4 is still open.",
    ]


def test_it_keeps_emoticons_with_their_sentence() -> None:
    assert split_sentences("Thanks! :)") == ["Thanks! :)"]
    assert split_sentences("Sorted in minutes :-) Will come back") == [
        "Sorted in minutes :-)",
        "Will come back",
    ]
    assert split_sentences("It works 👍 Thanks a lot") == ["It works 👍", "Thanks a lot"]


def test_it_merges_tiny_fragments_into_a_neighbour() -> None:
    assert split_sentences("ok. The parcel came late.") == ["ok. The parcel came late."]
    assert split_sentences("The parcel came late.\n!!\n:(") == ["The parcel came late. !! :("]
    assert split_sentences("Is it fixed? No! Not yet.") == ["Is it fixed? No!", "Not yet."]


def test_it_keeps_a_comment_that_is_only_a_fragment() -> None:
    assert split_sentences("ok") == ["ok"]
    assert split_sentences(":)") == [":)"]


def test_it_returns_nothing_for_an_empty_or_blank_comment() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n\t \n") == []


def test_it_cuts_a_long_run_on_at_semicolons_then_at_but() -> None:
    first = "The first engineer came late and had no parts with him " * 5
    second = "the second one fixed the pipe quickly and cleaned up after himself " * 4
    third = "the invoice was wrong twice and nobody answered my emails " * 3
    comment = f"{first.strip()}; {second.strip()}, but {third.strip()}."
    sentences = split_sentences(comment)
    assert len(sentences) == 3
    assert sentences[0].endswith("with him;")
    assert sentences[1].startswith("the second one")
    assert sentences[2].startswith("but the invoice")


def test_no_sentence_is_longer_than_the_cap() -> None:
    comment = ("word " * 1000) + ("x" * 1000)
    sentences = split_sentences(comment)
    assert all(len(sentence) <= MAX_SENTENCE_CHARS for sentence in sentences)
    assert "".join(sentences).replace(" ", "") == comment.replace(" ", "")
