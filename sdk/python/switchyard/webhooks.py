"""Receiving side: verify the Standard Webhooks signature the worker puts on every delivery.

Each delivery carries ``webhook-id`` (the job id, stable across retries: de-duplicate on it),
``webhook-timestamp`` (epoch seconds) and ``webhook-signature`` (space-separated ``v1,<base64>``
entries: HMAC-SHA256 of ``"<id>.<timestamp>.<body>"`` keyed with the base64-decoded part of the
subscriber's ``whsec_...`` secret). During a secret rotation the hub signs with both secrets, so
any one matching entry is enough.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any, Dict, Iterable, List, Mapping, Tuple, Union, cast

__all__ = ["WebhookVerificationError", "verify_webhook", "sign_webhook"]

Body = Union[bytes, bytearray, memoryview, str]
HeaderValue = Union[str, bytes, Iterable[Union[str, bytes]]]
Headers = Union[Mapping[Any, Any], Iterable[Tuple[Any, Any]]]

DEFAULT_TOLERANCE_S = 300


class WebhookVerificationError(Exception):
    """The delivery must not be trusted; ``reason`` says why (answer it with 400 or 401)."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _secret_key(secret: Union[str, bytes]) -> bytes:
    """The HMAC key: the base64 after ``whsec_`` (the prefix is optional), or raw bytes as given."""
    if isinstance(secret, (bytes, bytearray)):
        return bytes(secret)
    if not isinstance(secret, str) or not secret:
        raise ValueError("the webhook secret must be the subscriber's \"whsec_...\" string")
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret is not \"whsec_\" followed by base64") from None


def _as_bytes(body: Body) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError("body must be the raw request body (bytes or str), not %s: verify before "
                    "parsing, since re-serialized JSON will not match the signature"
                    % type(body).__name__)


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def _collect(headers: Headers) -> Dict[str, List[str]]:
    """Lower-cased name -> every value, from a dict, a list of pairs, http.client/email messages,
    framework header objects, or ASGI's list of (bytes, bytes)."""
    items: Iterable[Tuple[Any, Any]]
    if hasattr(headers, "items"):
        items = cast(Mapping[Any, Any], headers).items()
    else:
        items = cast(Iterable[Tuple[Any, Any]], headers)
    out: Dict[str, List[str]] = {}
    for name, value in items:
        values: List[Any] = list(value) if isinstance(value, (list, tuple)) else [value]
        out.setdefault(_text(name).lower(), []).extend(_text(v) for v in values)
    return out


def _single(found: Dict[str, List[str]], name: str) -> str:
    values = found.get(name)
    if not values or not values[0].strip():
        raise WebhookVerificationError("missing %s header" % name)
    if len(set(v.strip() for v in values)) > 1:
        raise WebhookVerificationError("more than one %s header" % name)
    return values[0].strip()


def _now_seconds(now: Union[None, float, datetime]) -> float:
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        return now.timestamp()
    return float(now)


def sign_webhook(secret: Union[str, bytes], msg_id: str, timestamp: Union[int, str], body: Body) -> str:
    """The ``v1,<base64>`` signature of one delivery, as the worker computes it. Useful to test a
    receiver without a hub."""
    signed = ("%s.%s." % (msg_id, timestamp)).encode("utf-8") + _as_bytes(body)
    mac = hmac.new(_secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def verify_webhook(secret: Union[str, bytes], headers: Headers, body: Body, *,
                   tolerance: float = DEFAULT_TOLERANCE_S,
                   now: Union[None, float, datetime] = None) -> Any:
    """Checks one delivery and returns its parsed JSON body.

    ``secret`` is the subscriber's ``whsec_...`` secret (from create, PUT or rotate-secret);
    ``headers`` the request headers in any case (a dict, a list of pairs, ``http.server``'s
    ``self.headers``, a framework's header object, ASGI's byte pairs); ``body`` the raw body bytes
    exactly as received. A timestamp more than ``tolerance`` seconds (default 300) from ``now``
    (default: the clock) either way is refused, so a captured delivery cannot be replayed later.

    Raises :class:`WebhookVerificationError` with a ``reason`` when anything is off.
    """
    raw = _as_bytes(body)
    key = _secret_key(secret)
    found = _collect(headers)
    msg_id = _single(found, "webhook-id")
    stamp = _single(found, "webhook-timestamp")
    # Space-separated entries; a trailing comma comes from duplicate headers joined with ", ".
    signatures = [e.rstrip(",") for e in " ".join(found.get("webhook-signature", [])).split()]
    signatures = [e for e in signatures if e]
    if not signatures:
        raise WebhookVerificationError("missing webhook-signature header")
    if not stamp.isdigit() or len(stamp) > 12:
        raise WebhookVerificationError("webhook-timestamp is not a whole number of seconds")
    sent_at = int(stamp)
    current = _now_seconds(now)
    if sent_at < current - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old (more than %g s ago)" % tolerance)
    if sent_at > current + tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far in the future (more than %g s ahead)"
                                       % tolerance)
    signed = ("%s.%s." % (msg_id, stamp)).encode("utf-8") + raw
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    versions_seen = False
    matched = False
    for entry in signatures:
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        versions_seen = True
        # Compare every entry (no early exit) so timing says nothing about which one matched.
        if hmac.compare_digest(expected, value.encode("ascii", "replace")):
            matched = True
    if not versions_seen:
        raise WebhookVerificationError("webhook-signature has no v1 signature")
    if not matched:
        raise WebhookVerificationError("no signature matches: wrong secret, or the body was changed")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise WebhookVerificationError("the signature is valid but the body is not JSON") from None
