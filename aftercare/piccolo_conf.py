"""Piccolo's configuration: the engine comes from AFTERCARE_DATABASE_URL."""

from piccolo.conf.apps import AppRegistry

from aftercare.db import create_engine
from aftercare.settings import load_settings

DB = create_engine(load_settings().database_url)
APP_REGISTRY = AppRegistry(apps=["aftercare.piccolo_app"])
