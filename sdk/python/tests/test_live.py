"""The SDK against a real hub: a private redis-server, `switchyard hub`, `switchyard worker` and a
real HTTP receiver, all started and stopped by PID through the integration suite's harness
(tests/integration/harness.py). Skipped when SWITCHYARD_BIN is not set."""
import base64
import json
import os
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
HARNESS_DIR = os.path.normpath(os.path.join(HERE, "..", "..", "..", "tests", "integration"))
sys.path.insert(0, HARNESS_DIR)

from switchyard import (AuthError, Client, Conflict, NotFound, ValidationError,  # noqa: E402
                        WebhookVerificationError, sign_token, verify_webhook)

try:
    import harness
except ImportError:  # the SDK was copied out of the repository
    harness = None

SKIP_REASON = None
if not os.environ.get("SWITCHYARD_BIN"):
    SKIP_REASON = "live tests need SWITCHYARD_BIN=/path/to/switchyard (ctest sets it)"
elif harness is None:
    SKIP_REASON = "live tests need the integration harness at %s" % HARNESS_DIR

Base = harness.SwitchyardCase if harness is not None else unittest.TestCase


class DropFirstResponseProxy:
    """A TCP proxy to the hub that forwards the first request but closes the connection instead of
    returning the hub's answer: the response is lost after the hub acted on the request. Every later
    request passes through. Records each request's Idempotency-Key."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.keys = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @staticmethod
    def _read_message(sock):
        """One HTTP/1.1 message (head and Content-Length body); b"" at end of stream."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return head + b"\r\n\r\n" + rest

    def _accept(self):
        while not self.stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        client.settimeout(10)
        try:
            with client, socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10) as up:
                while True:
                    request = self._read_message(client)
                    if not request:
                        return
                    for line in request.split(b"\r\n\r\n")[0].split(b"\r\n"):
                        if line.lower().startswith(b"idempotency-key:"):
                            self.keys.append(line.split(b":", 1)[1].strip().decode())
                    up.sendall(request)
                    response = self._read_message(up)
                    if self.dropped == 0:
                        self.dropped += 1
                        return          # the hub answered; the client never hears it
                    client.sendall(response)
        except OSError:
            return

    def stop(self):
        self.stopping.set()
        self.listener.close()
        self.thread.join(timeout=5)


