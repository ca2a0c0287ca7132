"""`aftercare reanalyse`: stored responses analysed again after a model upgrade."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aftercare.analysis import record_analysis
from aftercare.cases import ClosedCase, CustomerDetails, record_closed_case
from aftercare.clock import system_clock
from aftercare.responses import SurveyAnswers, submit_response
from aftercare.tables import Analysis, CommentSentence, FollowUpTask, SurveyResponse
from aftercare.tasks import FollowUpPolicy
from nlp.results import CommentAnalysis, SentenceAnalysis
from nlp.sentiment import get_model
from nlp.types import Sentiment
from tests.conftest import TEST_DIR, TEST_SETTINGS, cli_environment, run
from tests.helpers import survey_token

COMMENT = "Rude, useless and the fault is still there. I want to cancel."


async def _response_analysed_by_an_old_model() -> int:
    invitation, _ = await record_closed_case(
        ClosedCase(external_id="OLD-1", customer=CustomerDetails(email="o@example.org")),
        public_url="http://x",
        clock=system_clock,
    )
    response_id = await submit_response(
        survey_token(invitation.survey_url),
        SurveyAnswers(nps=9, csat=4, comment=COMMENT),
        comment_max_chars=5000,
        clock=system_clock,
    )
    # What an earlier model version stored: a (wrong) positive reading, in three sentences.
    old = Sentiment(label="positive", score=0.8, model_version="old-model-0")
    sentence = SentenceAnalysis(text="old", sentiment=old, topics=(), embedding=b"\0" * 768)
    stored = CommentAnalysis(
        language="en",
        language_supported=True,
        sentiment=old,
        sentences=(sentence, sentence, sentence),
        model_version="old-model-0",
    )
    row = await SurveyResponse.select().where(SurveyResponse.id == response_id).first()
    assert row is not None
    await record_analysis(row, stored, "analysed", policy=FollowUpPolicy(), clock=system_clock)
    return response_id


def test_reanalyse_replaces_old_results_and_keeps_the_model_version(db: None) -> None:
    response_id = run(_response_analysed_by_an_old_model())
    assert run(FollowUpTask.count()) == 0

    result = subprocess.run(
        [str(Path(sys.executable).parent / "aftercare"), "reanalyse", "--since", "2020-01-01"],
        env=cli_environment(AFTERCARE_DATABASE_URL=TEST_SETTINGS.database_url),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=TEST_DIR,
    )
    assert result.returncode == 0, result.stderr
    assert "re-analysing" in result.stderr  # the progress bar
    current = get_model().model_version
    assert f"re-analysed 1 responses with {current}" in result.stdout

    analysis = run(Analysis.select().where(Analysis.response == response_id).first())
    assert analysis is not None
    assert analysis["model_version"] == current
    assert analysis["sentiment_label"] == "negative"
    sentences = run(CommentSentence.select().where(CommentSentence.response == response_id))
    assert [row["model_version"] for row in sentences] == [current, current]
    # Newly negative: the follow-up task the old reading missed now exists, once.
    assert run(FollowUpTask.count()) == 1


def test_reanalyse_refuses_a_bad_date() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "aftercare"), "reanalyse", "--since", "last week"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not a date" in result.stderr
