from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T05:17:41:000000"
VERSION = "1.38.0"
DESCRIPTION = "team memberships: every owner's one team (owner.team) becomes a membership"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="aftercare", description=DESCRIPTION
    )

    # A migration's raw steps run before its tables are created, hence a migration of its own.
    async def memberships_from_owner_team() -> None:
        await engine_finder().run_ddl(
            "INSERT INTO team_membership (key, owner, team, created_at) "
            "SELECT CAST(id AS TEXT) || ':' || CAST(team AS TEXT), id, team, created_at "
            "FROM owner WHERE team IS NOT NULL"
        )

    manager.add_raw(memberships_from_owner_team)

    return manager
