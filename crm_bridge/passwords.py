"""Operator password hashes with :func:`hashlib.scrypt` (standard library only).

Format: ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``, so the cost can be
raised later without invalidating stored hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm_bridge.models import Operator

__all__ = ["authenticate", "hash_password", "verify_password"]

_N: Final = 2**14
_R: Final = 8
_P: Final = 1
_DKLEN: Final = 32


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    if not password:
        raise ValueError("empty password")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of ``password`` against a :func:`hash_password` value."""
    try:
        scheme, n, r, p, salt_hex, digest_hex = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = bytes.fromhex(digest_hex)
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt_hex),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


def authenticate(session: Session, login: str, password: str) -> Operator | None:
    """The active operator with this login and password, else None (every
    web log-in — operator's workplace, readings, dispatcher console — uses it;
    each then checks the role it admits)."""
    from sqlalchemy import select

    from crm_bridge.models import Operator

    if not login or not password:
        return None
    op = session.execute(
        select(Operator).where(Operator.login == login, Operator.active.is_(True))
    ).scalar_one_or_none()
    if op is None or not verify_password(password, op.password_hash):
        return None
    return op
