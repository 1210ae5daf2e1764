"""Where a worker may send a request: the optional deny list for loopback, private and link-local
targets (SWITCHYARD_DENY_PRIVATE_TARGETS, off by default, applied to the address actually connected
to), redirects never followed, and http(s) the only schemes a subscriber may name.

Every target here is on this machine: with the deny list on, the worker refuses loopback addresses
before it connects, so nothing is sent anywhere."""
import time
import unittest

from harness import Reply, SwitchyardCase, wait_for

GOOD_DATA = {"body": {"id": 7}}


class DenyListTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.rx = self.start_receiver()

    def publish(self, topic):
        resp = self.hub.publish(topic, GOOD_DATA)
        self.assertEqual(resp.status, 202, resp)
        self.assertEqual(resp.json["matched"], 1, resp)
        return resp.json["id"]

    def test_deny_list_refuses_loopback_targets_without_connecting(self):
        self.start_worker(SWITCHYARD_DENY_PRIVATE_TARGETS=1)
        port = self.rx.port
        targets = {
            "127.0.0.1": ("http://127.0.0.1:%d/denied" % port, ("127.0.0.1",)),
            "localhost": ("http://localhost:%d/denied" % port, ("127.0.0.1", "::1")),
            "127.0.0.2": ("http://127.0.0.2:%d/denied" % port, ("127.0.0.2",)),
            "[::1]": ("http://[::1]:%d/denied" % port, ("::1",)),
            "IPv4-mapped [::ffff:127.0.0.1]": ("http://[::ffff:127.0.0.1]:%d/denied" % port, ("127.0.0.1",)),
            "https to 127.0.0.1": ("https://127.0.0.1:%d/denied" % port, ("127.0.0.1",)),
        }
        for i, (label, (url, addresses)) in enumerate(targets.items()):
            with self.subTest(target=label):
                topic = "deny.t%d" % i
                self.create_subscriber(self.hub, name="deny-%d" % i, topic=topic, target_url=url)
                event_id = self.publish(topic)
                job = self.wait_for_job_state(self.hub, event_id, "dead", timeout=15)
                self.assertEqual(len(job["attempts"]), 1, job)   # policy, not a fault: never retried
                error = job["attempts"][0]["error"] or ""
                self.assertIn("loopback", error, job)
                self.assertTrue(any(a in error for a in addresses), job)
        time.sleep(0.5)   # a delivery that slipped through would have arrived by now
        self.assertEqual(self.rx.requests(), [], "a denied target received a request")
        dead = self.hub.admin("GET", "/v1/dead")
        self.assertEqual(dead.status, 200, dead)
        self.assertEqual(len(dead.json["items"]), len(targets), dead)
        for item in dead.json["items"]:
            self.assertIn("loopback", item["last_error"] or "", item)

    def test_without_the_deny_list_loopback_delivery_succeeds(self):
        self.start_worker()    # the setting is off by default
        self.create_subscriber(self.hub, name="local", topic="deny.off", target_url=self.rx.url("/allowed"))
        event_id = self.publish("deny.off")
        job = self.wait_for_job_state(self.hub, event_id, "delivered", timeout=15)
        self.assertEqual(job["attempts"][-1]["status"], 200, job)
        reqs = self.rx.wait_for_requests("/allowed", count=1)
        self.assertEqual(reqs[0].json(), GOOD_DATA["body"])

    def test_deny_list_explicitly_off_delivers_to_loopback(self):
        self.start_worker(SWITCHYARD_DENY_PRIVATE_TARGETS=0)
        self.create_subscriber(self.hub, name="local", topic="deny.zero", target_url=self.rx.url("/zero"))
        event_id = self.publish("deny.zero")
        self.wait_for_job_state(self.hub, event_id, "delivered", timeout=15)
        self.rx.wait_for_requests("/zero", count=1)

    def test_redirects_are_never_followed(self):
        self.start_worker()
        for status in (301, 302, 303, 307, 308):
            with self.subTest(status=status):
                route, landing = "/redirect-%d" % status, "/landing-%d" % status
                self.rx.on(route, then=Reply(status, headers={"Location": self.rx.url(landing)}))
                topic = "redirect.s%d" % status
                self.create_subscriber(self.hub, name="redirect-%d" % status, topic=topic,
                                       target_url=self.rx.url(route), max_attempts=1)
                event_id = self.publish(topic)
                job = self.wait_for_job_state(self.hub, event_id, "dead", timeout=15)
                self.assertEqual([a["status"] for a in job["attempts"]], [status], job)
                self.assertEqual(len(self.rx.requests(route)), 1)
        time.sleep(0.5)   # a followed redirect would have arrived by now
        landed = [r for r in self.rx.requests() if r.route.startswith("/landing")]
        self.assertEqual(landed, [], "a redirect was followed")

    def test_only_http_and_https_targets_are_accepted(self):
        base = {"topic": "orders.#"}
        refused = ["file:///etc/passwd", "gopher://x", "ftp://x", "ftp://127.0.0.1/x", "dict://127.0.0.1:11211/",
                   "ldap://x/", "scp://x/", "telnet://x", "javascript:alert(1)", "data:text/plain,x",
                   "http:/x", "https:x", "//x/y", "x", "", "httpx://x/", "http//x/", " http://x/"]
        for url in refused:
            with self.subTest(method="POST", target_url=url):
                resp = self.hub.admin("POST", "/v1/subscribers", dict(base, target_url=url))
                err = self.assertError(resp, 400, "invalid_subscriber")
                self.assertIn("target_url", err["message"])
        sub = self.create_subscriber(self.hub, name="ok", topic="orders.#", target_url="http://127.0.0.1:9/")
        for url in ("file:///etc/passwd", "gopher://x", "ftp://x"):
            with self.subTest(method="PATCH", target_url=url):
                resp = self.hub.admin("PATCH", "/v1/subscribers/ok", {"target_url": url})
                self.assertError(resp, 400, "invalid_subscriber")
            with self.subTest(method="PUT", target_url=url):
                resp = self.hub.admin("PUT", "/v1/subscribers/ok", dict(base, target_url=url))
                self.assertError(resp, 400, "invalid_subscriber")
        got = self.hub.admin("GET", "/v1/subscribers/ok")
        self.assertEqual(got.json["target_url"], sub["target_url"])
        for url in ("http://127.0.0.1:9/", "https://127.0.0.1:9/", "HTTP://127.0.0.1:9/x", "HTTPS://h/"):
            with self.subTest(accepted=url):
                resp = self.hub.admin("POST", "/v1/subscribers", dict(base, target_url=url))
                self.assertEqual(resp.status, 201, resp)
        names = [s["name"] for s in self.hub.admin("GET", "/v1/subscribers").json["subscribers"]]
        self.assertEqual(len(names), 5, names)


if __name__ == "__main__":
    unittest.main()
