"""Exceptions raised by the client: one class per kind of failure, each carrying the hub's error.

The hub answers every error as ``{"error": {"code": "...", "message": "..."}}``; the client turns
that into a :class:`SwitchyardError` subclass chosen by HTTP status, so callers catch the kind they
can handle (``except AuthError``) and read ``code`` when they need the precise reason.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Type, cast

__all__ = [
    "SwitchyardError", "ValidationError", "AuthError", "NotFound", "Conflict", "RateLimited",
    "Unavailable", "error_from_response",
]


class SwitchyardError(Exception):
    """A request the hub refused or could not be reached for.

    ``status`` is the HTTP status (0 when no response arrived: network errors and checks made
    before sending), ``code`` the hub's machine-readable code (``"unauthorized"``,
    ``"invalid_subscriber"``, ``"network_error"``...), ``message`` its human sentence, ``body``
    the decoded response body if there was one, ``retry_after`` the Retry-After header in seconds.
    """

    status: int
    code: str
    message: str
    body: Any
    retry_after: Optional[float]

    def __init__(self, status: int, code: str, message: str, *, body: Any = None,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(status, code, message)
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        self.retry_after = retry_after

    def __str__(self) -> str:
        if self.status:
            return "%s (HTTP %d %s)" % (self.message, self.status, self.code)
        return "%s (%s)" % (self.message, self.code)

    def __repr__(self) -> str:
        return "%s(status=%r, code=%r, message=%r)" % (type(self).__name__, self.status, self.code,
                                                       self.message)


class ValidationError(SwitchyardError):
    """400, 413, 415: the request itself is wrong (bad JSON, topic, filter, field, size, type).
    Retrying the same request cannot succeed."""


class AuthError(SwitchyardError):
    """401 (missing, malformed, wrongly signed or expired token; bad admin credential) or
    403 (the token's ``topics`` claim does not allow the topic)."""


class NotFound(SwitchyardError):
    """404: no such subscriber, event, dead letter or endpoint."""


class Conflict(SwitchyardError):
    """409: e.g. a subscriber with that name already exists."""


class RateLimited(SwitchyardError):
    """429: the publisher is over its rate; ``retry_after`` says when to try again."""


class Unavailable(SwitchyardError):
    """503/502/504, or no answer at all (``status`` 0, ``code`` ``"network_error"``). For the hub's
    503 nothing was enqueued or changed; a publish with the same Idempotency-Key is safe to retry."""


_BY_STATUS: Dict[int, Type[SwitchyardError]] = {
    400: ValidationError, 413: ValidationError, 415: ValidationError, 422: ValidationError,
    401: AuthError, 403: AuthError,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    502: Unavailable, 503: Unavailable, 504: Unavailable,
}


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header given in seconds; None for absent or HTTP-date forms."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(status: int, body: bytes, retry_after: Optional[str] = None) -> SwitchyardError:
    """The exception for an error response. Bodies not in the hub's shape (a proxy's HTML page,
    say) give code ``"http_<status>"`` and the start of the body as message."""
    decoded: Any = None
    code = "http_%d" % status
    message = ""
    try:
        decoded = json.loads(body.decode("utf-8")) if body else None
    except (ValueError, UnicodeDecodeError):
        decoded = None
    err: Any = cast(Dict[str, Any], decoded).get("error") if isinstance(decoded, dict) else None
    if isinstance(err, dict):
        fields = cast(Dict[str, Any], err)
        if isinstance(fields.get("code"), str):
            code = str(fields["code"])
            message = str(fields["message"]) if isinstance(fields.get("message"), str) else ""
    if not message:
        text = body.decode("utf-8", "replace").strip() if body else ""
        message = text[:200] if text else "the hub answered HTTP %d" % status
    cls = _BY_STATUS.get(status, SwitchyardError)
    return cls(status, code, message, body=decoded, retry_after=parse_retry_after(retry_after))