@unittest.skipIf(SKIP_REASON, SKIP_REASON or "")
class LiveHub(Base):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.worker = self.start_worker()
        self.rx = self.start_receiver()
        self.client = Client(self.hub.url(""), jwt_secret=self.jwt_secret, admin_token=self.admin_token,
                             backoff=0.05)
        self.addCleanup(self.client.close)

    def wait_for_job_state(self, event_id, state, timeout=10.0):
        def check():
            jobs = self.client.get_event(event_id)["jobs"]
            return jobs[0] if len(jobs) == 1 and jobs[0]["state"] == state else None
        return harness.wait_for(check, timeout=timeout, message="job of %s in state %s" % (event_id, state))

    def test_delivery_of_an_sdk_publish_verifies_with_the_secret_from_creation(self):
        sub = self.client.create_subscriber(name="billing", topic="orders.*", filter="data.body.total > 100",
                                            target_url=self.rx.url("/hooks/:order_id"))
        self.assertTrue(sub["secret"].startswith("whsec_"), sub)
        small = self.client.publish("orders.created", {"body": {"id": 6, "total": 10},
                                                       "path_params": {"order_id": "6"}})
        self.assertEqual(small["matched"], 0)
        out = self.client.publish("orders.created", {"body": {"id": 7, "total": 120},
                                                     "path_params": {"order_id": "7"}})
        self.assertEqual((out["topic"], out["matched"]), ("orders.created", 1))
        self.assertTrue(out["id"].startswith("evt_"), out)

        (req,) = self.rx.wait_for_requests("/hooks/7")
        body = verify_webhook(sub["secret"], req.headers, req.body)
        self.assertEqual(body, {"id": 7, "total": 120})
        self.assertEqual(req.headers["switchyard-topic"], "orders.created")
        with self.assertRaises(WebhookVerificationError):
            verify_webhook(sub["secret"], req.headers, req.body.replace(b"120", b"121"))
        job = self.wait_for_job_state(out["id"], "delivered")
        self.assertEqual(job["subscriber_id"], sub["id"])
        self.assertEqual(job["job_id"], req.headers["webhook-id"])
        self.assertEqual(len(self.rx.requests()), 1, "the filtered-out event was not delivered")

    def test_old_switch_client_request_still_delivers_to_an_sdk_subscriber(self):
        sub = self.client.create_subscriber(topic="orders.created", target_url=self.rx.url("/legacy/:order_id"))
        data = {"body": {"id": 9}, "path_params": {"order_id": "9"}}
        payload = base64.b64encode(json.dumps(data).encode()).decode()
        # Exactly what switch's SDK sent: no Content-Type, lower-case bearer, base64 Payload.
        resp = harness.http_request("POST", self.hub.url("/publish"),
                                    body=json.dumps({"Topic": "orders.created", "Payload": payload}),
                                    headers={"Authorization": "bearer " + sign_token(self.jwt_secret)})
        self.assertEqual(resp.status, 200, resp)
        (req,) = self.rx.wait_for_requests("/legacy/9")
        self.assertEqual(verify_webhook(sub["secret"], req.headers, req.body), {"id": 9})

    def test_bad_token_raises_auth_error_unauthorized(self):
        for client in (Client(self.hub.url(""), token="not-a-jwt"),
                       Client(self.hub.url(""), jwt_secret="not-the-hubs-secret")):
            with self.subTest(client=client), self.assertRaises(AuthError) as cm:
                client.publish("orders.created", {})
            self.assertEqual((cm.exception.status, cm.exception.code), (401, "unauthorized"))
            self.assertTrue(cm.exception.message)
            client.close()

    def test_token_topics_claim_raises_auth_error_forbidden(self):
        limited = Client(self.hub.url(""), jwt_secret=self.jwt_secret, topics=["billing.*"])
        self.addCleanup(limited.close)
        self.assertEqual(limited.publish("billing.paid", {})["matched"], 0)
        with self.assertRaises(AuthError) as cm:
            limited.publish("orders.created", {})
        self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"))

    def test_wrong_admin_token_raises_auth_error(self):
        other = Client(self.hub.url(""), admin_token="wrong")
        self.addCleanup(other.close)
        with self.assertRaises(AuthError) as cm:
            other.list_subscribers()
        self.assertEqual(cm.exception.code, "unauthorized")

    def test_invalid_filter_raises_validation_error_pointing_at_it(self):
        with self.assertRaises(ValidationError) as cm:
            self.client.create_subscriber(topic="orders.created", filter="data.body.total >",
                                          target_url=self.rx.url("/x"))
        self.assertEqual((cm.exception.status, cm.exception.code), (400, "invalid_subscriber"))
        self.assertIn("filter", cm.exception.message)
        with self.assertRaises(ValidationError) as cm:
            self.client.publish("orders..created", {})
        self.assertEqual(cm.exception.code, "invalid_topic")

    def test_name_conflict_missing_subscriber_and_reserved_characters(self):
        self.client.create_subscriber(name="team:dup+eu@x", topic="a", target_url=self.rx.url("/a"))
        self.assertEqual(self.client.get_subscriber("team:dup+eu@x")["topic"], "a")
        with self.assertRaises(Conflict) as cm:
            self.client.create_subscriber(name="team:dup+eu@x", topic="b", target_url=self.rx.url("/b"))
        self.assertEqual(cm.exception.code, "conflict")
        with self.assertRaises(NotFound) as cm:
            self.client.get_subscriber("nobody")
        self.assertEqual((cm.exception.status, cm.exception.code), (404, "not_found"))

    def test_retry_after_a_lost_response_creates_no_duplicate(self):
        self.client.create_subscriber(topic="orders.created", target_url=self.rx.url("/once"))
        proxy = DropFirstResponseProxy(self.hub.port)
        self.addCleanup(proxy.stop)
        through_proxy = Client("http://127.0.0.1:%d" % proxy.port, jwt_secret=self.jwt_secret,
                               backoff=0.05)
        self.addCleanup(through_proxy.close)

        out = through_proxy.publish("orders.created", {"body": {"n": 1}})

        self.assertEqual(proxy.dropped, 1)
        self.assertEqual(len(proxy.keys), 2, "the client sent the publish again")
        self.assertEqual(proxy.keys[0], proxy.keys[1], "with the same Idempotency-Key")
        self.assertTrue(out.get("duplicate"), out)
        self.rx.wait_for_requests("/once")
        self.wait_for_job_state(out["id"], "delivered")
        time.sleep(0.5)   # time enough for a second delivery, were there one
        self.assertEqual(len(self.rx.requests("/once")), 1)
        self.assertEqual(len(self.client.get_event(out["id"])["jobs"]), 1)

    def test_explicit_idempotency_key_and_event_id_deduplicate(self):
        first = self.client.publish("a", {}, idempotency_key="key-1")
        again = self.client.publish("a", {}, idempotency_key="key-1")
        self.assertEqual(again["id"], first["id"])
        self.assertTrue(again.get("duplicate"))
        by_id = self.client.publish("a", {}, id="order-7")
        self.assertEqual(by_id["id"], "order-7")
        self.assertTrue(self.client.publish("a", {}, id="order-7").get("duplicate"))

    def test_subscriber_admin_round_trip(self):
        created = self.client.put_subscriber("seeded", topic="orders.#", target_url=self.rx.url("/s"))
        self.assertIn("secret", created)
        replaced = self.client.put_subscriber("seeded", topic="orders.*", target_url=self.rx.url("/s"))
        self.assertEqual((replaced["id"], replaced["topic"]), (created["id"], "orders.*"))
        patched = self.client.update_subscriber("seeded", filter="data.body.ok == true", max_attempts=3)
        self.assertEqual((patched["filter"], patched["max_attempts"], patched["topic"]),
                         ("data.body.ok == true", 3, "orders.*"))
        self.assertEqual([s["name"] for s in self.client.list_subscribers(topic="orders.created")], ["seeded"])
        self.assertEqual(self.client.list_subscribers(topic="billing.paid"), [])
        self.assertEqual(self.client.get_subscriber(created["id"])["name"], "seeded")

        self.assertEqual(self.client.test_filter("data.body.ok == true", {"body": {"ok": True}}), {"match": True})
        broken = self.client.test_filter("data.body.ok ==", {})
        self.assertFalse(broken["match"])
        self.assertTrue(broken["error"])
        (why,) = self.client.match("orders.created", {"body": {"ok": False}})
        self.assertEqual((why["name"], why["topic_match"], why["filter_match"], why["receives"]),
                         ("seeded", True, False, False))

        rotated = self.client.rotate_secret("seeded")
        self.assertNotEqual(rotated["secret"], created["secret"])
        # Workers pick the new secret up within SWITCHYARD_REFRESH_MS, so publish until a delivery
        # carries it; every delivery, before and after, still verifies with the old one.
        old_secret_checks = []

        def delivery_signed_with_new_secret():
            seen = len(self.rx.requests("/s"))
            self.client.publish("orders.created", {"body": {"ok": True}})
            req = self.rx.wait_for_requests("/s", count=seen + 1)[seen]
            old_secret_checks.append(verify_webhook(created["secret"], req.headers, req.body))
            try:
                return verify_webhook(rotated["secret"], req.headers, req.body)
            except WebhookVerificationError:
                return None
        body = harness.wait_for(delivery_signed_with_new_secret, timeout=10, interval=0.1,
                                message="a delivery signed with the rotated secret")
        self.assertEqual(body, {"ok": True})
        self.assertEqual(old_secret_checks, [{"ok": True}] * len(old_secret_checks),
                         "the old secret keeps signing during the grace period")

        self.assertIsNone(self.client.delete_subscriber("seeded"))
        with self.assertRaises(NotFound):
            self.client.get_subscriber("seeded")

    def test_dead_letters_list_replay_and_delete(self):
        self.rx.on("/dead", harness.Reply(500), harness.Reply(500))
        sub = self.client.create_subscriber(topic="jobs.run", target_url=self.rx.url("/dead"), max_attempts=1)
        first = self.client.publish("jobs.run", {"body": {"n": 1}})
        second = self.client.publish("jobs.run", {"body": {"n": 2}})
        self.wait_for_job_state(first["id"], "dead")
        self.wait_for_job_state(second["id"], "dead")

        page = self.client.list_dead(subscriber=sub["id"], limit=1)
        self.assertEqual(len(page["items"]), 1)
        self.assertTrue(page["next_cursor"])
        # Both were delivered concurrently, so either may have died first.
        dead = {d["event_id"]: d for d in self.client.iter_dead(subscriber=sub["id"], page_size=1)}
        self.assertEqual(sorted(dead), sorted([first["id"], second["id"]]))
        self.assertEqual(dead[first["id"]]["last_status"], 500)

        self.assertEqual(self.client.replay_dead(dead[first["id"]]["job_id"]), 1)
        self.wait_for_job_state(first["id"], "delivered")
        self.assertIsNone(self.client.delete_dead(dead[second["id"]]["job_id"]))
        with self.assertRaises(NotFound):
            self.client.delete_dead(dead[second["id"]]["job_id"])
        self.assertEqual(self.client.replay_dead_range(subscriber_id=sub["id"]), 0)
        self.assertEqual(self.client.list_dead(subscriber=sub["id"])["items"], [])


if __name__ == "__main__":
    unittest.main()
