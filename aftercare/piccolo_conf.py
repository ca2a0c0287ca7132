"""Where Piccolo looks for its engine (PICCOLO_CONF names this module).

The composition root binds the engine it built from Settings (aftercare.db.bind_engine).
Until then, as for Piccolo's own CLI (`piccolo migrations new aftercare --auto`), reading DB
builds one from AFTERCARE_DATABASE_URL: nothing is built or connected at import.
"""

from typing import Any

from piccolo.conf.apps import AppRegistry

APP_REGISTRY = AppRegistry(apps=["aftercare.piccolo_app"])


def __getattr__(name: str) -> Any:
    if name != "DB":
        raise AttributeError(name)
    from aftercare.db import bind_engine, create_engine
    from aftercare.settings import load_settings

    db = create_engine(load_settings().database_url)
    bind_engine(db)
    return db
