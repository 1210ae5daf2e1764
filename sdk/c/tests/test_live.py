"""Live tests of the C SDK: the compiled programs (examples/publish, examples/verify and
tests/live_client, which drives every client call) talk to a real hub — a private redis-server, the
switchyard hub and worker, a real receiver, from tests/integration/harness.py — and to a scripted fake
hub for what a real one will not do on demand (drop a connection, answer 503, show its sockets).

Environment: SWITCHYARD_BIN (the hub binary), SYC_EXAMPLES_DIR (holds publish and verify),
SYC_LIVE_CLIENT (the live_client program). ctest sets all three."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tests", "integration"))

from harness import (Reply, SwitchyardCase, free_port, http_request, mint_jwt, verify_webhook,  # noqa: E402
                     wait_for)

RUN_TIMEOUT_S = 60
SANITIZER = re.compile(r"ERROR: (Address|Leak|Thread)Sanitizer|runtime error: ")


def program(env_name, *names):
    base = os.environ.get(env_name)
    if not base:
        raise unittest.SkipTest("%s is not set (ctest sets it)" % env_name)
    path = os.path.join(base, *names)
    if not os.access(path, os.X_OK):
        raise AssertionError("%s is not an executable (from %s)" % (path, env_name))
    return path


def run(argv, env=None, stdin=b""):
    """Runs a C program to completion; fails on any sanitizer report. Returns CompletedProcess."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHYARD_", "SYC_"))}
    full_env.update({k: str(v) for k, v in (env or {}).items() if v is not None})
    p = subprocess.run(argv, env=full_env, input=stdin, capture_output=True, timeout=RUN_TIMEOUT_S)
    err = p.stderr.decode(errors="replace")
    if SANITIZER.search(err):
        raise AssertionError("sanitizer report from %s:\n%s" % (argv[0], err))
    return p


class Outcome:
    """What live_client printed: ok with the text, or the client's error record."""

    def __init__(self, proc):
        self.proc = proc
        self.out = proc.stdout.decode()
        self.ok = proc.returncode == 0
        self.status = self.code = self.message = None
        if proc.returncode == 1 and self.out.startswith("ERROR\t"):
            _, status, self.code, self.message = self.out.rstrip("\n").split("\t", 3)
            self.status = int(status)
        elif not self.ok:
            raise AssertionError("live_client failed oddly (%s): %s %s"
                                 % (proc.returncode, self.out, proc.stderr.decode(errors="replace")))

    @property
    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "<Outcome %s %r>" % (self.proc.returncode, self.out[:500])


def live_client(url, *args, **env):
    return Outcome(run([program("SYC_LIVE_CLIENT")] + [url] + list(args), env=env))


# ---------------------------------------------------------------------------------------------------
# Against a real hub.

class RealHubTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis(appendonly="yes", appendfsync="always")
        self.hub = self.start_hub()
        self.worker = self.start_worker()
        self.rx = self.start_receiver()
        self.url = self.hub.url("")

    def admin(self, *args, **env):
        return live_client(self.url, *args, SYC_ADMIN_TOKEN=self.admin_token, **env)

    def publisher(self, *args, **env):
        env.setdefault("SYC_JWT_SECRET", self.jwt_secret)
        return live_client(self.url, *args, **env)

    def subscribe(self, **fields):
        out = self.admin("sub-create", json.dumps(fields))
        self.assertTrue(out.ok, out)
        return out.json

    def example_publish(self, topic, data):
        p = run([program("SYC_EXAMPLES_DIR", "publish"), topic, json.dumps(data)],
                env={"SWITCHYARD_HUB_URL": self.url, "SWITCHYARD_JWT_SECRET": self.jwt_secret})
        self.assertEqual(p.returncode, 0, p)
        return p.stdout.decode().strip()

    def example_verify(self, secret, headers, body):
        p = run([program("SYC_EXAMPLES_DIR", "verify"), secret, headers["webhook-id"],
                 headers["webhook-timestamp"], headers["webhook-signature"]], stdin=body)
        return p.returncode, p.stdout.decode().strip()

    def hub_error(self, method, path, **kw):
        """The hub's own answer to a request, to compare the SDK's error with."""
        return http_request(method, self.hub.url(path), **kw).json["error"]

    # publish and verify ---------------------------------------------------------------------------

    def test_published_event_is_delivered_and_its_signature_verifies(self):
        sub = self.subscribe(name="c-sdk", topic="orders.*", target_url=self.rx.url("/hooks/:order_id"))
        event_id = self.example_publish("orders.created", {"body": {"id": 7, "total": 120},
                                                           "path_params": {"order_id": "7"}})
        self.assertTrue(event_id.startswith("evt_"), event_id)
        req = self.rx.wait_for_requests("/hooks/7")[0]
        self.assertEqual(req.json(), {"id": 7, "total": 120})
        self.assertTrue(verify_webhook(sub["secret"], req.headers, req.body))

        self.assertEqual(self.example_verify(sub["secret"], req.headers, req.body), (0, "valid"))
        rc, text = self.example_verify(sub["secret"], req.headers, req.body.replace(b"120", b"121"))
        self.assertEqual(rc, 1)
        self.assertIn("no v1 signature in webhook-signature matches", text)
        other = "whsec_" + base64.b64encode(b"another secret of 24 b.").decode()
        self.assertEqual(self.example_verify(other, req.headers, req.body)[0], 1)

        def delivered():
            jobs = self.admin("event-get", event_id).json["jobs"]
            return len(jobs) == 1 and jobs[0]["state"] == "delivered"
        wait_for(delivered, message="the job to show as delivered through syc_event_get")

    def test_publish_loop_through_the_example_gives_one_event_each(self):
        self.subscribe(name="all", topic="loop.#", target_url=self.rx.url("/loop"))
        p = run([program("SYC_EXAMPLES_DIR", "publish"), "loop.test", '{"body": {"n": 1}}', "25"],
                env={"SWITCHYARD_HUB_URL": self.url, "SWITCHYARD_JWT_SECRET": self.jwt_secret})
        self.assertEqual(p.returncode, 0, p)
        ids = p.stdout.decode().split()
        self.assertEqual(len(set(ids)), 25)
        self.rx.wait_for_requests("/loop", count=25)

    def test_publish_options_reach_the_hub(self):
        self.subscribe(name="opts", topic="orders.created", target_url=self.rx.url("/opts"))
        due = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))
        out = self.publisher("publish", "orders.created", '{"body": {"id": 1}}', "order-1-created", due, "3600")
        self.assertTrue(out.ok, out)
        self.assertEqual(out.out.strip(), "order-1-created")
        t0 = time.time()
        req = self.rx.wait_for_requests("/opts", timeout=12)[0]
        self.assertGreaterEqual(req.time, t0 + 0.5)   # deliver_at held it back
        event = self.admin("event-get", "order-1-created").json
        self.assertEqual(event["topic"], "orders.created")

    def test_same_idempotency_key_gives_the_first_event(self):
        first = self.publisher("publish", "orders.created", "{}", "-", "-", "-", "key-1")
        again = self.publisher("publish", "orders.created", '{"x": 2}', "-", "-", "-", "key-1")
        other = self.publisher("publish", "orders.created", "{}")
        self.assertTrue(first.ok and again.ok and other.ok, (first, again, other))
        self.assertEqual(first.out, again.out)
        self.assertNotEqual(first.out, other.out)

    def test_publish_retries_through_a_redis_outage_without_duplicates(self):
        self.subscribe(name="outage", topic="orders.created", target_url=self.rx.url("/outage"))
        self.redis.stop()
        proc = subprocess.Popen([program("SYC_LIVE_CLIENT"), self.url, "publish", "orders.created",
                                 '{"body": {"n": 1}}'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(os.environ, SYC_JWT_SECRET=self.jwt_secret, SYC_RETRIES="25"))
        try:
            time.sleep(1.5)
            self.assertIsNone(proc.poll(), "publish should still be retrying while Redis is down")
            self.redis.start()
            out, err = proc.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertFalse(SANITIZER.search(err.decode(errors="replace")), err)
        self.assertEqual(proc.returncode, 0, (out, err))
        self.rx.wait_for_requests("/outage", timeout=15)
        time.sleep(1.0)
        self.assertEqual(len(self.rx.requests("/outage")), 1)

    # admin calls ----------------------------------------------------------------------------------

    def test_subscriber_calls_round_trip(self):
        body = {"topic": "orders.*", "filter": "data.body.total > 100", "target_url": self.rx.url("/a")}
        created = self.admin("sub-put", "billing-big", json.dumps(body))
        self.assertTrue(created.ok, created)
        self.assertEqual(created.json["name"], "billing-big")
        replaced = self.admin("sub-put", "billing-big", json.dumps(dict(body, filter="")))
        self.assertEqual(replaced.json["id"], created.json["id"])

        got = self.admin("sub-get", "billing-big").json
        self.assertEqual(got["id"], created.json["id"])
        self.assertEqual(got["filter"], "")
        self.subscribe(name="payments", topic="payments.*", target_url=self.rx.url("/p"))
        names = [s["name"] for s in self.items(self.admin("sub-list", "orders.created").json)]
        self.assertEqual(names, ["billing-big"])
        self.assertEqual(len(self.items(self.admin("sub-list").json)), 2)

        patched = self.admin("sub-update", created.json["id"], '{"enabled": false}')
        self.assertTrue(patched.ok, patched)
        self.assertFalse(self.admin("sub-get", created.json["id"]).json["enabled"])

        self.assertEqual(self.admin("sub-delete", "billing-big").out.strip(), "ok")
        gone = self.admin("sub-get", "billing-big")
        self.assertEqual((gone.status, gone.code), (404, "not_found"))
        self.assertEqual(gone.message, self.hub_error("GET", "/v1/subscribers/billing-big",
                                                      headers={"Authorization": "Bearer " + self.admin_token})["message"])

    def items(self, payload):
        return payload if isinstance(payload, list) else payload.get("items", payload.get("subscribers"))

    def test_dead_letters_list_page_replay_and_delete(self):
        self.rx.on("/dead", then=Reply(500))
        sub = self.subscribe(name="dead", topic="jobs.test", target_url=self.rx.url("/dead"), max_attempts=1)
        events = [self.publisher("publish", "jobs.test", '{"body": {"n": %d}}' % i).out.strip() for i in (1, 2)]
        wait_for(lambda: len(self.admin("dead-list", "-", "0", "-").json["items"]) == 2, message="two dead letters")

        page = self.admin("dead-list", sub["id"], "1", "-").json
        self.assertEqual(len(page["items"]), 1)
        self.assertTrue(page["next_cursor"])
        rest = self.admin("dead-list", sub["id"], "1", page["next_cursor"]).json
        self.assertEqual(len(rest["items"]), 1)
        first, second = page["items"][0], rest["items"][0]
        self.assertEqual({first["event_id"], second["event_id"]}, set(events))

        self.rx.on("/dead", then=Reply(200))
        self.assertTrue(self.admin("dead-replay", first["job_id"]).ok)
        self.rx.wait_for_requests("/dead", count=3)
        self.assertTrue(self.admin("dead-delete", second["job_id"]).ok)
        self.assertEqual(self.admin("dead-list", "-", "0", "-").json["items"], [])
        missing = self.admin("dead-replay", second["job_id"])
        self.assertEqual((missing.status, missing.code), (404, "not_found"))

    def test_any_endpoint_through_syc_request(self):
        out = self.admin("request", "POST", "/v1/filters/test", '{"filter": "data.x == 1", "data": {"x": 1}}')
        self.assertEqual(out.json, {"match": True})

    # errors ---------------------------------------------------------------------------------------

    def test_hub_errors_are_surfaced_verbatim(self):
        bad = self.publisher("publish", "orders.created", "{}", SYC_JWT_SECRET="not-the-secret")
        self.assertEqual((bad.status, bad.code), (401, "unauthorized"))
        self.assertEqual(bad.message, self.hub_error(
            "POST", "/v1/publish", json_body={"topic": "orders.created", "data": {}},
            headers={"Authorization": "Bearer " + mint_jwt("not-the-secret")})["message"])

        forbidden = self.publisher("publish", "orders.created", "{}", SYC_JWT_TOPICS="payments.*")
        self.assertEqual((forbidden.status, forbidden.code), (403, "forbidden"))
        self.assertIn("orders.created", forbidden.message)

        topic = self.publisher("publish", "orders..created", "{}")
        self.assertEqual((topic.status, topic.code), (400, "invalid_topic"))

        nocred = live_client(self.url, "publish", "orders.created", "{}")
        self.assertEqual((nocred.status, nocred.code), (401, "unauthorized"))

        filt = self.admin("sub-create", json.dumps({"topic": "a.b", "target_url": self.rx.url("/x"),
                                                    "filter": "data.x =="}))
        self.assertEqual((filt.status, filt.code), (400, "invalid_subscriber"))
        self.assertIn("filter", filt.message)

        noadmin = live_client(self.url, "sub-list")
        self.assertEqual((noadmin.status, noadmin.code), (401, "unauthorized"))

    def test_unreachable_hub_is_a_network_error_naming_the_url(self):
        url = "http://127.0.0.1:%d" % free_port()
        out = live_client(url, "publish", "orders.created", "{}", SYC_RETRIES="0", SYC_JWT_SECRET="x")
        self.assertEqual((out.status, out.code), (0, "network"))
        self.assertIn(url, out.message)


# ---------------------------------------------------------------------------------------------------
# Against a scripted fake hub.

class FakeHub:
    """An HTTP/1.1 server answering from a script: each entry is (status, body, headers) or "drop"
    (close the connection without answering); after the script, `then`. Records every request."""

    def __init__(self, script=(), then=(202, {"id": "evt_fake"}, {})):
        self.script = list(script)
        self.then = then
        self.requests = []
        self.lock = threading.Lock()
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with hub.lock:
                    hub.requests.append({"port": self.client_address[1], "method": self.command,
                                         "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                         "body": body, "time": time.time()})
                    action = hub.script.pop(0) if hub.script else hub.then
                if action == "drop":
                    self.close_connection = True
                    return
                status, payload, headers = action
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                for k, v in headers.items():
                    if k != "Content-Type":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def hub_error(status, code, message):
    return (status, {"error": {"code": code, "message": message}}, {})


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class FakeHubTest(unittest.TestCase):
    def fake(self, *script, **kw):
        hub = FakeHub(script, **kw)
        self.addCleanup(hub.stop)
        return hub

    def test_publishes_in_a_loop_reuse_one_connection(self):
        hub = self.fake()
        out = live_client(hub.url, "publish-loop", "30", "a.b", "{}", SYC_TOKEN="t")
        self.assertTrue(out.ok, out)
        self.assertEqual(len(hub.requests), 30)
        self.assertEqual({r["port"] for r in hub.requests}, {hub.requests[0]["port"]})

    def test_publish_request_carries_token_key_and_data_verbatim(self):
        hub = self.fake()
        data = '{"body": {"big": 9007199254740993, "f": 1.10}, "u": "\\u00e9"}'
        out = live_client(hub.url, "publish", "orders.created", data, "-", "2030-01-01T00:00:00Z", "60",
                          SYC_JWT_SECRET="sekrit", SYC_JWT_TOPICS="orders.*, payments.#", SYC_JWT_TTL="120")
        self.assertTrue(out.ok, out)
        self.assertEqual(out.out.strip(), "evt_fake")
        req = hub.requests[0]
        self.assertEqual((req["method"], req["path"]), ("POST", "/v1/publish"))
        self.assertEqual(req["headers"]["content-type"], "application/json")
        self.assertTrue(req["headers"]["user-agent"].startswith("switchyard-c/"))
        self.assertRegex(req["headers"]["idempotency-key"], r"^syc_[0-9a-f]{32}$")
        self.assertIn(b'"data":' + data.encode(), req["body"])   # spliced verbatim: every digit kept
        self.assertEqual(json.loads(req["body"]), {"topic": "orders.created", "data": json.loads(data),
                                                   "deliver_at": "2030-01-01T00:00:00Z", "ttl": 60})

        scheme, token = req["headers"]["authorization"].split(" ")
        self.assertEqual(scheme, "Bearer")
        head, claims, sig = token.split(".")
        self.assertEqual(json.loads(b64url_decode(head)), {"alg": "HS256", "typ": "JWT"})
        expected = hmac.new(b"sekrit", (head + "." + claims).encode(), hashlib.sha256).digest()
        self.assertEqual(b64url_decode(sig), expected)
        claims = json.loads(b64url_decode(claims))
        self.assertEqual(claims["topics"], ["orders.*", "payments.#"])
        self.assertEqual(claims["exp"] - claims["iat"], 120)
        self.assertLess(abs(claims["iat"] - time.time()), 30)

    def test_event_id_is_the_idempotency_key_when_no_key_is_given(self):
        hub = self.fake()
        self.assertTrue(live_client(hub.url, "publish", "a.b", "{}", "my-id-1", SYC_TOKEN="t").ok)
        self.assertEqual(hub.requests[0]["headers"]["idempotency-key"], "my-id-1")

    def test_503_is_retried_with_the_same_key_after_retry_after(self):
        busy = hub_error(503, "redis_unavailable", "the queue is unavailable")
        busy[2]["Retry-After"] = "1"
        hub = self.fake(busy, busy)
        out = live_client(hub.url, "publish", "a.b", "{}", SYC_TOKEN="t", SYC_RETRIES="3")
        self.assertTrue(out.ok, out)
        self.assertEqual(len(hub.requests), 3)
        self.assertEqual(len({r["headers"]["idempotency-key"] for r in hub.requests}), 1)
        gaps = [b["time"] - a["time"] for a, b in zip(hub.requests, hub.requests[1:])]
        self.assertTrue(all(g >= 0.95 for g in gaps), gaps)

    def test_429_and_dropped_connections_are_retried(self):
        hub = self.fake(hub_error(429, "rate_limited", "slow down"), "drop")
        out = live_client(hub.url, "publish", "a.b", "{}", SYC_TOKEN="t", SYC_RETRIES="2")
        self.assertTrue(out.ok, out)
        self.assertEqual(len(hub.requests), 3)
        self.assertEqual(len({r["headers"]["idempotency-key"] for r in hub.requests}), 1)

    def test_retries_end_with_the_last_error_verbatim(self):
        hub = self.fake(then=hub_error(503, "redis_unavailable", "the queue is unavailable (x); retry later"))
        out = live_client(hub.url, "publish", "a.b", "{}", SYC_TOKEN="t", SYC_RETRIES="2")
        self.assertEqual((out.status, out.code, out.message),
                         (503, "redis_unavailable", "the queue is unavailable (x); retry later"))
        self.assertEqual(len(hub.requests), 3)

    def test_client_errors_are_not_retried(self):
        hub = self.fake(then=hub_error(400, "invalid_request", "ttl must be a whole number"))
        out = live_client(hub.url, "publish", "a.b", "{}", SYC_TOKEN="t", SYC_RETRIES="5")
        self.assertEqual((out.status, out.code, out.message), (400, "invalid_request", "ttl must be a whole number"))
        self.assertEqual(len(hub.requests), 1)

    def test_answer_not_in_the_hub_error_shape_is_http_error(self):
        hub = self.fake(then=(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}))
        out = live_client(hub.url, "sub-list", SYC_ADMIN_TOKEN="adm")
        self.assertEqual((out.status, out.code), (502, "http_error"))
        self.assertIn("Bad Gateway", out.message)
        self.assertIn(hub.url + "/v1/subscribers", out.message)

    def test_accepted_publish_without_an_id_is_invalid_response(self):
        hub = self.fake(then=(202, b"not json", {}))
        out = live_client(hub.url, "publish", "a.b", "{}", SYC_TOKEN="t")
        self.assertEqual((out.status, out.code), (202, "invalid_response"))

    def test_admin_calls_use_the_documented_methods_paths_and_credential(self):
        hub = self.fake(then=(200, {"ok": 1}, {}))
        calls = [
            (("sub-create", '{"topic": "a"}'), "POST", "/v1/subscribers", b'{"topic": "a"}'),
            (("sub-put", "big orders", "{}"), "PUT", "/v1/subscribers/big%20orders", b"{}"),
            (("sub-get", "a/b?c"), "GET", "/v1/subscribers/a%2Fb%3Fc", b""),
            (("sub-list", "orders.created"), "GET", "/v1/subscribers?topic=orders.created", b""),
            (("sub-list",), "GET", "/v1/subscribers", b""),
            (("sub-update", "s1", '{"enabled": true}'), "PATCH", "/v1/subscribers/s1", b'{"enabled": true}'),
            (("sub-delete", "s1"), "DELETE", "/v1/subscribers/s1", b""),
            (("dead-list", "sub 1", "5", "c+1"), "GET", "/v1/dead?subscriber=sub%201&limit=5&cursor=c%2B1", b""),
            (("dead-list", "-", "0", "-"), "GET", "/v1/dead", b""),
            (("dead-replay", "job_1"), "POST", "/v1/dead/job_1/replay", b""),
            (("dead-delete", "job_1"), "DELETE", "/v1/dead/job_1", b""),
            (("event-get", "evt_1"), "GET", "/v1/events/evt_1", b""),
            (("request", "POST", "/v1/match", '{"topic": "a"}'), "POST", "/v1/match", b'{"topic": "a"}'),
        ]
        for args, method, path, body in calls:
            out = live_client(hub.url + "/", *args, SYC_ADMIN_TOKEN="adm")
            self.assertTrue(out.ok, (args, out))
            req = hub.requests[-1]
            self.assertEqual((req["method"], req["path"], req["body"]), (method, path, body), args)
            self.assertEqual(req["headers"]["authorization"], "Bearer adm")
            self.assertNotIn("idempotency-key", req["headers"])
        self.assertEqual(live_client(hub.url, "sub-get", "x", SYC_ADMIN_TOKEN="adm").json, {"ok": 1})


if __name__ == "__main__":
    unittest.main()
