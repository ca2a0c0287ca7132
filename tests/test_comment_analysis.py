"""What the analysis shows about a comment: sentences, aspects, language, stored embeddings."""

from __future__ import annotations

import numpy as np

from aftercare.tables import CommentSentence
from tests.conftest import run
from tests.helpers import ApiClient


def test_praise_for_the_agent_and_a_billing_complaint_are_both_visible(api: ApiClient) -> None:
    case = api.close_case("ASPECT-1")
    created = api.submit_json(
        case["survey_url"],
        nps=5,
        csat=3,
        comment="The agent was lovely and patient. "
        "But I was charged twice and I still have no refund.",
    )
    body = api.wait_until_analysed(created.json()["id"])

    assert body["language"] == "en" and body["sentiment_note"] is None
    praise, complaint = body["sentences"]
    assert praise["sentiment_label"] == "positive" and "agent_attitude" in praise["topics"]
    assert complaint["sentiment_label"] == "negative" and "billing" in complaint["topics"]
    assert body["aspects"]["agent_attitude"] == "positive"
    assert body["aspects"]["billing"] == "negative"

    stored = run(
        CommentSentence.select()
        .where(CommentSentence.response == body["id"])
        .order_by(CommentSentence.position)
    )
    assert [row["text"] for row in stored] == [praise["text"], complaint["text"]]
    vector = np.frombuffer(stored[0]["embedding"], dtype=np.float16)
    assert vector.shape == (384,)
    assert abs(float(np.linalg.norm(vector.astype(np.float32))) - 1.0) < 0.01


def test_a_comment_in_another_language_is_not_guessed_and_the_scores_decide(
    api: ApiClient,
) -> None:
    case = api.close_case("LANG-1")
    created = api.submit_json(
        case["survey_url"],
        nps=2,
        csat=2,
        comment="Der Techniker kam nicht und niemand hat angerufen. Sehr enttäuschend.",
    )
    body = api.wait_until_analysed(created.json()["id"])
    assert body["language"] == "de"
    assert body["sentiment_note"] == "unsupported language"
    assert body["sentiment_label"] is None and body["sentiment_score"] is None
    assert body["negative_reasons"] == ["nps 2 <= 6", "csat 2 <= 2"]
    assert body["follow_up_task_id"] is not None


def test_the_default_taxonomy_is_seeded_and_matches_comments(api: ApiClient) -> None:
    keys = [topic["key"] for topic in api.get("/api/v1/topics").json()]
    assert set(keys) >= {
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
    }
    # Switching a topic off takes it out of new analyses.
    assert api.patch("/api/v1/topics/billing", json={"active": False}).status_code == 200
    case = api.close_case("TOPIC-OFF")
    created = api.submit_json(case["survey_url"], nps=3, csat=2, comment="I was charged twice.")
    body = api.wait_until_analysed(created.json()["id"])
    assert all("billing" not in sentence["topics"] for sentence in body["sentences"])
