"""Client against a scripted fake hub: requests on the wire, retries, error classes."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import unittest
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from switchyard import (AuthError, Client, Conflict, NotFound, RateLimited,  # noqa: E402
                        SwitchyardError, Unavailable, ValidationError)


def error_body(code, message="something is wrong"):
    return {"error": {"code": code, "message": message}}


class FakeHub:
    """An HTTP/1.1 keep-alive server answering from a script: each reply is (status, json or bytes,
    headers, drop) where drop True closes the connection without answering and "after" closes it
    silently after answering, as a server dropping an idle keep-alive connection does. Records every
    request."""

    def __init__(self):
        self.requests = []
        self.script = []
        self.lock = threading.Lock()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with hub.lock:
                    hub.requests.append({"method": self.command, "path": self.path,
                                         "headers": {k.lower(): v for k, v in self.headers.items()},
                                         "json": json.loads(body) if body else None})
                    reply = hub.script.pop(0) if hub.script else (200, {}, {}, False)
                status, payload, headers, drop = (tuple(reply) + ({}, False))[:4]
                if drop is True:
                    self.close_connection = True
                    return
                self.close_connection = drop == "after"
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if status != 204:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class ClientCase(unittest.TestCase):
    def setUp(self):
        self.hub = FakeHub()
        self.addCleanup(self.hub.stop)

    def client(self, **kw):
        kw.setdefault("token", "publisher-token")
        kw.setdefault("admin_token", "admin-token")
        kw.setdefault("backoff", 0.01)
        c = Client(self.hub.url, **kw)
        self.addCleanup(c.close)
        return c

    def reply(self, *replies):
        self.hub.script.extend(replies)


class Publish(ClientCase):
    def test_publish_posts_topic_and_data_with_the_token(self):
        self.reply((202, {"id": "evt_1", "topic": "orders.created", "matched": 2}))
        out = self.client().publish("orders.created", {"body": {"id": 7}})
        self.assertEqual(out, {"id": "evt_1", "topic": "orders.created", "matched": 2})
        req = self.hub.requests[0]
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1/publish"))
        self.assertEqual(req["headers"]["authorization"], "Bearer publisher-token")
        self.assertEqual(req["headers"]["content-type"], "application/json")
        self.assertEqual(req["json"], {"topic": "orders.created", "data": {"body": {"id": 7}}})

    def test_publish_always_sends_an_idempotency_key(self):
        self.reply((202, {}), (202, {}))
        c = self.client()
        c.publish("a", {})
        c.publish("a", {})
        keys = [r["headers"].get("idempotency-key") for r in self.hub.requests]
        self.assertTrue(all(keys), keys)
        self.assertNotEqual(keys[0], keys[1], "each publish call has its own key")

    def test_event_id_is_the_default_idempotency_key(self):
        self.client().publish("a", {}, id="order-7-created")
        self.assertEqual(self.hub.requests[0]["headers"]["idempotency-key"], "order-7-created")
        self.assertEqual(self.hub.requests[0]["json"]["id"], "order-7-created")

    def test_options_are_serialized(self):
        at = datetime(2026, 12, 1, 9, 0, 0, 250000, tzinfo=timezone(timedelta(hours=1)))
        self.client().publish("a", {"x": 1}, deliver_at=at, ttl=timedelta(hours=1), idempotency_key="k1")
        req = self.hub.requests[0]
        self.assertEqual(req["json"]["deliver_at"], "2026-12-01T08:00:00.250Z")
        self.assertEqual(req["json"]["ttl"], 3600)
        self.assertEqual(req["headers"]["idempotency-key"], "k1")

    def test_data_must_be_a_dict(self):
        with self.assertRaises(TypeError):
            self.client().publish("a", [1, 2])

    def test_jwt_secret_mints_a_valid_hs256_token_with_topics(self):
        self.client(token=None, jwt_secret="hub-secret", topics=["orders.*"]).publish("orders.x", {})
        token = self.hub.requests[0]["headers"]["authorization"].split(" ", 1)[1]
        head, claims, sig = token.split(".")
        mac = hmac.new(b"hub-secret", ("%s.%s" % (head, claims)).encode(), hashlib.sha256).digest()
        self.assertEqual(base64.urlsafe_b64encode(mac).rstrip(b"=").decode(), sig)
        claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
        self.assertEqual(claims["topics"], ["orders.*"])
        self.assertLessEqual(claims["exp"] - claims["iat"], 300)

    def test_minted_token_is_reused_while_fresh(self):
        c = self.client(token=None, jwt_secret="hub-secret")
        c.publish("a", {})
        c.publish("a", {})
        auth = [r["headers"]["authorization"] for r in self.hub.requests]
        self.assertEqual(auth[0], auth[1])

    def test_publish_without_credentials_fails_before_sending(self):
        with self.assertRaises(AuthError) as cm:
            self.client(token=None).publish("a", {})
        self.assertEqual(cm.exception.code, "missing_credentials")
        self.assertEqual(self.hub.requests, [])


class Retries(ClientCase):
    def test_503_is_retried_with_the_same_idempotency_key(self):
        self.reply((503, error_body("redis_unavailable"), {"Retry-After": "0"}),
                   (503, error_body("redis_unavailable")), (202, {"id": "evt_1"}))
        self.assertEqual(self.client().publish("a", {})["id"], "evt_1")
        keys = {r["headers"]["idempotency-key"] for r in self.hub.requests}
        self.assertEqual((len(self.hub.requests), len(keys)), (3, 1))

    def test_429_is_retried_and_retry_after_honoured(self):
        self.reply((429, error_body("rate_limited"), {"Retry-After": "0.2"}), (202, {"id": "evt_2"}))
        c = self.client()
        import time
        t0 = time.monotonic()
        self.assertEqual(c.publish("a", {})["id"], "evt_2")
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)

    def test_gives_up_after_retries_with_the_hubs_error(self):
        self.reply(*[(503, error_body("redis_unavailable", "Redis is away"))] * 5)
        with self.assertRaises(Unavailable) as cm:
            self.client(retries=2).publish("a", {})
        self.assertEqual((cm.exception.status, cm.exception.code), (503, "redis_unavailable"))
        self.assertEqual(cm.exception.message, "Redis is away")
        self.assertEqual(len(self.hub.requests), 3)

    def test_lost_response_is_retried_with_the_same_key(self):
        self.reply((202, {}, {}, True), (202, {"id": "evt_3", "duplicate": True}))
        self.assertEqual(self.client().publish("a", {})["id"], "evt_3")
        keys = [r["headers"]["idempotency-key"] for r in self.hub.requests]
        self.assertEqual(len(keys), 2)
        self.assertEqual(keys[0], keys[1])

    def test_connection_refused_is_retried_then_raised_as_unavailable(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        c = Client("http://127.0.0.1:%d" % port, token="t", retries=2, backoff=0.01)
        with self.assertRaises(Unavailable) as cm:
            c.publish("a", {})
        self.assertEqual((cm.exception.status, cm.exception.code), (0, "network_error"))
        self.assertIsInstance(cm.exception.__cause__, ConnectionRefusedError)

    def test_validation_errors_are_not_retried(self):
        self.reply((400, error_body("invalid_topic", "word 2 is empty")))
        with self.assertRaises(ValidationError) as cm:
            self.client().publish("a..b", {})
        self.assertEqual(cm.exception.code, "invalid_topic")
        self.assertEqual(len(self.hub.requests), 1)

    def test_create_is_not_repeated_after_a_lost_response(self):
        self.reply((201, {}, {}, True))
        with self.assertRaises(Unavailable):
            self.client().create_subscriber(topic="a", target_url="http://x/")
        self.assertEqual(len(self.hub.requests), 1)

    def test_create_is_retried_after_503_since_the_hub_changed_nothing(self):
        self.reply((503, error_body("redis_unavailable")), (201, {"id": "sub_1"}))
        self.assertEqual(self.client().create_subscriber(topic="a", target_url="http://x/")["id"], "sub_1")

    def test_connection_closed_while_idle_is_reopened(self):
        self.reply((202, {"id": "evt_1"}, {}, "after"), (202, {"id": "evt_2"}))
        c = self.client(retries=0)
        c.publish("a", {})
        self.assertIsNotNone(c._local.conn.sock, "the client kept the connection open")
        self.assertEqual(c.publish("a", {})["id"], "evt_2")
        self.assertEqual(len(self.hub.requests), 2)


class Errors(ClientCase):
    def test_error_class_follows_the_status(self):
        cases = [(400, "invalid_json", ValidationError), (413, "payload_too_large", ValidationError),
                 (415, "unsupported_media_type", ValidationError), (401, "unauthorized", AuthError),
                 (403, "forbidden", AuthError), (404, "not_found", NotFound), (409, "conflict", Conflict),
                 (429, "rate_limited", RateLimited), (503, "redis_unavailable", Unavailable),
                 (405, "method_not_allowed", SwitchyardError), (500, "internal", SwitchyardError)]
        c = self.client(retries=0)
        for status, code, cls in cases:
            with self.subTest(status=status):
                self.reply((status, error_body(code, "because %d" % status)))
                with self.assertRaises(cls) as cm:
                    c.get_subscriber("x")
                self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.message),
                                 (status, code, "because %d" % status))
                self.assertIn("because %d" % status, str(cm.exception))

    def test_error_body_not_in_the_hubs_shape(self):
        self.reply((502, b"<html>Bad Gateway</html>"))
        with self.assertRaises(Unavailable) as cm:
            self.client(retries=0).get_subscriber("x")
        self.assertEqual(cm.exception.code, "http_502")
        self.assertIn("Bad Gateway", cm.exception.message)

    def test_admin_call_without_admin_token_fails_before_sending(self):
        with self.assertRaises(AuthError) as cm:
            self.client(admin_token=None).list_subscribers()
        self.assertEqual(cm.exception.code, "missing_credentials")
        self.assertEqual(self.hub.requests, [])


class AdminCalls(ClientCase):
    def call(self, reply, fn, *args, **kw):
        self.reply(reply)
        out = fn(*args, **kw)
        return out, self.hub.requests[-1]

    def test_every_admin_call_maps_to_its_endpoint(self):
        c = self.client()
        since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        cases = [
            ((201, {"id": "sub_1"}), c.create_subscriber, ({"topic": "a"},), {"target_url": "http://x/"},
             "POST", "/v1/subscribers", {"topic": "a", "target_url": "http://x/"}),
            ((200, {"subscribers": [{"id": "s"}]}), c.list_subscribers, (), {"topic": "orders.created"},
             "GET", "/v1/subscribers?topic=orders.created", None),
            ((200, {"id": "s"}), c.get_subscriber, ("billing big",), {}, "GET", "/v1/subscribers/billing%20big", None),
            ((200, {}), c.update_subscriber, ("sub_1",), {"enabled": True}, "PATCH", "/v1/subscribers/sub_1",
             {"enabled": True}),
            ((201, {}), c.put_subscriber, ("billing",), {"topic": "a", "target_url": "http://x/"}, "PUT",
             "/v1/subscribers/billing", {"topic": "a", "target_url": "http://x/", "name": "billing"}),
            ((204, b""), c.delete_subscriber, ("sub_1",), {}, "DELETE", "/v1/subscribers/sub_1", None),
            ((200, {"secret": "whsec_x"}), c.rotate_secret, ("sub_1",), {}, "POST",
             "/v1/subscribers/sub_1/rotate-secret", None),
            ((200, {"match": True}), c.test_filter, ("data.x == 1", {"x": 1}), {}, "POST", "/v1/filters/test",
             {"filter": "data.x == 1", "data": {"x": 1}}),
            ((200, {"subscribers": []}), c.match, ("a", {"x": 1}), {}, "POST", "/v1/match",
             {"topic": "a", "data": {"x": 1}}),
            ((200, {"id": "evt_1"}), c.get_event, ("evt_1",), {}, "GET", "/v1/events/evt_1", None),
            ((200, {"items": [], "next_cursor": None}), c.list_dead, (), {"subscriber": "sub_1", "limit": 5,
             "cursor": "c1"}, "GET", "/v1/dead?subscriber=sub_1&limit=5&cursor=c1", None),
            ((200, {"replayed": 1}), c.replay_dead, ("job_1",), {}, "POST", "/v1/dead/job_1/replay", None),
            ((200, {"replayed": 4}), c.replay_dead_range, (), {"subscriber_id": "sub_1", "since": since},
             "POST", "/v1/dead/replay", {"subscriber_id": "sub_1", "since": "2026-01-02T03:04:05.000Z"}),
            ((204, b""), c.delete_dead, ("job_1",), {}, "DELETE", "/v1/dead/job_1", None),
        ]
        for reply, fn, args, kw, method, path, body in cases:
            with self.subTest(fn=fn.__name__):
                _, req = self.call(reply, fn, *args, **kw)
                self.assertEqual((req["method"], req["path"], req["json"]), (method, path, body))
                self.assertEqual(req["headers"]["authorization"], "Bearer admin-token")

    def test_answers_are_unwrapped_where_a_list_is_natural(self):
        c = self.client()
        self.assertEqual(self.call((200, {"subscribers": [{"id": "s"}]}), c.list_subscribers)[0], [{"id": "s"}])
        self.assertEqual(self.call((200, {"subscribers": [{"id": "m"}]}), c.match, "a", {})[0], [{"id": "m"}])
        self.assertEqual(self.call((200, {"replayed": 3}), c.replay_dead_range)[0], 3)
        self.assertIsNone(self.call((204, b""), c.delete_dead, "job_1")[0])

    def test_iter_dead_follows_the_cursor(self):
        self.reply((200, {"items": [{"job_id": "j1"}, {"job_id": "j2"}], "next_cursor": "c2"}),
                   (200, {"items": [{"job_id": "j3"}], "next_cursor": None}))
        jobs = [d["job_id"] for d in self.client().iter_dead(subscriber="sub_1", page_size=2)]
        self.assertEqual(jobs, ["j1", "j2", "j3"])
        self.assertEqual(self.hub.requests[1]["path"], "/v1/dead?subscriber=sub_1&limit=2&cursor=c2")

    def test_hub_url_path_prefix_is_kept(self):
        c = Client(self.hub.url + "/switchyard/", admin_token="a")
        self.addCleanup(c.close)
        self.reply((200, {"subscribers": []}))
        c.list_subscribers()
        self.assertEqual(self.hub.requests[0]["path"], "/switchyard/v1/subscribers")

    def test_hub_url_must_be_http(self):
        with self.assertRaises(ValueError):
            Client("ftp://hub")


if __name__ == "__main__":
    unittest.main()
