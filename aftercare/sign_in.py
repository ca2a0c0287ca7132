"""Signing in on the web with email and password, throttled per account and per client address.

After MAX_FAILED_SIGN_INS failures within FAILED_SIGN_IN_WINDOW for an account, or from one
address, sign-ins there are refused (even with the right password) until the oldest counted
failure leaves the window. Refused attempts are not counted, so waiting always helps. A
success clears the account's failures, not the address's: one good password does not buy an
address more guesses at other accounts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import math

from aftercare.accounts import Caller, caller_for_user, hash_password, password_matches
from aftercare.db import write_transaction
from aftercare.errors import DomainError
from aftercare.sessions import delete_expired_sessions
from aftercare.tables import Owner, SignInFailure

MAX_FAILED_SIGN_INS = 5
FAILED_SIGN_IN_WINDOW = dt.timedelta(minutes=15)
# How long a web session lasts after signing in (a working day, and then some).
SESSION_LIFETIME = dt.timedelta(hours=12)


class SignInRefused(DomainError):
    title = "Sign-in refused"


class TooManySignIns(DomainError):
    title = "Too many failed sign-ins"

    def __init__(self, retry_after_seconds: int) -> None:
        minutes = math.ceil(retry_after_seconds / 60)
        super().__init__(
            "Too many failed sign-ins. Please wait "
            f"{minutes} minute{'s' if minutes != 1 else ''} and try again."
        )
        self.retry_after_seconds = retry_after_seconds


async def sign_in(email: str, password: str, *, client_ip: str, now: dt.datetime) -> Caller:
    """The active user these credentials belong to; SignInRefused for wrong ones (counted),
    TooManySignIns while the account or the address has too many recent failures."""
    keys = [_account_key(email), _address_key(client_ip)]
    await _refuse_while_throttled(keys, now)
    row = (
        await Owner.select(Owner.id, Owner.password_hash)
        .where(Owner.email == email.strip().lower())
        .first()
    )
    # An unknown email costs a hash check too, so timing does not tell which emails exist;
    # argon2 takes a while on purpose, so it runs off the event loop.
    password_hash = row["password_hash"] if row else await asyncio.to_thread(_unknown_hash)
    matches = await asyncio.to_thread(password_matches, password_hash, password)
    caller = await caller_for_user(row["id"]) if row is not None and matches else None
    if caller is None:
        async with write_transaction():
            for key in keys:
                await SignInFailure.insert(SignInFailure(key=key, at=now))
        raise SignInRefused("The email or password is not right, or the account is inactive.")
    await SignInFailure.delete().where(SignInFailure.key == keys[0])
    return caller


async def forget_expired_sign_ins(*, now: dt.datetime) -> None:
    """Delete failures that no longer count and sessions that have expired."""
    cutoff = now - FAILED_SIGN_IN_WINDOW
    if await SignInFailure.exists().where(SignInFailure.at <= cutoff):
        await SignInFailure.delete().where(SignInFailure.at <= cutoff)
    await delete_expired_sessions(now=now)


async def _refuse_while_throttled(keys: list[str], now: dt.datetime) -> None:
    waits = [await _seconds_until_allowed(key, now) for key in keys]
    if max(waits) > 0:
        raise TooManySignIns(max(waits))


async def _seconds_until_allowed(key: str, now: dt.datetime) -> int:
    """0 while the key has fewer than the allowed failures in the window; else the seconds
    until enough of them leave it."""
    rows = (
        await SignInFailure.select(SignInFailure.at)
        .where(SignInFailure.key == key, SignInFailure.at > now - FAILED_SIGN_IN_WINDOW)
        .order_by(SignInFailure.at)
    )
    excess = len(rows) - MAX_FAILED_SIGN_INS
    if excess < 0:
        return 0
    leaves_window = rows[excess]["at"] + FAILED_SIGN_IN_WINDOW
    return max(1, int(math.ceil((leaves_window - now).total_seconds())))


def _account_key(email: str) -> str:
    return "account:" + email.strip().lower()[:320]


def _address_key(client_ip: str) -> str:
    return "ip:" + (client_ip or "unknown")[:64]


@functools.cache
def _unknown_hash() -> str:
    return hash_password("no account has this password")
