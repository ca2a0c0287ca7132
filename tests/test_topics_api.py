"""The taxonomy over the API: seeded defaults, added topics, edits, switching off."""

from __future__ import annotations

from tests.helpers import ApiClient

BILLING = {
    "key": "refunds",
    "name": "Refunds",
    "description": "Charges, invoices, refunds",
    "examples": ["I was charged twice", "my refund never arrived"],
}


def test_a_lead_adds_edits_and_switches_off_a_topic(api: ApiClient) -> None:
    created = api.post("/api/v1/topics", json=BILLING)
    assert created.status_code == 201, created.text
    assert created.json()["source"] == "custom" and created.json()["active"] is True

    edited = api.patch(
        "/api/v1/topics/refunds",
        json={"examples": ["double charge", "refund missing", "invoice wrong"], "active": False},
    )
    assert edited.status_code == 200
    assert edited.json()["examples"] == ["double charge", "refund missing", "invoice wrong"]
    assert edited.json()["active"] is False
    assert api.get("/api/v1/topics/refunds").json() == edited.json()
    active = api.get("/api/v1/topics", params={"active_only": "true"}).json()
    assert "refunds" not in [topic["key"] for topic in active]


def test_bad_topics_are_refused(api: ApiClient) -> None:
    assert api.post("/api/v1/topics", json=BILLING).status_code == 201
    assert api.post("/api/v1/topics", json=BILLING).status_code == 409
    assert api.post("/api/v1/topics", json={**BILLING, "key": "Bad Key"}).status_code == 400
    assert (
        api.post("/api/v1/topics", json={**BILLING, "key": "x", "examples": []}).status_code == 400
    )
    assert api.patch("/api/v1/topics/nope", json={"name": "N"}).status_code == 404
    assert api.patch("/api/v1/topics/refunds", json={"colour": "red"}).status_code == 400
    assert api.get("/api/v1/topics/refunds").json()["name"] == "Refunds"
