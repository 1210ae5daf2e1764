"""Publisher tokens: HS256 JWTs signed with the hub's ``SWITCHYARD_JWT_SECRET``.

The hub accepts only ``alg: HS256``, honours ``exp`` and ``nbf`` (30 s leeway), and reads an
optional ``topics`` claim: a list of topic patterns the token may publish to.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

__all__ = ["sign_token"]

_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_token(secret: Union[str, bytes], topics: Optional[Union[str, Iterable[str]]] = None,
               ttl: Optional[float] = 3600, sub: Optional[str] = None, *,
               now: Optional[float] = None, claims: Optional[Mapping[str, Any]] = None) -> str:
    """A publisher token (HS256 JWT) signed with ``secret``.

    ``topics`` limits what the token may publish (``["orders.*"]``; a single string is one
    pattern); ``ttl`` is its lifetime in seconds (``None``: no ``exp``, valid until the secret
    changes); ``sub`` names the publisher in the hub's logs; ``claims`` adds or overrides claims;
    ``now`` (epoch seconds) is for tests.

    >>> token = sign_token("s3cret", topics=["orders.*"], ttl=600, sub="checkout")
    """
    if not secret:
        raise ValueError("sign_token needs the hub's JWT secret")
    key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    issued = int(time.time() if now is None else now)
    payload: Dict[str, Any] = {"iat": issued}
    if ttl is not None:
        if ttl <= 0:
            raise ValueError("ttl must be a positive number of seconds, or None")
        payload["exp"] = issued + int(ttl)
    if sub is not None:
        payload["sub"] = sub
    if topics is not None:
        patterns: List[Any] = [topics] if isinstance(topics, str) else list(topics)
        if not all(isinstance(p, str) for p in patterns):
            raise TypeError("topics must be topic patterns (strings)")
        payload["topics"] = patterns
    if claims:
        payload.update(claims)
    signing_input = _b64url(_compact(_HEADER)) + "." + _b64url(_compact(payload))
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)
