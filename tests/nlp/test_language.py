"""Language detection: foreign comments are told apart, short and brand-laden English is kept."""

from __future__ import annotations

import pytest

from nlp.language import LanguageGuess, detect_language


@pytest.mark.parametrize(
    ("comment", "code"),
    [
        ("Der Techniker kam pünktlich, aber die Rechnung war viel zu hoch.", "de"),
        ("Ich habe dreimal angerufen und niemand hat mir geholfen.", "de"),
        ("Le service client ne répond jamais aux e-mails, c'est inadmissible.", "fr"),
        ("Livraison rapide, produit conforme, je recommande.", "fr"),
        ("La factura tenía un cargo duplicado y nadie me lo explicó.", "es"),
        ("Muy buena atención, resolvieron mi problema en una llamada.", "es"),
        ("De bezorger heeft het pakket bij de buren achtergelaten zonder iets te zeggen.", "nl"),
        ("Ik heb twee weken gewacht op een antwoord van de klantenservice.", "nl"),
    ],
)
def test_it_flags_comments_in_other_languages_as_unsupported(comment: str, code: str) -> None:
    guess = detect_language(comment)
    assert guess.code == code
    assert guess.supported is False
    assert guess.confidence > 0.8


@pytest.mark.parametrize(
    "comment",
    [
        "The agent was very helpful and solved my problem in one call.",
        "Two months were billed in one go with no explanation.",
        "waited ages for the engineer, but he fixed the boiler in 10 minutes",
    ],
)
def test_it_recognises_english_comments(comment: str) -> None:
    guess = detect_language(comment)
    assert guess == LanguageGuess(code="en", confidence=guess.confidence, supported=True)
    assert guess.confidence > 0.8


@pytest.mark.parametrize(
    "answer",
    ["ok", "n/a", "thanks!", "Perfect", "cheers", "Awesome", "No comment", "Top notch", "Great"],
)
def test_it_keeps_short_english_answers_supported(answer: str) -> None:
    guess = detect_language(answer)
    assert guess.code == "en"
    assert guess.supported is True


@pytest.mark.parametrize(("answer", "code"), [("Danke schön", "de"), ("Très bien", "fr")])
def test_it_still_detects_a_short_answer_with_strong_evidence(answer: str, code: str) -> None:
    assert detect_language(answer).code == code
    assert detect_language(answer).supported is False


@pytest.mark.parametrize(
    "comment",
    [
        "My Samsung Galaxy stopped charging, Deutsche Telekom support was great.",
        "The Volkswagen Golf service at Autohaus Müller was quick.",
        "El Corte Inglés refunded me quickly.",
        "Great job, Jürgen!",
    ],
)
def test_brand_and_person_names_do_not_make_an_english_comment_foreign(comment: str) -> None:
    assert detect_language(comment).code == "en"


def test_it_reads_another_script_as_evidence_even_in_a_short_answer() -> None:
    assert detect_language("ありがとう").code == "ja"
    assert detect_language("谢谢").supported is False


@pytest.mark.parametrize("text", ["", "   ", ":)", "10/10", "👍"])
def test_it_cannot_tell_a_text_without_letters_and_does_not_flag_it(text: str) -> None:
    assert detect_language(text) == LanguageGuess(code="und", confidence=0.0, supported=True)


def test_it_gives_the_same_answer_every_time() -> None:
    comment = "Service was great, merci!"
    assert len({detect_language(comment) for _ in range(5)}) == 1
