"""Registers Aftercare's tables and migrations with Piccolo."""

import os

from piccolo.conf.apps import AppConfig

from aftercare.tables import ALL_TABLES

APP_CONFIG = AppConfig(
    app_name="aftercare",
    migrations_folder_path=os.path.join(os.path.dirname(__file__), "piccolo_migrations"),
    table_classes=ALL_TABLES,
    migration_dependencies=[],
    commands=[],
)
