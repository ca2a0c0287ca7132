"""Theme discovery: three clearly separate complaints among some one-offs come out as three."""

from __future__ import annotations

import numpy as np
import pytest

from nlp import encoder
from nlp.discovery import Theme, discover_themes, distinctive_terms

LATE_DELIVERIES = [
    "My parcel arrived four days after the promised date.",
    "The delivery was late again, second time this month.",
    "Still waiting for my package, it was due last Tuesday.",
    "The courier turned up a week late with my order.",
    "Parcel delivery was delayed with no explanation.",
    "My order was supposed to arrive on Friday but only came the Wednesday after.",
    "Late delivery meant I missed my daughter's birthday present.",
    "Tracking kept saying out for delivery but the parcel never came that day.",
    "Delivery took three weeks instead of the three days you advertised.",
    "I paid for next day delivery and the parcel arrived five days later.",
    "Why does every delivery from you arrive late?",
    "The package was stuck in the depot for ten days.",
    "My parcel was delayed twice before it finally turned up.",
    "The delivery slot was missed and the parcel came the following week.",
    "Ordered in early May and the delivery only arrived in June.",
    "The courier delivered my parcel days after the estimated date.",
    "Express delivery my foot, it came a week late.",
    "Another late delivery, the parcel showed up long after the deadline.",
    "The parcel was supposed to be delivered on Monday, it arrived on Saturday.",
    "Delivery delays are getting ridiculous, my parcel was late by a week.",
    "Had to chase the courier because my delivery was so late.",
    "The parcel came late and the box was soggy.",
    "Your delivery estimate was wildly wrong, the parcel turned up very late.",
    "Waited in all day for a delivery that arrived two days late.",
    "My second parcel is now a week overdue.",
]
DOUBLE_CHARGES = [
    "I was charged twice for the same bill this month.",
    "My card was charged two times for one order.",
    "There's a duplicate charge on my latest bill.",
    "You billed me twice for the same subscription.",
    "I've been double charged and want my money back.",
    "The bill shows the same charge listed twice.",
    "Two identical payments were taken from my account for one bill.",
    "Double charged again, this is the third month in a row.",
    "My bank statement shows I was charged twice by you.",
    "Why was I charged twice on this bill?",
    "The monthly fee was charged twice on my bill.",
    "I paid the bill once but the charge appeared twice.",
    "Got billed double for my broadband this month.",
    "You charged my credit card twice for a single purchase.",
    "Please refund the duplicate charge on my bill.",
    "I noticed a double charge when I checked my bill.",
    "Charged twice for the same invoice, very annoying.",
    "The bill had my line rental charged twice.",
    "Two charges for one bill, somebody needs to fix your billing.",
    "I was billed twice and had to call to get it reversed.",
    "My direct debit took the payment twice this month.",
    "The same amount was charged twice on my bill.",
    "Being charged twice for one service is unacceptable.",
    "Your system charged me double on last month's bill.",
    "I found two charges for one order on my bill.",
]
APP_LOGIN_FAILURES = [
    "I can't log in to the app since the last update.",
    "The app keeps rejecting my password even though it's correct.",
    "Login fails every time I open the app.",
    "The app logs me out and won't let me sign back in.",
    "I get an error message when I try to log in to the app.",
    "Couldn't log into the app for three days.",
    "The app login screen just spins forever.",
    "Face ID login in the app stopped working.",
    "Every time I try to sign in to the app it says invalid credentials.",
    "The app won't accept my login details anymore.",
    "I reset my password but still can't log in to the app.",
    "The app crashes as soon as I press login.",
    "Login on the mobile app is broken.",
    "The app says my account is locked whenever I try to log in.",
    "Can't get past the login page in the app.",
    "The verification code for the app login never arrives.",
    "The app keeps asking me to log in again and again.",
    "Logging in to the app fails with an unknown error.",
    "I'm locked out of the app, login doesn't work.",
    "The app's login button does nothing.",
    "After updating the app I can no longer sign in.",
    "Login problems with the app for a week now.",
    "The app tells me my password is wrong but it works on the website.",
    "The app froze on the login screen again.",
    "Trying to log in to the app just gives me a blank screen.",
]
ONE_OFFS = [
    "The engineer's dog was very cute.",
    "Your hold music is Vivaldi, nice choice.",
    "I moved house last month.",
    "The shop on the high street has new opening hours.",
    "Can you send me a paper copy of the warranty terms?",
    "My neighbour recommended you to me.",
]
GROUPS = {
    "delivery": (LATE_DELIVERIES, {"delivery", "parcel", "late", "courier"}),
    "charges": (DOUBLE_CHARGES, {"charged", "bill", "twice", "charge", "charged twice"}),
    "login": (APP_LOGIN_FAILURES, {"app", "login", "log", "log app"}),
}


