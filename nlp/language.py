"""Detect the language of a comment offline with py3langid (its model ships in the wheel).

py3langid is a naive Bayes classifier over byte n-grams: deterministic (no sampling, unlike
langdetect), well under a millisecond a comment, 140 languages. Three rules on top of it suit
survey answers, where most comments are English and many are a word or two long: capitalised
words inside a sentence (brands, places, people: "Deutsche Telekom") are left out; very short
Latin-script answers ("ok", "Perfect", "cheers") are taken as English unless another language
is clearly likely ("Danke schön"); and English wins near ties.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import cache
from typing import TYPE_CHECKING, Annotated

import msgspec

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

# The one language the sentiment model was trained and judged on.
SUPPORTED_LANGUAGES = frozenset({"en"})
UNDETERMINED = "und"
# py3langid's label for text without linguistic content.
NO_LANGUAGE = "zxx"
# Fewer words than this is a short answer: English unless the evidence is strong.
SHORT_ANSWER_WORDS = 3
# Probability another language needs to overrule English in a short answer. Short English
# answers peaked at 0.26 ("No comment" → it) in our probes; short German, French, Spanish and
# Portuguese answers ("Danke schön", "Très bien", "Muito bom") scored 0.40 to 0.71.
SHORT_ANSWER_EVIDENCE = 0.4
# English is kept unless another language is this many times as probable.
ENGLISH_TIE_RATIO = 2.0
# Names are left out only when at least this many words remain.
MIN_WORDS_WITHOUT_NAMES = 2
_PRONOUN_I = re.compile(r"I(?:['’](?:m|d|ve|ll))?\W*$")

_LOAD_LOCK = threading.Lock()


class LanguageGuess(msgspec.Struct, frozen=True):
    """The language a comment is written in, and whether our sentiment model can judge it."""

    # ISO 639-1 code ("de"), ISO 639-3 for the few languages without one ("yue"), or "und"
    # when the text has too few letters to tell (":)", "10/10").
    code: str
    # The detector's probability for `code`, 0..1; low for short answers taken as English.
    confidence: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    # True unless the comment is evidently in a language other than English.
    supported: bool


def detect_language(text: str) -> LanguageGuess:
    """Guess the language of one comment."""
    letters = [char for char in text if char.isalpha()]
    if len(letters) < 2:
        return LanguageGuess(code=UNDETERMINED, confidence=0.0, supported=True)
    text = _without_names(text)
    ranking = _identifier().rank(text)
    best, best_probability = ranking[0]
    english = _probability(dict(ranking).get("en", 0.0))
    if best != "en" and _is_short_latin_answer(text, letters):
        foreign_is_clear = best_probability >= SHORT_ANSWER_EVIDENCE
    else:
        foreign_is_clear = best_probability > ENGLISH_TIE_RATIO * english
    if best == "en" or not foreign_is_clear:
        return LanguageGuess(code="en", confidence=english, supported=True)
    if best == NO_LANGUAGE:
        return LanguageGuess(code=UNDETERMINED, confidence=0.0, supported=True)
    return LanguageGuess(
        code=best,
        confidence=_probability(best_probability),
        supported=best in SUPPORTED_LANGUAGES,
    )


def _without_names(text: str) -> str:
    """Drop capitalised words inside sentences: brands, places and people, not language."""
    words = text.split()
    kept = [
        word
        for before, word in zip(["."] + words, words, strict=False)
        if not word[0].isupper() or before[-1] in ".!?:;" or _PRONOUN_I.match(word)
    ]
    # German capitalises every noun; if little is left, the capitals were the language.
    return " ".join(kept) if len(kept) >= MIN_WORDS_WITHOUT_NAMES else text


def _is_short_latin_answer(text: str, letters: list[str]) -> bool:
    words = [word for word in text.split() if any(char.isalpha() for char in word)]
    latin = sum(unicodedata.name(char, "").startswith("LATIN") for char in letters)
    # Another script is evidence in itself: "谢谢" or "Спасибо" is not a short English answer.
    return len(words) < SHORT_ANSWER_WORDS and latin >= len(letters) / 2


def _probability(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _identifier() -> LanguageIdentifier:
    with _LOAD_LOCK:
        return _load_identifier()


@cache
def _load_identifier() -> LanguageIdentifier:
    # Our own instance with normalised probabilities; py3langid's module-level one is shared
    # and gives raw scores. Loading takes under a second, once per process.
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
