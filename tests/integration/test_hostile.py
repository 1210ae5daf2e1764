"""Hostile input, table-driven: every endpoint that takes a body (POST /v1/publish, POST /publish,
POST/PUT/PATCH /v1/subscribers[/x], POST /v1/filters/test, POST /v1/match, POST /v1/dead/replay) gets
each class of bad input - malformed, deeply nested, out-of-range, non-UTF-8, duplicate-key, mistyped,
empty, oversized and slow bodies - plus connection floods, huge headers, unknown methods and paths,
odd ids in paths, bad topics, and bad tokens (TokenTest). Every refusal has the contract's status
and error code; after each one the hub still takes a good event, no refused event left a job or an
event record in Redis, and subscriber "x" is unchanged.

The simpler refusals of /v1/publish alone live in test_publish_api.py; these extend them to every
endpoint and to the hostile cases. The last tests of HostileInputTest pin bugs found here and fixed
(NUL escapes, %00 in paths, non-RFC 8259 JSON, invalid UTF-8 in names and error messages)."""
import base64
import hashlib
import hmac
import json
import socket
import time
import unittest

from harness import SwitchyardCase, b64url, http_request, mint_jwt

GOOD_DATA = {"body": {"id": 7, "total": 120}}
SUB_X = {"name": "x", "topic": "orders.#", "target_url": "http://127.0.0.1:9/hooks"}
MAX_BODY = 4096            # SWITCHYARD_MAX_BODY of the small hub in test_oversized_body
DEEP = 10000               # nesting levels of the deep-JSON cases
WAIT_S = 10                # no single raw request waits longer than this for an answer


def b64(data):
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


class Endpoint:
    """One endpoint that takes a JSON body, and how to embed a JSON fragment in a valid-looking body.
    kind: "publish" (publisher token, JSON content type), "switch" (switch wire format: bearer token,
    no content type), "admin" (admin token)."""

    def __init__(self, method, path, kind, embed):
        self.method = method
        self.path = path
        self.kind = kind
        self.embed = embed        # fragment (bytes) -> body (bytes) with fragment where a value goes

    @property
    def name(self):
        return "%s %s" % (self.method, self.path)


def _switch_embed(fragment):
    # the fragment travels inside the base64 Payload: the hub's second JSON parse must refuse it
    return b'{"Topic": "orders.created", "Payload": "%s"}' % b64(b'{"x": ' + fragment + b'}').encode()


ENDPOINTS = [
    Endpoint("POST", "/v1/publish", "publish",
             lambda f: b'{"topic": "orders.created", "data": {"x": ' + f + b'}}'),
    Endpoint("POST", "/publish", "switch", _switch_embed),
    Endpoint("POST", "/v1/subscribers", "admin",
             lambda f: b'{"topic": "orders.#", "target_url": "http://127.0.0.1:9/", "headers": {"x": '
                       + f + b'}}'),
    Endpoint("PUT", "/v1/subscribers/x", "admin",
             lambda f: b'{"topic": "orders.#", "target_url": "http://127.0.0.1:9/", "headers": {"x": '
                       + f + b'}}'),
    Endpoint("PATCH", "/v1/subscribers/x", "admin", lambda f: b'{"headers": {"x": ' + f + b'}}'),
    Endpoint("POST", "/v1/filters/test", "admin", lambda f: b'{"filter": "true", "data": {"x": ' + f + b'}}'),
    Endpoint("POST", "/v1/match", "admin", lambda f: b'{"topic": "orders.created", "data": {"x": ' + f + b'}}'),
    Endpoint("POST", "/v1/dead/replay", "admin", lambda f: b'{"subscriber_id": ' + f + b'}'),
]


