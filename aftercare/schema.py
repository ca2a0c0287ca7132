"""Bring a database up to date: every migration forwards, then the default rows.

Above db.py (which the seeding modules write through), so the engine module needs none of them.
"""

from __future__ import annotations

import datetime as dt

from piccolo.apps.migrations.commands.forwards import run_forwards

from aftercare.root_causes import ensure_default_root_causes
from aftercare.surveys import ensure_default_survey
from aftercare.topics import ensure_default_topics


async def migrate() -> None:
    """Run every migration forwards (idempotent), then seed the defaults."""
    result = await run_forwards(app_name="aftercare", migration_id="all", fake=False)
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}")
    await seed_defaults()


async def seed_defaults() -> None:
    """The default survey, topic taxonomy and root causes; rows that exist (perhaps edited)
    stay."""
    now = dt.datetime.now(dt.UTC)
    await ensure_default_survey(now)
    await ensure_default_topics(now=now)
    await ensure_default_root_causes(now=now)
