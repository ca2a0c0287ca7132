"""Migrations run forwards on a fresh database and upgrade one that already holds data."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from nlp.topics import DEFAULT_TOPICS
from tests.conftest import fresh_database_url

MIGRATIONS = sorted(
    path.stem.removeprefix("aftercare_")
    for path in (Path(__file__).parents[1] / "aftercare" / "piccolo_migrations").glob(
        "aftercare_*.py"
    )
)

# Runs in its own process: the engine is chosen from the environment at import.
UPGRADE_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import aftercare
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from aftercare.db import engine
    from aftercare.schema import migrate

    first_migration = sys.argv[1]

    async def main():
        result = await run_forwards(app_name="aftercare", migration_id=first_migration)
        assert result.success, result.message
        await engine().run_ddl(
            "INSERT INTO team (slug, name, created_at) VALUES ('old', 'Old team', '2026-01-01')"
        )
        await migrate()
        await migrate()
        rows = await engine().run_ddl("SELECT slug FROM team")
        print("teams:", [row["slug"] for row in rows])
        tables = await engine().run_ddl("SELECT count(*) AS n FROM topic")
        print("topic table rows:", tables[0]["n"])

    asyncio.run(main())
    """
)


def test_a_database_with_data_upgrades_through_every_migration(tmp_path: Path) -> None:
    assert len(MIGRATIONS) >= 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        AFTERCARE_DATABASE_URL=fresh_database_url("aftercare_upgrade"),
        AFTERCARE_DATA_DIR=str(tmp_path),
    )
    first = MIGRATIONS[0].replace("t", "T", 1)
    migration_id = _migration_id(first)
    result = subprocess.run(
        [sys.executable, "-c", UPGRADE_SCRIPT, migration_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "teams: ['old']" in result.stdout
    # The upgrade created the topic table and seeded the default taxonomy into it.
    assert f"topic table rows: {len(DEFAULT_TOPICS)}" in result.stdout


# The last migration before people could be in several teams (owner.team was their one team).
BEFORE_MEMBERSHIPS = "2026-12-06T03:46:01:464500"

MEMBERSHIP_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import aftercare
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from aftercare.db import engine
    from aftercare.schema import migrate

    async def main():
        result = await run_forwards(app_name="aftercare", migration_id=sys.argv[1])
        assert result.success, result.message
        run = engine().run_ddl
        await run("INSERT INTO team (slug, name, created_at) VALUES ('old', 'Old', '2026-01-01')")
        await run(
            "INSERT INTO owner (email, name, team, created_at) "
            "SELECT 'ann@example.org', 'Ann', id, created_at FROM team"
        )
        await run("INSERT INTO owner (email, name, created_at) "
                  "VALUES ('bo@example.org', 'Bo', '2026-01-02')")
        await migrate()
        await migrate()
        rows = await run(
            "SELECT owner.email, team.slug FROM team_membership "
            "JOIN owner ON owner.id = team_membership.owner "
            "JOIN team ON team.id = team_membership.team"
        )
        print("memberships:", [(row["email"], row["slug"]) for row in rows])

    asyncio.run(main())
    """
)


def test_an_owner_in_a_team_before_memberships_keeps_the_team_after_the_upgrade(
    tmp_path: Path,
) -> None:
    assert BEFORE_MEMBERSHIPS.replace(":", "_").replace("-", "_").lower() in [
        m.lower() for m in MIGRATIONS
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        AFTERCARE_DATABASE_URL=fresh_database_url("aftercare_memberships"),
        AFTERCARE_DATA_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [sys.executable, "-c", MEMBERSHIP_SCRIPT, BEFORE_MEMBERSHIPS],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    # Ann keeps her team as a membership; Bo, in no team, gets none.
    assert "memberships: [('ann@example.org', 'old')]" in result.stdout


def _migration_id(stem: str) -> str:
    """aftercare_2026_11_25t10_12_02_874252 -> 2026-11-25T10:12:02:874252 (Piccolo's id)."""
    date, time_part = stem.split("T")
    year, month, day = date.split("_")
    hour, minute, second, micro = time_part.split("_")
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}:{micro}"


TOPICS_AS_ROWS_SCRIPT = textwrap.dedent(
    """
    import asyncio, datetime as dt, json, sys
    import aftercare
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from aftercare.schema import migrate
    from aftercare.tables import (
        CommentSentence, Customer, Invitation, SentenceTopic, SupportCase, Survey, SurveyResponse
    )

    async def main():
        result = await run_forwards(app_name="aftercare", migration_id=sys.argv[1])
        assert result.success, result.message
        now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
        [customer] = await Customer.insert(
            Customer(email="c@example.org", name="C", created_at=now)).returning(Customer.id)
        [case] = await SupportCase.insert(SupportCase(
            external_id="OLD-1", subject="s", customer=customer["id"], team_key="", agent="",
            closed_at=now, created_at=now)).returning(SupportCase.id)
        [survey] = await Survey.insert(
            Survey(slug="old", title="t", questions="[]", created_at=now)).returning(Survey.id)
        [invitation] = await Invitation.insert(Invitation(
            support_case=case["id"], survey=survey["id"], token="t" * 20, created_at=now
        )).returning(Invitation.id)
        [response] = await SurveyResponse.insert(SurveyResponse(
            invitation=invitation["id"], support_case=case["id"], comment="x", answers="{}",
            submitted_at=now, analysis_requested_at=now)).returning(SurveyResponse.id)
        for position, topics in enumerate([["billing", "price_value"], [], ["delivery"]]):
            matches = [{"key": key, "score": 0.5} for key in topics]
            await CommentSentence.insert(CommentSentence(
                key=f"{response['id']}:{position}", response=response["id"], position=position,
                text="t", sentiment_label="negative", topics=json.dumps(matches),
                embedding=b"", model_version="m", analysed_at=now))
        await migrate()
        rows = await SentenceTopic.select(
            SentenceTopic.position, SentenceTopic.topic, SentenceTopic.sentiment_label
        ).order_by(SentenceTopic.key)
        print("rows:", [(r["position"], r["topic"], r["sentiment_label"]) for r in rows])

    asyncio.run(main())
    """
)


def test_topics_stored_on_sentences_before_the_upgrade_become_rows(tmp_path: Path) -> None:
    before_topic_rows = next(
        stem
        for stem, following in zip(MIGRATIONS, MIGRATIONS[1:], strict=False)
        if following == "2026_12_06t05_16_29_031099"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        AFTERCARE_DATABASE_URL=fresh_database_url("aftercare_topic_rows"),
        AFTERCARE_DATA_DIR=str(tmp_path),
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            TOPICS_AS_ROWS_SCRIPT,
            _migration_id(before_topic_rows.replace("t", "T", 1)),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    expected = [
        (0, "billing", "negative"),
        (0, "price_value", "negative"),
        (2, "delivery", "negative"),
    ]
    assert f"rows: {expected}" in result.stdout
