"""The hub client: publish events and manage subscribers, dead letters and dry runs.

One :class:`Client` per hub URL; it is safe to share between threads (each thread keeps its own
keep-alive connection). Every call either returns the decoded answer or raises a
:class:`~switchyard.errors.SwitchyardError` subclass.
"""
from __future__ import annotations

import http.client
import json
import random
import ssl
import threading
import time
import urllib.parse
import uuid
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import AuthError, SwitchyardError, Unavailable, error_from_response
from .tokens import sign_token

__all__ = ["Client", "__version__"]

__version__ = "0.1.0"

Time = Union[str, datetime, int, float]
Json = Dict[str, Any]

# Statuses after which the same request may be sent again. 503 and 429 mean the hub changed
# nothing; 502 and 504 come from a proxy and may hide a request that did arrive, so they are
# retried only for requests that are safe to repeat (publish carries an Idempotency-Key).
_RETRY_ALWAYS = frozenset({429, 503})
_RETRY_IF_SAFE = frozenset({502, 504})
# Errors that a reused keep-alive connection gives when the hub closed it while idle.
_STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
_NAME_SAFE = "!$&'()*+,;=:@-._~"      # path characters kept as they are in ids and names


def _rfc3339(value: Time) -> str:
    """RFC 3339 UTC text for a datetime (naive means local time), epoch seconds, or a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        moment = value.astimezone(timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    else:
        raise TypeError("a time must be a datetime, epoch seconds or an RFC 3339 string")
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (moment.microsecond // 1000)


def _seconds(value: Union[int, float, timedelta]) -> int:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != int(seconds):
        raise TypeError("ttl must be a whole number of seconds or a timedelta")
    return int(seconds)


def _merge(positional: Optional[Mapping[str, Any]], fields: Mapping[str, Any]) -> Json:
    body: Json = dict(positional or {})
    body.update(fields)
    return body


class Client:
    """A client of one Switchyard hub.

    ``hub_url`` is the hub's base URL (``http://127.0.0.1:8080``; a path prefix is kept).
    Publishing needs ``token`` (a publisher JWT, sent as is) or ``jwt_secret`` (the hub's
    ``SWITCHYARD_JWT_SECRET``: the client then mints short-lived HS256 tokens itself, limited to
    ``topics`` when given). Admin calls need ``admin_token``. ``timeout`` is seconds per attempt.

    ``retries`` is how many times a request is sent again after a connection error, a timeout,
    429 or 503 (and 502/504 for requests safe to repeat), waiting ``backoff`` seconds doubled each
    time with jitter, or the hub's ``Retry-After``, never more than ``max_backoff``. A publish
    always carries an ``Idempotency-Key`` (the one given, else the event ``id``, else a fresh UUID
    made once per call), so a retry never creates a second event.

    >>> hub = Client("http://127.0.0.1:8080", jwt_secret="...", admin_token="...")
    >>> hub.publish("orders.created", {"body": {"id": 7, "total": 120}})
    {'id': 'evt_...', 'topic': 'orders.created', 'matched': 1}
    """

    def __init__(self, hub_url: str, token: Optional[str] = None, jwt_secret: Optional[str] = None,
                 admin_token: Optional[str] = None, timeout: float = 10.0, retries: int = 3, *,
                 topics: Optional[Sequence[str]] = None, backoff: float = 0.5,
                 max_backoff: float = 10.0, token_ttl: int = 300,
                 ssl_context: Optional[ssl.SSLContext] = None) -> None:
        parts = urllib.parse.urlsplit(hub_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("hub_url must be an http:// or https:// URL, e.g. http://127.0.0.1:8080")
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.hub_url = hub_url.rstrip("/")
        self.token = token
        self.jwt_secret = jwt_secret
        self.admin_token = admin_token
        self.timeout = timeout
        self.retries = retries
        self.topics = list(topics) if topics is not None else None
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.token_ttl = token_ttl
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._base_path = parts.path.rstrip("/")
        self._ssl_context = ssl_context
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: "weakref.WeakSet[http.client.HTTPConnection]" = weakref.WeakSet()
        self._minted: Optional[Tuple[str, float]] = None   # (token, epoch s after which to re-mint)

    # lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the keep-alive connections of every thread (they reopen if used again)."""
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "Client(%r)" % self.hub_url

    # publishing ---------------------------------------------------------------------------------

    def publish(self, topic: str, data: Optional[Mapping[str, Any]] = None, *, id: Optional[str] = None,
                deliver_at: Optional[Time] = None, ttl: Union[None, int, float, timedelta] = None,
                idempotency_key: Optional[str] = None) -> Json:
        """Publishes one event; returns ``{"id", "topic", "matched"}`` (plus ``"duplicate": True``
        when the hub had already accepted this Idempotency-Key, with the first event's id).

        ``data`` is the event (a dict; the switch keys ``body``, ``headers``, ``query_params``,
        ``path_params`` and ``http_method`` shape the delivered request). ``id`` is your own event
        id; ``deliver_at`` delays delivery (datetime, epoch seconds or RFC 3339); ``ttl`` (seconds
        or timedelta from now) expires undelivered jobs.
        """
        if data is not None and not isinstance(data, Mapping):
            raise TypeError("data must be a dict (the event the filters see), not %s"
                            % type(data).__name__)
        body: Json = {"topic": topic, "data": dict(data) if data is not None else {}}
        if id is not None:
            body["id"] = id
        if deliver_at is not None:
            body["deliver_at"] = _rfc3339(deliver_at)
        if ttl is not None:
            body["ttl"] = _seconds(ttl)
        key = idempotency_key or id or uuid.uuid4().hex
        headers = {"Authorization": "Bearer " + self._publisher_token(), "Idempotency-Key": key}
        return self._call("POST", "/v1/publish", body=body, headers=headers, safe=True)

    def _publisher_token(self) -> str:
        if self.token:
            return self.token
        if not self.jwt_secret:
            raise AuthError(0, "missing_credentials",
                            "publishing needs Client(token=...) or Client(jwt_secret=...)")
        now = time.time()
        with self._lock:
            if self._minted is None or now >= self._minted[1]:
                token = sign_token(self.jwt_secret, topics=self.topics, ttl=self.token_ttl,
                                   sub="switchyard-python", now=now)
                # Re-mint when a quarter of the lifetime is left, so a token never expires in flight.
                self._minted = (token, now + self.token_ttl * 0.75)
            return self._minted[0]

    # subscribers --------------------------------------------------------------------------------

    def create_subscriber(self, subscriber: Optional[Mapping[str, Any]] = None, /, **fields: Any) -> Json:
        """Creates a subscriber (``topic`` and ``target_url`` required); returns the stored object
        with its ``id`` and signing ``secret`` (shown only here and on rotation: keep it).
        Fields come as keywords, a dict, or both (keywords win)."""
        return self._admin("POST", "/v1/subscribers", body=_merge(subscriber, fields))

    def list_subscribers(self, topic: Optional[str] = None) -> List[Json]:
        """Every subscriber, or those whose topic or pattern matches ``topic``."""
        answer = self._admin("GET", "/v1/subscribers", query={"topic": topic}, safe=True)
        return list(answer.get("subscribers", []))

    def get_subscriber(self, id_or_name: str) -> Json:
        return self._admin("GET", self._sub_path(id_or_name), safe=True)

    def update_subscriber(self, id_or_name: str, changes: Optional[Mapping[str, Any]] = None, /,
                          **fields: Any) -> Json:
        """Changes only the fields given (PATCH); ``enabled=True`` re-enables after a 410."""
        return self._admin("PATCH", self._sub_path(id_or_name), body=_merge(changes, fields))

    def put_subscriber(self, name: str, subscriber: Optional[Mapping[str, Any]] = None, /,
                       **fields: Any) -> Json:
        """Creates or replaces the subscriber called ``name`` (id and secret kept on replace);
        the answer has ``secret`` only when it was created. This is what seed files do."""
        body = _merge(subscriber, fields)
        body.setdefault("name", name)
        return self._admin("PUT", self._sub_path(name), body=body, safe=True)

    def delete_subscriber(self, id_or_name: str) -> None:
        self._admin("DELETE", self._sub_path(id_or_name), safe=True)

    def rotate_secret(self, id_or_name: str) -> Json:
        """A new signing secret (in the answer's ``secret``); the old one keeps signing for 24 h."""
        return self._admin("POST", self._sub_path(id_or_name) + "/rotate-secret")

    # dry runs -----------------------------------------------------------------------------------

    def test_filter(self, filter: str, data: Mapping[str, Any]) -> Json:
        """Runs a filter on data without subscribing: ``{"match": bool}``, plus ``"error"`` when
        the filter does not compile or fails."""
        return self._admin("POST", "/v1/filters/test", body={"filter": filter, "data": dict(data)},
                           safe=True)

    def match(self, topic: str, data: Mapping[str, Any]) -> List[Json]:
        """Every subscriber with why it would or would not receive this event: ``id``, ``name``,
        ``topic_match``, ``filter_match``, ``error``, ``enabled``, ``receives``."""
        answer = self._admin("POST", "/v1/match", body={"topic": topic, "data": dict(data)}, safe=True)
        return list(answer.get("subscribers", []))

    # events and dead letters --------------------------------------------------------------------

    def get_event(self, id: str) -> Json:
        """An event with its jobs, their states and every delivery attempt."""
        return self._admin("GET", "/v1/events/" + self._quote(id), safe=True)

    def list_dead(self, subscriber: Optional[str] = None, limit: Optional[int] = None,
                  cursor: Optional[str] = None) -> Json:
        """One page of dead letters, oldest first: ``{"items": [...], "next_cursor"}``; pass
        ``next_cursor`` back for the next page (``None`` at the end)."""
        query = {"subscriber": subscriber, "limit": limit, "cursor": cursor}
        return self._admin("GET", "/v1/dead", query=query, safe=True)

    def iter_dead(self, subscriber: Optional[str] = None, page_size: int = 100) -> Iterator[Json]:
        """Every dead letter, fetching pages as needed."""
        cursor: Optional[str] = None
        while True:
            page = self.list_dead(subscriber=subscriber, limit=page_size, cursor=cursor)
            for item in page.get("items", []):
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def replay_dead(self, job_id: str) -> int:
        """Puts one dead letter back on the queue (same webhook-id, fresh attempts); returns 1."""
        return int(self._admin("POST", "/v1/dead/%s/replay" % self._quote(job_id))["replayed"])

    def replay_dead_range(self, subscriber_id: Optional[str] = None, since: Optional[Time] = None,
                          until: Optional[Time] = None) -> int:
        """Replays the dead letters of one subscriber and/or a time range; returns how many."""
        body: Json = {}
        if subscriber_id is not None:
            body["subscriber_id"] = subscriber_id
        if since is not None:
            body["since"] = _rfc3339(since)
        if until is not None:
            body["until"] = _rfc3339(until)
        return int(self._admin("POST", "/v1/dead/replay", body=body)["replayed"])

    def delete_dead(self, job_id: str) -> None:
        self._admin("DELETE", "/v1/dead/" + self._quote(job_id), safe=True)

    # transport ----------------------------------------------------------------------------------

    @staticmethod
    def _quote(segment: str) -> str:
        if not isinstance(segment, str) or not segment:
            raise ValueError("an id or name must be a non-empty string")
        return urllib.parse.quote(segment, safe=_NAME_SAFE)

    def _sub_path(self, id_or_name: str) -> str:
        return "/v1/subscribers/" + self._quote(id_or_name)

    def _admin(self, method: str, path: str, *, body: Optional[Json] = None,
               query: Optional[Mapping[str, Any]] = None, safe: bool = False) -> Any:
        if not self.admin_token:
            raise AuthError(0, "missing_credentials",
                            "admin calls need Client(admin_token=...) (the hub's SWITCHYARD_ADMIN_TOKEN)")
        headers = {"Authorization": "Bearer " + self.admin_token}
        return self._call(method, path, body=body, query=query, headers=headers, safe=safe)

    def _call(self, method: str, path: str, *, body: Optional[Json] = None,
              query: Optional[Mapping[str, Any]] = None, headers: Dict[str, str],
              safe: bool) -> Any:
        """Sends one request with retries. ``safe``: repeating it cannot do harm, so it is also
        retried after errors that may hide a request the hub did receive."""
        target = self._base_path + path
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        if params:
            target += "?" + urllib.parse.urlencode(params)
        payload = None
        headers = dict(headers)
        headers["Accept"] = "application/json"
        headers["User-Agent"] = "switchyard-python/" + __version__
        if body is not None:
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            try:
                status, reply_headers, data = self._send(method, target, payload, headers)
            except (OSError, http.client.HTTPException) as exc:
                # A refused connection never reached the hub; anything later might have.
                retryable = safe or isinstance(exc, ConnectionRefusedError)
                error: SwitchyardError = Unavailable(
                    0, "network_error", "could not reach the hub at %s: %s"
                    % (self.hub_url, exc or type(exc).__name__))
                error.__cause__ = exc
            else:
                if status < 300:
                    return self._decode(status, data)
                error = error_from_response(status, data, reply_headers.get("retry-after"))
                retryable = status in _RETRY_ALWAYS or (safe and status in _RETRY_IF_SAFE)
            if not retryable or attempt >= self.retries:
                raise error
            time.sleep(self._delay(attempt, error.retry_after))
            attempt += 1

    def _delay(self, attempt: int, retry_after: Optional[float]) -> float:
        delay = self.backoff * (2 ** attempt) * random.uniform(0.5, 1.0)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_backoff)

    @staticmethod
    def _decode(status: int, data: bytes) -> Any:
        if status == 204 or not data:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise SwitchyardError(status, "invalid_response", "the hub answered HTTP %d with a body "
                                  "that is not JSON" % status) from None

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._scheme == "https":
                conn = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                                   context=self._ssl_context)
            else:
                conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._connections.add(conn)
        return conn

    def _send(self, method: str, target: str, payload: Optional[bytes],
              headers: Mapping[str, str]) -> Tuple[int, Dict[str, str], bytes]:
        """One exchange on this thread's keep-alive connection. A reused connection that fails at
        once was closed by the hub while idle (it drops idle connections after 30 s): it is
        reopened and the request sent again, without counting as a retry."""
        conn = self._connection()
        for fresh in (False, True):
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=payload, headers=dict(headers))
                resp = conn.getresponse()
                data = resp.read()
            except _STALE:
                conn.close()
                if reused and not fresh:
                    continue
                raise
            except BaseException:
                conn.close()
                raise
            if resp.will_close:
                conn.close()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        raise AssertionError("unreachable")
