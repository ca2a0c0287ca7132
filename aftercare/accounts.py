"""Who is calling: roles, passwords and personal API tokens.

The bootstrap token (AFTERCARE_API_TOKEN) acts as an admin with no account; everyone else is a
row of the people directory (tables.Owner) with a role, signing in with a password (argon2id)
or a personal token, of which only a SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Annotated, Literal

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from aftercare.db import write_transaction
from aftercare.errors import InvalidInput, NotFound
from aftercare.fields import Text
from aftercare.tables import ApiToken, Owner
from aftercare.tasks import EVERY_TASK, Actor, TaskScope
from aftercare.teams import team_ids_of

Role = Literal["admin", "lead", "owner", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "lead", "owner", "viewer")
# Personal tokens start with this, so a leaked one is recognisable (and never a bootstrap token).
TOKEN_PREFIX = "act_"
MIN_PASSWORD_LENGTH = 12
# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

_hasher = PasswordHasher()


class Caller(msgspec.Struct, frozen=True, kw_only=True):
    """The authenticated caller of a request."""

    role: Role
    label: str
    user_id: int | None = None
    # The teams the caller belongs to (empty for the bootstrap token).
    team_ids: frozenset[int] = frozenset()

    @property
    def actor(self) -> Actor:
        return Actor(label=self.label, user_id=self.user_id)

    @property
    def within_teams(self) -> frozenset[int] | None:
        """The teams whose tasks and people a lead or owner works with; None (every team) for
        admins and viewers."""
        if self.role in ("admin", "viewer"):
            return None
        return self.team_ids

    @property
    def task_scope(self) -> TaskScope:
        """Admins and viewers see every task; leads and owners their teams' and their own."""
        if self.within_teams is None:
            return EVERY_TASK
        return TaskScope(team_ids=self.within_teams, owner_id=self.user_id)

    @property
    def may_change(self) -> bool:
        return self.role != "viewer"


BOOTSTRAP_ADMIN = Caller(role="admin", label="admin token")


class NewToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    # What the token is for ("CI export", "helpdesk webhook"), to tell tokens apart.
    name: Annotated[Text, msgspec.Meta(min_length=1, max_length=100)] = "api"


class TokenView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedToken(TokenView, frozen=True, kw_only=True):
    """A new token: the only time the token itself is shown."""

    token: str


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def set_password(email: str, password: str) -> None:
    hashed = hash_password(password)
    async with write_transaction():
        updated = (
            await Owner.update({Owner.password_hash: hashed})
            .where(Owner.email == email.lower())
            .returning(Owner.id)
        )
    if not updated:
        raise NotFound(f"No user with email {email!r}.")


async def issue_token(user_id: int, name: str, *, now: dt.datetime) -> IssuedToken:
    """A new personal token for the user; returned once, stored as its hash."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with write_transaction():
        if not await Owner.exists().where(Owner.id == user_id):
            raise NotFound(f"No user with id {user_id}.")
        inserted = await ApiToken.insert(
            ApiToken(
                owner=user_id,
                name=name,
                prefix=token[:12],
                token_hash=_token_hash(token),
                created_at=now,
            )
        ).returning(ApiToken.id)
    return IssuedToken(
        id=inserted[0]["id"],
        name=name,
        prefix=token[:12],
        created_at=now,
        last_used_at=None,
        revoked_at=None,
        token=token,
    )


async def list_tokens(user_id: int) -> list[TokenView]:
    if not await Owner.exists().where(Owner.id == user_id):
        raise NotFound(f"No user with id {user_id}.")
    rows = (
        await ApiToken.select(*ApiToken.all_columns(exclude=[ApiToken.owner, ApiToken.token_hash]))
        .where(ApiToken.owner == user_id)
        .order_by(ApiToken.id)
    )
    return msgspec.convert(rows, list[TokenView])


async def revoke_token(user_id: int, token_id: int, *, now: dt.datetime) -> TokenView:
    async with write_transaction():
        await ApiToken.update({ApiToken.revoked_at: now}).where(
            ApiToken.id == token_id, ApiToken.owner == user_id, ApiToken.revoked_at.is_null()
        )
    tokens = [token for token in await list_tokens(user_id) if token.id == token_id]
    if not tokens:
        raise NotFound(f"No token {token_id} of user {user_id}.")
    return tokens[0]


async def caller_for_token(token: str, *, bootstrap_token: str, now: dt.datetime) -> Caller | None:
    """Who a bearer token belongs to: the bootstrap admin, an active user's live personal
    token, or nobody (None)."""
    if bootstrap_token and hmac.compare_digest(token.encode(), bootstrap_token.encode()):
        return BOOTSTRAP_ADMIN
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = (
        await ApiToken.select(
            ApiToken.id, ApiToken.last_used_at, ApiToken.owner.id.as_alias("user_id")
        )
        .where(ApiToken.token_hash == _token_hash(token), ApiToken.revoked_at.is_null())
        .first()
    )
    if row is None:
        return None
    caller = await caller_for_user(row["user_id"])
    if caller is None:
        return None
    if row["last_used_at"] is None or now - row["last_used_at"] > LAST_USED_RESOLUTION:
        await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == row["id"])
    return caller


async def caller_for_user(user_id: int) -> Caller | None:
    """The user as a caller, with their role and teams; None when unknown or deactivated."""
    row = (
        await Owner.select(Owner.id, Owner.email, Owner.role, Owner.active)
        .where(Owner.id == user_id)
        .first()
    )
    if row is None or not row["active"]:
        return None
    teams = await team_ids_of(row["id"])
    return Caller(role=row["role"], label=row["email"], user_id=row["id"], team_ids=teams)


def _token_hash(token: str) -> str:
    # Tokens carry 256 random bits: a fast hash is enough (no password stretching needed).
    return hashlib.sha256(token.encode()).hexdigest()