def raw_http(port, head, body_parts=(), pause=0.0, timeout=WAIT_S):
    """Sends head (bytes, ending in the blank line) and then each of body_parts, sleeping pause
    seconds before each part, on a fresh socket; returns (status, headers, body) of the answer, or
    (None, {}, b"") if the hub closed without one. A send the hub refused (it answered early and
    closed) ends sending; the answer is still read."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(head)
            for part in body_parts:
                if pause:
                    time.sleep(pause)
                s.sendall(part)
        except OSError:
            pass
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if _complete(data):
                    break
        except OSError:
            pass
    return _parse(data)


def _complete(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip())
    return False


def _parse(data):
    if not data.startswith(b"HTTP/"):
        return None, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode(errors="replace")
    return status, headers, body


class RawResponse:
    """A raw_http answer with the attributes SwitchyardCase.assertError reads."""

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<RawResponse %s %r>" % (self.status, self.body[:300])


class HostileCase(SwitchyardCase):
    """A hub (1 MiB body limit) on a private Redis with one subscriber "x" for orders.#, and no
    worker: every job a publish makes stays in the stream, so the tests can count them."""

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.sub_x = self.create_subscriber(self.hub, **SUB_X)
        self.sub_x.pop("secret")
        self.good_events = []     # ids of the good events published so far (each has an event record)
        self.good_jobs = 0        # jobs those events made

    # requests -------------------------------------------------------------------------------------

    def auth_for(self, kind, hub=None):
        hub = hub or self.hub
        if kind == "publish":
            return {"Authorization": "Bearer " + hub.token(), "Content-Type": "application/json"}
        if kind == "switch":
            return {"Authorization": "bearer " + hub.token()}
        return {"Authorization": "Bearer " + self.admin_token, "Content-Type": "application/json"}

    def send(self, ep, body, hub=None, headers=None):
        hdrs = self.auth_for(ep.kind, hub)
        hdrs.update(headers or {})
        return (hub or self.hub).request(ep.method, ep.path, body=body, headers=hdrs)

    # the invariants after every refusal ---------------------------------------------------------

    def event_keys(self):
        return sorted(k for k in self.redis.keys() if k.startswith(self.prefix + ":ev:"))

    def assertNothingEnqueued(self):
        """Only the good events made jobs and event records: no refused request left either."""
        self.assertEqual(self.redis.cmd("XLEN", self.prefix + ":jobs"), self.good_jobs,
                         "a refused request enqueued a job")
        self.assertEqual(self.redis.cmd("ZCARD", self.prefix + ":delayed"), 0)
        self.assertEqual(self.event_keys(), sorted(self.prefix + ":ev:" + e for e in self.good_events),
                         "a refused request stored an event")

    def assertStillServes(self, hub=None):
        """Nothing was enqueued for a refused request, subscriber x is as created, and the hub takes
        a good event (whose one job is then counted)."""
        hub = hub or self.hub
        self.assertNothingEnqueued()
        resp = hub.publish("orders.created", GOOD_DATA)
        self.assertEqual(resp.status, 202, resp)
        self.assertEqual(resp.json["matched"], 1, resp)
        self.good(resp)
        self.assertNothingEnqueued()
        got = hub.admin("GET", "/v1/subscribers/x")
        self.assertEqual(got.status, 200, got)
        got.json.pop("circuit", None)
        self.assertEqual(got.json, self.sub_x, "a refused request changed subscriber x")

    def good(self, resp, jobs=1):
        """Counts an accepted event (a 202 answer, or its JSON) and the jobs it made."""
        self.good_events.append(resp["id"] if isinstance(resp, dict) else resp.json["id"])
        self.good_jobs += jobs

    def assertRefused(self, resp, status, code):
        self.assertError(resp, status, code)
        self.assertStillServes()


class HostileInputTest(HostileCase):

    def test_malformed_json_is_400_invalid_json(self):
        bodies = [b"{", b'{"topic": ', b'{"a": 1,}', b"{'a': 1}", b"[1, 2", b'{"a" 1}', b"nul", b"tru",
                  b'{"a": .5}', b'{"a": "unterminated}', b'{"a": 1}}', b'{"a": 1} {"b": 2}',
                  b'{"a": 1} x', b'{"a": "\\x"}', b'{"a": "\\u12"}', b'{"a": "\\ud800"}', b'{"a": NaN}',
                  b'{"a": Infinity}', b'{"a": -}', b'{"a": 1e}', b"// c\n{}", b'{"a": 1 /* c */}',
                  b"{a: 1}", b'{"a": undefined}', b"\x1b[1m{}"]
        fragments = [b'{"x": ', b"[1, ", b"NaN", b"'s'", b'"\\ud800"', b"0x10", b"+1", b"[1,]"]
        for ep in ENDPOINTS:
            for body in bodies:
                with self.subTest(endpoint=ep.name, body=body):
                    self.assertRefused(self.send(ep, body), 400, "invalid_json")
            for frag in fragments:
                with self.subTest(endpoint=ep.name, embedded=frag):
                    self.assertRefused(self.send(ep, ep.embed(frag)), 400, "invalid_json")

    def test_deeply_nested_json_is_400_invalid_json(self):
        cases = {
            "arrays": b"[" * DEEP + b"]" * DEEP,
            "objects": b'{"a": ' * DEEP + b"1" + b"}" * DEEP,
            "unclosed": b"[" * DEEP,
            "one past the limit": b"[" * 65 + b"]" * 65,
        }
        for ep in ENDPOINTS:
            for label, nested in cases.items():
                with self.subTest(endpoint=ep.name, body=label):
                    self.assertRefused(self.send(ep, nested), 400, "invalid_json")
                with self.subTest(endpoint=ep.name, embedded=label):
                    self.assertRefused(self.send(ep, ep.embed(nested)), 400, "invalid_json")

    def test_out_of_range_numbers_are_400_invalid_json(self):
        numbers = [b"1e400", b"-1e400", b"1" + b"0" * 400, b"1e999999999", b"123456789012345678901234567890e300"]
        for ep in ENDPOINTS:
            for n in numbers:
                with self.subTest(endpoint=ep.name, embedded=n):
                    self.assertRefused(self.send(ep, ep.embed(n)), 400, "invalid_json")
                with self.subTest(endpoint=ep.name, body=n):
                    self.assertRefused(self.send(ep, n), 400, "invalid_json")
        # where a number is expected, too
        for label, body in (("ttl", b'{"topic": "orders.created", "data": {}, "ttl": 1e400}'),):
            with self.subTest(field=label):
                self.assertRefused(self.send(ENDPOINTS[0], body), 400, "invalid_json")
        for field in (b"max_attempts", b"timeout_ms", b"rate_limit_per_s"):
            with self.subTest(field=field):
                self.assertRefused(self.send(ENDPOINTS[4], b'{"' + field + b'": 1e400}'), 400, "invalid_json")

    def test_invalid_utf8_is_400_invalid_json(self):
        bad = {"0xff": b"\xff", "lone continuation": b"\x80", "overlong slash": b"\xc0\xaf",
               "surrogate": b"\xed\xa0\x80", "truncated": b"\xe2\x82", "5-byte": b"\xf8\x88\x80\x80\x80",
               "past U+10FFFF": b"\xf4\x90\x80\x80", "NUL byte": b"\x00", "latin-1": b"caf\xe9"}
        for ep in ENDPOINTS:
            for label, raw in bad.items():
                with self.subTest(endpoint=ep.name, value=label):
                    self.assertRefused(self.send(ep, ep.embed(b'"a' + raw + b'b"')), 400, "invalid_json")
                with self.subTest(endpoint=ep.name, key=label):
                    self.assertRefused(self.send(ep, ep.embed(b'{"k' + raw + b'": 1}')), 400, "invalid_json")
        topic_body = b'{"topic": "orders.cr\xffeated", "data": {}}'
        self.assertRefused(self.send(ENDPOINTS[0], topic_body), 400, "invalid_json")

    def test_duplicate_keys_are_400_invalid_json(self):
        many = b"{" + b", ".join(b'"k%d": %d' % (i, i) for i in range(40)) + b', "k17": 0}'
        fragments = [b'{"a": 1, "a": 2}', b'{"a": {"b": 1, "b": 1}}', b'[{"a": 1, "a": 1}]', many]
        whole = {
            "POST /v1/publish": b'{"topic": "orders.created", "topic": "payments.x", "data": {}}',
            "POST /publish": b'{"Topic": "orders.created", "Topic": "payments.x", "Payload": ""}',
            "POST /v1/subscribers": b'{"topic": "a", "topic": "b", "target_url": "http://127.0.0.1:9/"}',
            "PUT /v1/subscribers/x": b'{"topic": "a", "target_url": "http://h/", "target_url": "http://i/"}',
            "PATCH /v1/subscribers/x": b'{"enabled": true, "enabled": false}',
            "POST /v1/filters/test": b'{"filter": "true", "filter": "false", "data": {}}',
            "POST /v1/match": b'{"topic": "orders.created", "data": {}, "data": {}}',
            "POST /v1/dead/replay": b'{"since": "2026-01-01T00:00:00Z", "since": "2026-01-02T00:00:00Z"}',
        }
        for ep in ENDPOINTS:
            with self.subTest(endpoint=ep.name, body="top-level duplicate"):
                self.assertRefused(self.send(ep, whole[ep.name]), 400, "invalid_json")
            for frag in fragments:
                with self.subTest(endpoint=ep.name, embedded=frag[:40]):
                    self.assertRefused(self.send(ep, ep.embed(frag)), 400, "invalid_json")

    def test_wrong_types_are_400_with_the_field_named(self):
        not_objects = [b"[]", b'"s"', b"5", b"null", b"true", b'[{"topic": "orders.created"}]']
        for ep in ENDPOINTS:
            for body in not_objects:
                with self.subTest(endpoint=ep.name, body=body):
                    self.assertRefused(self.send(ep, body), 400, "invalid_request")

        publish = {"topic": [42, None, [], {}, True],
                   "data": [[1], "text", 5, True],
                   "id": [5, {}, "", "a b", "x" * 201, True, "évt"],
                   "deliver_at": [5, "tomorrow", "2026-02-30T00:00:00Z", [], "2026-01-01"],
                   "ttl": ["3600", 0, -5, 1.5, True, [], 31622401]}
        for field, values in publish.items():
            for v in values:
                body = {"topic": "orders.created", "data": GOOD_DATA, field: v}
                with self.subTest(endpoint="POST /v1/publish", field=field, value=v):
                    err = self.assertError(self.send(ENDPOINTS[0], json.dumps(body)), 400, "invalid_request")
                    self.assertIn(field, err["message"])
                    self.assertStillServes()

        good_payload = b64(json.dumps(GOOD_DATA))
        switch = [({"Topic": 42, "Payload": good_payload}, "invalid_request"),
                  ({"Topic": None, "Payload": good_payload}, "invalid_request"),
                  ({"Payload": good_payload}, "invalid_request"),
                  ({"Topic": "orders.created", "Payload": 42}, "invalid_request"),
                  ({"Topic": "orders.created", "Payload": {}}, "invalid_request"),
                  ({"Topic": "orders.created", "Payload": [good_payload]}, "invalid_request"),
                  ({"Topic": "orders.created", "Payload": "%%% not base64"}, "invalid_base64"),
                  ({"Topic": "orders.created", "Payload": good_payload[:-3]}, "invalid_base64"),
                  ({"Topic": "orders.created", "Payload": b64("[1]")}, "invalid_request"),
                  ({"Topic": "orders.created", "Payload": b64("5")}, "invalid_request"),
                  ({"Topic": "orders.created", "Payload": b64("{bad")}, "invalid_json")]
        for body, code in switch:
            with self.subTest(endpoint="POST /publish", body=body):
                self.assertRefused(self.send(ENDPOINTS[1], json.dumps(body)), 400, code)

        sub_fields = {"name": [5, "", "a b", "a/b", "x" * 201, None],
                      "topic": [5, None, "a..b", "a*", []],
                      "filter": [5, [], "data.x ==", "x = 1"],
                      "target_url": [5, None, "ftp://x/", "http://", "http://a b/", "//h/x"],
                      "method": [5, "PO ST", "GET1", "X" * 17, ""],
                      "headers": ["x", [], {"a": 5}, {"a": "b\r\nc"}, {"a": None}],
                      "envelope": ["yes", 1, None],
                      "enabled": ["true", 0, None],
                      "success_codes": ["200", [99], [600], [200.5], {"a": 1}, ["200"]],
                      "discard_codes": ["400", [0], [1000], [400, None]],
                      "max_attempts": [0, 1001, "3", 1.5, None],
                      "retry_delays_ms": [[], [-1], "x", [1.5], [604800001], list(range(101))],
                      "timeout_ms": [99, 300001, "1000"],
                      "rate_limit_per_s": [-1, "x", 1000001],
                      "max_in_flight": [-1, 100001, 2.5],
                      "nmae": ["typo"],
                      "id": ["sub_mine"],
                      "secret": ["whsec_AAAA"],
                      "created_at_ms": [0]}
        for ep in ENDPOINTS[2:5]:
            for field, values in sub_fields.items():
                for v in values:
                    if ep.method == "PATCH":
                        body = {field: v}
                    else:
                        body = {"topic": "orders.#", "target_url": "http://127.0.0.1:9/"}
                        body[field] = v
                    with self.subTest(endpoint=ep.name, field=field, value=v):
                        err = self.assertError(self.send(ep, json.dumps(body)), 400, "invalid_subscriber")
                        self.assertIn(field if field != "created_at_ms" else "created", err["message"])
                        self.assertStillServes()
        with self.subTest(endpoint="POST /v1/subscribers", body="required fields missing"):
            for body, field in (({"target_url": "http://127.0.0.1:9/"}, "topic"), ({"topic": "a"}, "target_url")):
                err = self.assertError(self.send(ENDPOINTS[2], json.dumps(body)), 400, "invalid_subscriber")
                self.assertIn(field, err["message"])
            self.assertStillServes()

        admin = [(ENDPOINTS[5], "filter", [5, [], {}, True]),
                 (ENDPOINTS[5], "data", [[1], "text", 5, True]),
                 (ENDPOINTS[6], "topic", [5, None, [], {}]),
                 (ENDPOINTS[6], "data", [[1], "text", 5]),
                 (ENDPOINTS[7], "subscriber_id", [5, [], {}, True]),
                 (ENDPOINTS[7], "since", [5, "yesterday", "2026-13-01T00:00:00Z", []]),
                 (ENDPOINTS[7], "until", [5, "2026-01-01T25:00:00Z", {}]),
                 (ENDPOINTS[7], "rate_per_s", [0, -1, 1.5, "10", 100001])]
        for ep, field, values in admin:
            for v in values:
                body = {"filter": "true", "data": {}} if ep is ENDPOINTS[5] else \
                       {"topic": "orders.created", "data": {}} if ep is ENDPOINTS[6] else {}
                body[field] = v
                with self.subTest(endpoint=ep.name, field=field, value=v):
                    err = self.assertError(self.send(ep, json.dumps(body)), 400, "invalid_request")
                    self.assertIn(field, err["message"])
                    self.assertStillServes()
        with self.subTest(endpoint="POST /v1/match", body="topic missing"):
            self.assertRefused(self.send(ENDPOINTS[6], b'{"data": {}}'), 400, "invalid_request")

    def test_empty_body_is_400_invalid_json(self):
        for ep in ENDPOINTS:
            for body in (b"", b" ", b"\r\n\t "):
                with self.subTest(endpoint=ep.name, body=body):
                    self.assertRefused(self.send(ep, body), 400, "invalid_json")
            with self.subTest(endpoint=ep.name, body="no body, no Content-Type"):
                self.assertRefused(self.send(ep, None, headers={"Content-Type": None}), 400, "invalid_json")

    def test_other_content_types_are_415_on_publish(self):
        body = json.dumps({"topic": "orders.created", "data": GOOD_DATA})
        for ct in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonp",
                   "application/json-patch+json", "text/json", "application/xml", "*/*"):
            with self.subTest(content_type=ct):
                self.assertRefused(self.send(ENDPOINTS[0], body, headers={"Content-Type": ct}), 415,
                                   "unsupported_media_type")

    def test_oversized_body_is_413_payload_too_large(self):
        small = self.start_hub(name="small-hub", SWITCHYARD_MAX_BODY=MAX_BODY)
        pad = lambda n: b'{"topic": "orders.created", "data": {"pad": "' + b"x" * (n - 48) + b'"}}'  # noqa: E731
        self.assertEqual(len(pad(MAX_BODY + 1)), MAX_BODY + 1)
        for ep in ENDPOINTS:
            auth = "".join("%s: %s\r\n" % kv for kv in self.auth_for(ep.kind, small).items()).encode()
            start = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (ep.method.encode(),
                                                                                     ep.path.encode())
            with self.subTest(endpoint=ep.name, sent="Content-Length, one byte over"):
                resp = self.send(ep, pad(MAX_BODY + 1), hub=small)
                self.assertError(resp, 413, "payload_too_large")
                self.assertStillServes(small)
            with self.subTest(endpoint=ep.name, sent="Content-Length, 1 MB"):
                # the hub answers at the headers and closes: sending the rest may fail, reading not
                body = pad(1000 * 1000)
                resp = RawResponse(*raw_http(small.port, start + auth + b"Content-Length: %d\r\n\r\n" % len(body),
                                             [body[i:i + 65536] for i in range(0, len(body), 65536)]))
                self.assertError(resp, 413, "payload_too_large")
                self.assertStillServes(small)
            with self.subTest(endpoint=ep.name, sent="Content-Length 1 GB, no body: refused before reading"):
                t0 = time.monotonic()
                resp = RawResponse(*raw_http(small.port, start + auth + b"Content-Length: 1000000000\r\n\r\n"))
                self.assertError(resp, 413, "payload_too_large")
                self.assertLess(time.monotonic() - t0, 5)
                self.assertStillServes(small)
            with self.subTest(endpoint=ep.name, sent="chunked, no Content-Length"):
                body = pad(3 * MAX_BODY)
                chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                          for i in range(0, len(body), 1000)] + [b"0\r\n\r\n"]
                resp = RawResponse(*raw_http(small.port, start + auth + b"Transfer-Encoding: chunked\r\n\r\n",
                                             chunks))
                self.assertError(resp, 413, "payload_too_large")
                self.assertStillServes(small)
        with self.subTest(sent="exactly the limit is accepted"):
            resp = self.send(ENDPOINTS[0], pad(MAX_BODY), hub=small)
            self.assertEqual(resp.status, 202, resp)
            self.good(resp)
            self.assertStillServes(small)

    def test_slow_body_within_the_connection_timeout_succeeds(self):
        body = json.dumps({"topic": "orders.created", "data": GOOD_DATA}).encode()
        parts = [body[i:i + 8] for i in range(0, len(body), 8)]
        pause = 2.0 / len(parts)        # the whole body over about 2 s
        token = self.hub.token()
        head = (b"POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n"
                % (token.encode(), len(body)))
        t0 = time.monotonic()
        status, _, answer = raw_http(self.hub.port, head, parts, pause=pause)
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        self.assertEqual(status, 202, answer)
        self.good(json.loads(answer))
        with self.subTest(sent="chunked, slowly"):
            chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in parts] + [b"0\r\n\r\n"]
            head = head.replace(b"Content-Length: %d" % len(body), b"Transfer-Encoding: chunked")
            status, _, answer = raw_http(self.hub.port, head, chunks, pause=pause)
            self.assertEqual(status, 202, answer)
            self.good(json.loads(answer))
        self.assertStillServes()

    def test_many_concurrent_connections_do_not_block_a_good_request(self):
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", self.hub.port), timeout=5)
            if i % 2:   # half start a request and stall mid-header, half say nothing at all
                s.sendall(b"POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
            socks.append(s)
        t0 = time.monotonic()
        self.assertStillServes()
        self.assertLess(time.monotonic() - t0, 5, "a good request waited behind 200 idle connections")
        self.assertEqual(self.hub.admin("POST", "/v1/filters/test", {"filter": "true", "data": {}}).status, 200)
        for s in socks:
            s.close()
        socks.clear()
        self.assertStillServes()

    def test_oversized_headers_are_4xx_and_the_hub_keeps_serving(self):
        big = b"a" * (100 * 1024)
        cases = {
            "one 100 KB header": b"X-Big: " + big + b"\r\n",
            "100 KB Authorization": b"Authorization: Bearer " + big + b"\r\n",
            "2000 headers": b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(2000)),
            "100 KB Content-Type": b"Content-Type: application/json; " + big + b"\r\n",
        }
        body = json.dumps({"topic": "orders.created", "data": GOOD_DATA}).encode()
        for label, hdrs in cases.items():
            for method, path in (("POST", b"/v1/publish"), ("GET", b"/v1/subscribers")):
                with self.subTest(headers=label, path=path):
                    head = (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%sContent-Length: %d\r\n\r\n"
                            % (method.encode(), path, hdrs, len(body)))
                    status, _, answer = raw_http(self.hub.port, head, [body])
                    self.assertIsNotNone(status, "the hub closed without an answer")
                    self.assertIn(status, (400, 401, 413, 414, 431), answer)
                    self.assertStillServes()
        with self.subTest(headers="100 KB URL"):
            status, _, answer = raw_http(self.hub.port, b"GET /v1/events/" + big +
                                         b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            self.assertIn(status, (400, 404, 413, 414, 431), answer)
            self.assertStillServes()

    def test_unknown_methods_are_refused_and_unknown_paths_are_404(self):
        allowed = {"/v1/publish": "POST", "/publish": "POST", "/v1/subscribers": "GET, POST",
                   "/v1/subscribers/x": "GET, PUT, PATCH, DELETE", "/v1/filters/test": "POST",
                   "/v1/match": "POST", "/v1/dead/replay": "POST", "/v1/dead": "GET", "/healthz": "GET"}
        for path, allow in allowed.items():
            wrong = ["BREW", "PROPFIND", "FOO"] + [m for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
                                                   if m not in allow.split(", ")]
            for method in wrong:
                with self.subTest(method=method, path=path):
                    kind = "publish" if path == "/v1/publish" else "switch" if path == "/publish" else "admin"
                    resp = self.hub.request(method, path, body=b"{}", headers=self.auth_for(kind))
                    self.assertIn(resp.status, (405, 501, 400), resp)
                    if resp.status == 405:
                        self.assertError(resp, 405, "method_not_allowed")
                        self.assertTrue(resp.headers.get("allow"), resp.headers)
                        for m in resp.headers["allow"].split(","):
                            self.assertNotEqual(m.strip(), method)
                    self.assertStillServes()
        for path in ("/v1/nope", "/v2/publish", "/v1/publish/extra", "/v1/publishh", "/publish/x", "/v1",
                     "/v1/", "/", "/v1/filters", "/v1/filters/test/x", "/v1/matchx", "/v1/match/x", "/v1/events",
                     "/v1/deadx", "/healthz/x", "/v1/subscribersx", "/V1/publish", "//v1/publish",
                     "/v1/subscribers/x/nope", "/v1/subscribers/x/rotate-secret/extra"):
            for method in ("GET", "POST"):
                with self.subTest(method=method, path=path):
                    resp = self.hub.request(method, path, body=b"{}" if method == "POST" else None,
                                            headers=self.auth_for("admin"))
                    self.assertRefused(resp, 404, "not_found")

    def test_odd_ids_in_paths_are_404(self):
        paths = ["/v1/subscribers/../../etc", "/v1/subscribers/..%2f..%2fetc", "/v1/subscribers/" + "a" * 300,
                 "/v1/subscribers/" + "a" * 255, "/v1/subscribers/a%0d%0aX-Injected:%201",
                 "/v1/subscribers/%2e%2e", "/v1/events/" + "x" * 1000, "/v1/events/%2e%2e", "/v1/events/a%0d%0ab",
                 "/v1/events/../subscribers", "/v1/dead/x/replay/extra", "/v1/dead/" + "x" * 200 + "/replay",
                 "/v1/dead/../replay"]
        for path in paths:
            methods = ["GET", "DELETE", "PATCH", "POST"]
            for method in methods:
                with self.subTest(method=method, path=path[:60]):
                    resp = self.hub.admin(method, path, {} if method in ("PATCH", "POST") else None)
                    self.assertIn(resp.status, (404, 405), resp)
                    if resp.status == 405:
                        self.assertError(resp, 405, "method_not_allowed")
                    else:
                        self.assertError(resp, 404, "not_found")
                    self.assertNotIn("x-injected", resp.headers)
                    self.assertStillServes()
        for path in ("/v1/subscribers/" + "a" * 300, "/v1/subscribers/../../etc"):
            with self.subTest(method="PUT", path=path[:60]):
                resp = self.hub.admin("PUT", path, {"topic": "orders.#", "target_url": "http://127.0.0.1:9/"})
                self.assertRefused(resp, 404, "not_found")
        # PUT upserts by the name in the path: that name obeys the rules a body's "name" does
        for name in ("a%20b", "a%0d%0aX-Injected:%201", "n" * 201, "a%2fb", "a%3fb", "a%23b", "a%25b", "%09"):
            with self.subTest(method="PUT", name=name[:40]):
                resp = self.hub.admin("PUT", "/v1/subscribers/" + name,
                                      {"topic": "orders.#", "target_url": "http://127.0.0.1:9/"})
                self.assertIn(resp.status, (400, 404), resp)
                self.assertError(resp, resp.status, "invalid_subscriber" if resp.status == 400 else "not_found")
                self.assertStillServes()
        names = sorted(s["name"] for s in self.hub.admin("GET", "/v1/subscribers").json["subscribers"])
        self.assertEqual(names, ["x"])

    def test_invalid_and_overlong_topics_are_400_invalid_topic(self):
        long_words = ".".join(["ab"] * 86)             # 257 bytes of valid words
        topics = [long_words, "x" * 1000, "orders.créé", "orders/created", "orders.\t", "or*ders", "orders.*.x",
                  "a.#.b", "orders.%2e", ".", "..", "a..b", "orders created", "orders.created ", " orders",
                  "orders.crea\u2028ted", "orders.\u00a0"]
        self.assertGreater(len(long_words), 255)
        for t in topics:
            with self.subTest(endpoint="POST /v1/publish", topic=t[:40]):
                self.assertRefused(self.send(ENDPOINTS[0], json.dumps({"topic": t, "data": {}})), 400,
                                   "invalid_topic")
            with self.subTest(endpoint="POST /publish", topic=t[:40]):
                self.assertRefused(self.send(ENDPOINTS[1], json.dumps({"Topic": t, "Payload": b64("{}")})), 400,
                                   "invalid_topic")
            with self.subTest(endpoint="POST /v1/match", topic=t[:40]):
                self.assertRefused(self.send(ENDPOINTS[6], json.dumps({"topic": t, "data": {}})), 400,
                                   "invalid_topic")
            if "*" in t or "#" in t:
                continue    # valid as subscription patterns
            for ep in ENDPOINTS[2:5]:
                body = {"topic": t} if ep.method == "PATCH" else {"topic": t, "target_url": "http://127.0.0.1:9/"}
                with self.subTest(endpoint=ep.name, topic=t[:40]):
                    err = self.assertError(self.send(ep, json.dumps(body)), 400, "invalid_subscriber")
                    self.assertIn("topic", err["message"])
                    self.assertStillServes()
        with self.subTest(boundary="255 bytes is a valid topic"):
            t = ".".join(["ab"] * 85)
            self.assertEqual(len(t), 254)
            t += "c"
            resp = self.hub.publish(t, GOOD_DATA)
            self.assertEqual(resp.status, 202, resp)
            self.assertEqual(resp.json["matched"], 0)
            self.good(resp, jobs=0)
            self.assertStillServes()

    # once bugs, now regressions: names, NULs, strict JSON, UTF-8 in errors ------------------------------

    def test_put_name_in_path_must_be_utf8(self):
        """PUT /v1/subscribers/{name} takes the name from the decoded path, where bytes are not
        checked for UTF-8 as body strings are: PUT /v1/subscribers/%ff creates a subscriber (201) whose
        name is the byte 0xff, and every answer that lists it (the 201 itself, GET /v1/subscribers)
        is no longer valid JSON."""
        for name in ("%ff", "a%c3%28", "%ed%a0%80"):
            with self.subTest(name=name):
                resp = self.hub.admin("PUT", "/v1/subscribers/" + name,
                                      {"topic": "orders.#", "target_url": "http://127.0.0.1:9/"})
                self.assertError(resp, 404, "not_found")   # such a path names nothing

    def test_nul_escape_is_refused_not_truncated(self):
        """A \\u0000 escape inside a JSON string cuts the C string short, so the hub validates and uses
        a prefix of what was sent: {"topic": "orders.created\\u0000.evil"} is published to
        "orders.created" (202) instead of being refused."""
        body = b'{"topic": "orders.created\\u0000.evil", "data": {}}'
        resp = self.send(ENDPOINTS[0], body)
        self.assertEqual(resp.status, 400, resp)
        self.assertIn(resp.json["error"]["code"], ("invalid_json", "invalid_topic"))
        self.assertStillServes()

    def test_json_outside_rfc8259_is_refused(self):
        """json_parse leaves the grammar to cJSON, which takes numbers with leading zeros (01, -01),
        a bare trailing point (1., 1.e5) and raw control characters inside strings - none of them
        JSON (RFC 8259 6, 7) - so the hub's "strict JSON" differs from what other parsers accept."""
        for frag in (b"01", b"-01", b"1.", b"1.e5", b'"raw\ttab"', b'"raw\x01"'):
            with self.subTest(fragment=frag):
                self.assertRefused(self.send(ENDPOINTS[0], ENDPOINTS[0].embed(frag)), 400, "invalid_json")

    def test_error_messages_stay_valid_utf8(self):
        """Error messages copy request bytes as they came (ids from the path, the Content-Type value)
        or cut a quoted key at a byte count (duplicate key "%.80s"), so the error body is not valid
        UTF-8 and no JSON parser reads it. Each case must still be the contract's error."""
        key = ("k" * 79 + "\u00e9").encode()   # 80 bytes end inside the two-byte e-acute
        cases = [
            ("GET /v1/subscribers/%ff", lambda: self.hub.admin("GET", "/v1/subscribers/%ff"), 404, "not_found"),
            ("GET /v1/events/%ff%fe", lambda: self.hub.admin("GET", "/v1/events/%ff%fe"), 404, "not_found"),
            ("Content-Type text/\\xff", lambda: self.send(ENDPOINTS[0], b"{}", headers={"Content-Type": "text/\xff"}),
             415, "unsupported_media_type"),
            ("duplicate key cut at 80 bytes",
             lambda: self.send(ENDPOINTS[0], ENDPOINTS[0].embed(b'{"' + key + b'": 1, "' + key + b'": 2}')),
             400, "invalid_json"),
        ]
        for label, call, status, code in cases:
            with self.subTest(case=label):
                self.assertRefused(call(), status, code)

    def test_percent_00_in_a_path_is_404(self):
        """libmicrohttpd decodes %00 in the path and the hub sees the path cut there:
        GET /v1/subscribers/%00 lists every subscriber (200), POST /v1/subscribers/%00 creates one
        (201) and GET /v1/dead/%00/replay lists the dead letters (200), instead of answering 404."""
        resp = self.hub.admin("GET", "/v1/subscribers/%00")
        self.assertError(resp, 404, "not_found")
        resp = self.hub.admin("POST", "/v1/subscribers/%00",
                              {"topic": "orders.#", "target_url": "http://127.0.0.1:9/"})
        self.assertError(resp, 404, "not_found")
        resp = self.hub.admin("GET", "/v1/dead/%00/replay")     # answers the dead-letter list
        self.assertError(resp, 404, "not_found")


