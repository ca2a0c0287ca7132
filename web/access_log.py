"""Survey links are credentials: the access log shows only the first characters of a token."""

from __future__ import annotations

import logging
import re

ACCESS_LOGGER = "uvicorn.access"
# A survey path's token segment: /s/<token> and /s/<token>/thanks.
SURVEY_TOKEN_IN_PATH = re.compile(r"(/s/[A-Za-z0-9_-]{4})[A-Za-z0-9_%-]*")


def mask_survey_tokens(text: str) -> str:
    return SURVEY_TOKEN_IN_PATH.sub(r"\1…", text)


class SurveyTokenMask(logging.Filter):
    """Rewrites the path of uvicorn's access records (args: client, method, path, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_survey_tokens(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def mask_survey_tokens_in_access_log() -> None:
    """Install the mask once per process (uvicorn keeps a logger's filters when it configures)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, SurveyTokenMask) for existing in logger.filters):
        logger.addFilter(SurveyTokenMask())
