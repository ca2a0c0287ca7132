"""Field types the input Structs share: what text, e-mail addresses and ids may hold."""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

# Control characters (C0, DEL and C1) other than tab, newline and carriage return: NUL breaks
# PostgreSQL text and the others only corrupt reports, so input holding them is refused.
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
TEXT_PATTERN = rf"^[^{CONTROL_CHARACTERS}]*$"
EMAIL_PATTERN = rf"^[^@\s{CONTROL_CHARACTERS}]{{1,64}}@[^@\s{CONTROL_CHARACTERS}]{{1,255}}$"

# Free text: anything printable, with tabs and line breaks.
Text = Annotated[str, msgspec.Meta(pattern=TEXT_PATTERN)]
TEXT_RULE = "must not contain control characters (tabs and line breaks are fine)"
Email = Annotated[str, msgspec.Meta(pattern=EMAIL_PATTERN, max_length=320)]

# Serial ids are 32-bit integers on PostgreSQL.
MAX_ID = 2**31 - 1

_CONTROL_CHARACTER = re.compile(f"[{CONTROL_CHARACTERS}]")


def has_control_characters(value: str) -> bool:
    """Whether `value` holds a character that `Text` refuses."""
    return _CONTROL_CHARACTER.search(value) is not None