# ---------------------------------------------------------------------------------------------------
# Tokens.

def forge(header, payload, key, digest=hashlib.sha256, sig=None):
    """A JWT from raw parts: header and payload as dicts (compact JSON) or bytes; signed with HMAC
    digest under key unless sig (the signature segment, as text) is given."""
    enc = lambda p: b64url(p if isinstance(p, bytes) else json.dumps(p, separators=(",", ":")).encode())  # noqa: E731
    signing_input = enc(header) + "." + enc(payload)
    if sig is None:
        sig = b64url(hmac.new(key.encode(), signing_input.encode(), digest).digest())
    return signing_input + "." + sig


class TokenTest(HostileCase):
    HS = {"alg": "HS256", "typ": "JWT"}

    def claims(self, **kw):
        c = {"sub": "it-publisher", "iat": int(time.time())}
        c.update(kw)
        return c

    def publish_with(self, authorization, path="/v1/publish"):
        if path == "/publish":
            body = json.dumps({"Topic": "orders.created", "Payload": b64(json.dumps(GOOD_DATA))})
            headers = {"Authorization": authorization}
        else:
            body = json.dumps({"topic": "orders.created", "data": GOOD_DATA})
            headers = {"Authorization": authorization, "Content-Type": "application/json"}
        return self.hub.request("POST", path, body=body, headers=headers)

    def assertTokenRefused(self, token, status=401, code="unauthorized", scheme="Bearer "):
        for path in ("/v1/publish", "/publish"):
            with self.subTest(path=path):
                self.assertRefused(self.publish_with(scheme + token if token is not None else scheme, path),
                                   status, code)

    def test_algorithm_is_pinned_to_hs256(self):
        s = self.jwt_secret
        signed_none = forge({"alg": "none"}, self.claims(), s)       # alg none, yet a valid HS256 MAC
        tokens = {
            "alg none, no signature": forge({"alg": "none"}, self.claims(), s, sig=""),
            "alg none, HS256 signature attached": signed_none,
            "alg None": forge({"alg": "None", "typ": "JWT"}, self.claims(), s),
            "alg NONE": forge({"alg": "NONE"}, self.claims(), s, sig=""),
            "alg hs256 (case)": forge({"alg": "hs256", "typ": "JWT"}, self.claims(), s),
            "alg 'HS256 '": forge({"alg": "HS256 ", "typ": "JWT"}, self.claims(), s),
            "alg empty": forge({"alg": "", "typ": "JWT"}, self.claims(), s),
            "alg missing": forge({"typ": "JWT"}, self.claims(), s),
            "alg null": forge({"alg": None}, self.claims(), s),
            "alg list": forge({"alg": ["HS256"]}, self.claims(), s),
            "alg twice": forge(b'{"alg":"HS256","alg":"none"}', self.claims(), s),
            "HS512": forge({"alg": "HS512", "typ": "JWT"}, self.claims(), s, hashlib.sha512),
            "HS384": forge({"alg": "HS384", "typ": "JWT"}, self.claims(), s, hashlib.sha384),
            "RS256 header, HMAC with the secret (key confusion)": forge({"alg": "RS256", "typ": "JWT"},
                                                                         self.claims(), s),
            "ES256 header, HMAC with the secret": forge({"alg": "ES256"}, self.claims(), s),
            "typ JWS": forge({"alg": "HS256", "typ": "JWS"}, self.claims(), s),
            "crit header": forge({"alg": "HS256", "crit": ["exp"]}, self.claims(), s),
        }
        for label, token in tokens.items():
            with self.subTest(token=label):
                self.assertTokenRefused(token)

    def test_malformed_tokens_are_401(self):
        s = self.jwt_secret
        good = forge(self.HS, self.claims(), s)
        h, p, sig = good.split(".")
        std_sig = base64.b64encode(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))).decode()
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        # 32 bytes are 43 characters; the last one carries 2 unused bits: setting one keeps the bytes
        noncanonical = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]
        tokens = {
            "2 segments": h + "." + p,
            "4 segments": good + ".x",
            "5 segments": good + ".x.y",
            "empty header": "." + p + "." + sig,
            "empty payload": h + ".." + sig,
            "empty signature": h + "." + p + ".",
            "only dots": "..",
            "three dots": "...",
            "header with '+'": h[:-1] + "+." + p + "." + sig,
            "header with '/'": "/" + h + "." + p + "." + sig,
            "header padded": h + "==." + p + "." + sig,
            "header with '*'": h + "*." + p + "." + sig,
            "payload with '+'": h + "." + p + "+." + sig,
            "payload with a space": h + "." + p[:4] + " " + p[4:] + "." + sig,
            "payload padded": h + "." + p + "=." + sig,
            "payload not JSON": h + "." + b64url(b"not json") + "." + sig,
            "payload a JSON list": forge(self.HS, b"[1,2]", s),
            "signature in the standard alphabet": h + "." + p + "." + std_sig,
            "signature padded": good + "=",
            "signature with '*'": good[:-1] + "*",
            "signature non-canonical last character": h + "." + p + "." + noncanonical,
            "signature truncated": good[:-2],
            "signature doubled": good + sig,
            "signature of 10 KB": h + "." + p + "." + "A" * 10000,
            "over 8192 bytes": forge(self.HS, self.claims(pad="x" * 9000), s),
            "not base64 at all": "%%%.%%%.%%%",
        }
        for label, token in tokens.items():
            with self.subTest(token=label):
                self.assertTokenRefused(token)

    def test_expired_not_yet_valid_and_wrongly_signed_tokens_are_401(self):
        now = int(time.time())
        s = self.jwt_secret
        tokens = {
            "expired an hour ago": forge(self.HS, self.claims(exp=now - 3600), s),
            "expired past the leeway": forge(self.HS, self.claims(exp=now - 120), s),
            "exp a string": forge(self.HS, self.claims(exp=str(now + 600)), s),
            "exp null": forge(self.HS, self.claims(exp=None), s),
            "exp twice": forge(self.HS, ('{"exp":%d,"exp":%d}' % (now + 600, now - 600)).encode(), s),
            "nbf in an hour": forge(self.HS, self.claims(nbf=now + 3600), s),
            "nbf past the leeway": forge(self.HS, self.claims(nbf=now + 120), s),
            "nbf a string": forge(self.HS, self.claims(nbf="0"), s),
            "wrong secret": forge(self.HS, self.claims(), "not-the-hub-secret"),
            "secret with an extra byte": forge(self.HS, self.claims(), s + "x"),
            "secret upper-cased": forge(self.HS, self.claims(), s.upper() if s.upper() != s else s + "A"),
            "empty secret": forge(self.HS, self.claims(), ""),
        }
        for label, token in tokens.items():
            with self.subTest(token=label):
                self.assertTokenRefused(token)

    def test_tampered_tokens_are_401(self):
        s = self.jwt_secret
        narrow = forge(self.HS, self.claims(topics=["payments.*"]), s)
        h, _, sig = narrow.split(".")
        widened = b64url(json.dumps(self.claims(topics=["#"]), separators=(",", ":")).encode())
        no_topics = b64url(json.dumps(self.claims(), separators=(",", ":")).encode())
        other_header = b64url(json.dumps({"alg": "HS256", "typ": "jwt"}, separators=(",", ":")).encode())
        tokens = {
            "topics widened after signing": h + "." + widened + "." + sig,
            "topics removed after signing": h + "." + no_topics + "." + sig,
            "header changed after signing": other_header + "." + narrow.split(".")[1] + "." + sig,
            "signature of another token": h + "." + widened + "." + forge(self.HS, self.claims(), s).split(".")[2],
        }
        for label, token in tokens.items():
            with self.subTest(token=label):
                self.assertTokenRefused(token)

    def test_topics_claim_limits_what_may_be_published(self):
        s = self.jwt_secret
        forbidden = {
            "empty list": [],
            "a shorter topic": ["orders"],
            "one word more": ["orders.created.*"],
            "other case": ["ORDERS.created"],
            "a sibling": ["orders.updated", "payments.#"],
        }
        for label, topics in forbidden.items():
            with self.subTest(topics=label):
                self.assertTokenRefused(forge(self.HS, self.claims(topics=topics), s), 403, "forbidden")
        malformed = {"a string, not a list": "orders.*", "a number in the list": ["orders.*", 5],
                     "an invalid pattern": ["orders..*"], "null": None,
                     "twice": ('{"topics":["payments.*"],"topics":["#"]}').encode()}
        for label, topics in malformed.items():
            with self.subTest(topics=label):
                payload = topics if isinstance(topics, bytes) else self.claims(topics=topics)
                self.assertTokenRefused(forge(self.HS, payload, s))
        with self.subTest(topics="allowed: orders.created.# (zero more words)"):
            resp = self.hub.publish("orders.created", GOOD_DATA,
                                    token=forge(self.HS, self.claims(topics=["orders.created.#"]), s))
            self.assertEqual(resp.status, 202, resp)
            self.good(resp)
            self.assertStillServes()

    def test_wrong_credential_kinds_and_schemes_are_401(self):
        publisher = self.hub.token()
        wide = mint_jwt(self.jwt_secret, topics=["#"])
        with self.subTest(case="admin token as a publisher token"):
            self.assertTokenRefused(self.admin_token)
        schemes = {"Bearer with no token": "Bearer", "Bearer and spaces": "Bearer    ",
                   "Basic": "Basic eHh4Onl5eQ==", "Basic with the token": "Basic " + publisher,
                   "Token scheme": "Token " + publisher, "no scheme": publisher,
                   "BearerX": "BearerX " + publisher, "Bearer, tab": "Bearer\t" + publisher,
                   "two tokens": "Bearer " + publisher + " " + publisher, "empty": ""}
        for label, value in schemes.items():
            with self.subTest(case=label):
                self.assertTokenRefused(None, scheme=value)
        admin_calls = [("GET", "/v1/subscribers", None), ("POST", "/v1/subscribers", SUB_X),
                       ("GET", "/v1/subscribers/x", None), ("PATCH", "/v1/subscribers/x", {"enabled": False}),
                       ("DELETE", "/v1/subscribers/x", None), ("POST", "/v1/filters/test", {"filter": "true"}),
                       ("POST", "/v1/match", {"topic": "orders.created"}), ("GET", "/v1/dead", None),
                       ("POST", "/v1/dead/replay", {}), ("GET", "/v1/events/evt_x", None)]
        credentials = {"publisher token": "Bearer " + publisher, "publisher token with topics #": "Bearer " + wide,
                       "Bearer with no token": "Bearer", "Basic with the admin token": "Basic " + self.admin_token,
                       "admin token plus a byte": "Bearer " + self.admin_token + "x",
                       "admin token minus a byte": "Bearer " + self.admin_token[:-1],
                       "admin token, no scheme": self.admin_token, "empty": ""}
        for method, path, body in admin_calls:
            for label, value in credentials.items():
                with self.subTest(call="%s %s" % (method, path), credential=label):
                    resp = self.hub.admin(method, path, body, headers={"Authorization": value})
                    self.assertRefused(resp, 401, "unauthorized")


if __name__ == "__main__":
    unittest.main()
