"""ListSagas page tokens: opaque to clients, a keyset position to the server.

A token holds where the previous page ended (its last saga's created_at and id) and the filter
it was made for (SagaQuery.fingerprint); a token used with another filter, or not made here,
is INVALID_ARGUMENT naming `page_token`.
"""

from __future__ import annotations

import base64
import binascii
import json

from sagakit.errors import InvalidArgument

_BAD = "not a token from a previous response with the same filter"


def encode(after: tuple[str, str] | None, filter_id: str) -> str:
    """The token for the page after `after`; "" when there is none."""
    if after is None:
        return ""
    raw = json.dumps([1, after[0], after[1], filter_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, filter_id: str) -> tuple[str, str] | None:
    token = token.strip()
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        version, created_at, saga_id, made_for = json.loads(raw)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise InvalidArgument("page_token", _BAD) from None
    if version != 1 or not isinstance(created_at, str) or not isinstance(saga_id, str):
        raise InvalidArgument("page_token", _BAD)
    if made_for != filter_id:
        raise InvalidArgument("page_token", _BAD)
    return created_at, saga_id