def _mixed() -> tuple[list[str], list[str]]:
    """Interleave the groups and one-offs so clusters cannot lean on input order."""
    tagged = [(s, name) for name, (group, _) in GROUPS.items() for s in group]
    tagged += [(s, "one-off") for s in ONE_OFFS]
    order = np.random.default_rng(7).permutation(len(tagged))
    return [tagged[i][0] for i in order], [tagged[i][1] for i in order]


@pytest.fixture(scope="module")
def mixed() -> tuple[list[str], list[str], np.ndarray]:
    sentences, groups = _mixed()
    return sentences, groups, encoder.embed(sentences)


@pytest.fixture(scope="module")
def themes(mixed: tuple[list[str], list[str], np.ndarray]) -> list[Theme]:
    sentences, _, embeddings = mixed
    return discover_themes(sentences, embeddings)


def _group_of(theme: Theme, groups: list[str]) -> str:
    names = [groups[i] for i in theme.member_indices]
    return max(set(names), key=names.count)


def test_it_finds_exactly_the_three_themes(
    themes: list[Theme], mixed: tuple[list[str], list[str], np.ndarray]
) -> None:
    _, groups, _ = mixed
    assert len(themes) == 3
    assert sorted(_group_of(theme, groups) for theme in themes) == ["charges", "delivery", "login"]


def test_each_theme_is_named_by_its_own_terms(
    themes: list[Theme], mixed: tuple[list[str], list[str], np.ndarray]
) -> None:
    _, groups, _ = mixed
    for theme in themes:
        expected = GROUPS[_group_of(theme, groups)][1]
        assert len(theme.terms) == 5
        assert set(theme.terms[:2]) & expected, theme.terms
        assert theme.label == ", ".join(theme.terms[:3])
        others = set().union(*(terms for _, terms in GROUPS.values())) - expected
        assert not set(theme.terms[:3]) & others, theme.terms


def test_each_theme_holds_its_own_sentences(
    themes: list[Theme], mixed: tuple[list[str], list[str], np.ndarray]
) -> None:
    sentences, groups, _ = mixed
    for theme in themes:
        group = _group_of(theme, groups)
        members = [groups[i] for i in theme.member_indices]
        assert theme.size == len(theme.member_indices)
        assert list(theme.member_indices) == sorted(theme.member_indices)
        assert members.count(group) >= 0.9 * len(members)
        assert members.count(group) >= 20  # of 25
        assert 1 <= len(theme.representatives) <= 3
        assert all(groups[sentences.index(s)] == group for s in theme.representatives)


def test_the_centroid_is_a_unit_vector_close_to_its_members(
    themes: list[Theme], mixed: tuple[list[str], list[str], np.ndarray]
) -> None:
    _, _, embeddings = mixed
    for theme in themes:
        centroid = np.array(theme.centroid)
        assert centroid.shape == (384,)
        assert np.linalg.norm(centroid) == pytest.approx(1.0, abs=1e-6)
        assert float(np.mean(embeddings[list(theme.member_indices)] @ centroid)) > 0.5


def test_one_offs_join_no_theme(
    themes: list[Theme], mixed: tuple[list[str], list[str], np.ndarray]
) -> None:
    _, groups, _ = mixed
    one_offs = {i for i, group in enumerate(groups) if group == "one-off"}
    members = {i for theme in themes for i in theme.member_indices}
    assert len(one_offs & members) <= 1


def test_it_gives_the_same_themes_every_time(
    themes: list[Theme], mixed: tuple[list[str], list[str], np.ndarray]
) -> None:
    sentences, _, embeddings = mixed
    assert discover_themes(sentences, embeddings) == themes


def test_it_embeds_the_sentences_itself_when_given_no_embeddings() -> None:
    sentences = LATE_DELIVERIES[:12] + APP_LOGIN_FAILURES[:12]
    themes = discover_themes(sentences)
    assert len(themes) == 2
    assert themes == discover_themes(sentences, encoder.embed(sentences))


def test_too_few_sentences_make_no_theme() -> None:
    assert discover_themes([]) == []
    assert discover_themes(LATE_DELIVERIES[:3], encoder.embed(LATE_DELIVERIES[:3])) == []


def test_embeddings_must_match_the_sentences() -> None:
    with pytest.raises(ValueError, match="embeddings"):
        discover_themes(LATE_DELIVERIES, encoder.embed(LATE_DELIVERIES[:5]))


def test_distinctive_terms_prefer_words_that_set_a_cluster_apart() -> None:
    terms = distinctive_terms(
        [
            ["the parcel was late", "late parcel again", "service was slow"],
            ["charged twice on the bill", "bill charged twice", "service was slow"],
        ],
        top=2,
    )
    assert terms == [("late", "late parcel"), ("charged", "charged twice")] or (
        set(terms[0]) <= {"late", "parcel", "late parcel"}
        and set(terms[1]) <= {"charged", "twice", "charged twice", "bill", "bill charged"}
    )
