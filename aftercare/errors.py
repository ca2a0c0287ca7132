"""Domain errors. The API maps each to an HTTP status and a problem-details body."""

from __future__ import annotations


class DomainError(Exception):
    """Base class: `title` is a short summary for the problem-details body."""

    title = "Request cannot be completed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    title = "Not found"


class Forbidden(DomainError):
    """The caller's role may not make this change."""

    title = "Forbidden"


class Conflict(DomainError):
    title = "Conflict"


class AlreadyAnswered(Conflict):
    title = "Survey already answered"


class LinkExpired(DomainError):
    title = "Survey link expired"


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a rule that depends on settings or stored data."""

    title = "Invalid input"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
