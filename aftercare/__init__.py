"""Aftercare's domain: tables, migrations and the business rules the API and workers share."""

import os

# Piccolo finds its engine through this dotted module name (not a file path).
os.environ.setdefault("PICCOLO_CONF", "aftercare.piccolo_conf")
