"""End to end: publish to the hub, a worker delivers to a real receiver the request the contract
describes (URL, method, headers, body, Standard Webhooks signature), and only to matching subscribers."""
import base64
import datetime
import json
import time
import unittest

from harness import SwitchyardCase, verify_webhook

ORDER = {"body": {"id": 7, "total": 120}, "headers": {"x-tenant": "acme"}, "query_params": {"v": "2"},
         "path_params": {"order_id": "7 a/b"}, "http_method": "put"}
ORDER_ROUTE = "/hooks/7%20a%2Fb"
QUIET_S = 1.5     # how long "nothing arrives" is watched


def with_total(total):
    return dict(ORDER, body={"id": 8, "total": total})


class DeliveryTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.worker = self.start_worker()
        self.rx = self.start_receiver()
        self.sub = self.subscribe(name="big-orders", headers={"x-sub": "1"})

    def subscribe(self, **fields):
        base = {"topic": "orders.*", "filter": "data.body.total > 100",
                "target_url": self.rx.url("/hooks/:order_id")}
        return self.create_subscriber(self.hub, **dict(base, **fields))

    def publish(self, data=ORDER, topic="orders.created", **fields):
        resp = self.hub.publish(topic, data, **fields)
        self.assertEqual(resp.status, 202, resp)
        return resp.json

    def deliver(self, data=ORDER, route=ORDER_ROUTE):
        """Publishes data and returns (event, the one request the receiver got on route)."""
        event = self.publish(data)
        return event, self.rx.wait_for_requests(route)[0]

    def assertNothingArrives(self, route=None):
        time.sleep(QUIET_S)
        self.assertEqual(self.rx.requests(route), [])

    # the delivered request --------------------------------------------------------------------------

    def test_url_method_and_body_follow_the_event(self):
        _, req = self.deliver()
        self.assertEqual(req.method, "PUT")
        self.assertEqual(req.path, ORDER_ROUTE + "?v=2")
        self.assertEqual(req.json(), {"id": 7, "total": 120})

    def test_event_is_delivered_exactly_once(self):
        self.deliver()
        time.sleep(QUIET_S)
        self.assertEqual(len(self.rx.requests()), 1, self.rx.requests())

    def test_headers_carry_event_and_subscriber_headers_and_switchyard_headers(self):
        _, req = self.deliver()
        h = req.headers
        self.assertEqual(h.get("x-tenant"), "acme")
        self.assertEqual(h.get("x-sub"), "1")
        self.assertTrue(h.get("content-type", "").startswith("application/json"), h)
        self.assertTrue(h.get("user-agent", "").startswith("switchyard/"), h)
        self.assertEqual(h.get("switchyard-topic"), "orders.created")
        self.assertEqual(h.get("switchyard-attempt"), "1")

    def test_subscriber_headers_override_event_headers(self):
        _, req = self.deliver(dict(ORDER, headers={"x-sub": "from-event", "x-tenant": "acme"}))
        self.assertEqual(req.headers.get("x-sub"), "1")
        self.assertEqual(req.headers.get("x-tenant"), "acme")

    def test_request_is_signed_with_standard_webhooks_headers(self):
        _, req = self.deliver()
        self.assertTrue(req.headers["webhook-id"].startswith("job_"), req.headers)
        self.assertLess(abs(int(req.headers["webhook-timestamp"]) - time.time()), 60)
        self.assertTrue(verify_webhook(self.sub["secret"], req.headers, req.body), req.headers)
        self.assertFalse(verify_webhook("whsec_" + base64.b64encode(b"x" * 24).decode(), req.headers, req.body))

    # who receives -----------------------------------------------------------------------------------

    def test_event_not_matching_the_filter_is_not_delivered(self):
        event = self.publish(with_total(50))
        self.assertEqual(event["matched"], 0)
        self.assertNothingArrives()

    def test_changed_filter_applies_to_the_next_event_and_others_keep_theirs(self):
        other = self.subscribe(name="small-orders", filter="data.body.total < 100")
        self.assertEqual(self.publish(with_total(50))["matched"], 1)     # small-orders only
        resp = self.hub.admin("PATCH", "/v1/subscribers/" + self.sub["id"], {"filter": "data.body.total < 60"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.publish(with_total(50))["matched"], 2)     # both now
        self.assertEqual(self.publish(with_total(150))["matched"], 0)    # neither
        self.hub.admin("PATCH", "/v1/subscribers/" + other["id"], {"filter": "data.x.y.z ~= nil"})
        self.assertEqual(self.publish(with_total(50))["matched"], 1)     # big-orders' new filter kept

    def test_subscriber_on_another_topic_gets_nothing(self):
        self.subscribe(name="payments", topic="payments.*", filter="", target_url=self.rx.url("/payments"))
        self.deliver()
        self.assertNothingArrives("/payments")

    def test_each_matching_subscriber_gets_its_own_delivery(self):
        other = self.subscribe(name="all-orders", topic="orders.#", filter="", target_url=self.rx.url("/all"))
        event = self.publish()
        self.assertEqual(event["matched"], 2)
        mine = self.rx.wait_for_requests(ORDER_ROUTE)[0]
        theirs = self.rx.wait_for_requests("/all")[0]
        self.assertNotEqual(mine.headers["webhook-id"], theirs.headers["webhook-id"])
        self.assertTrue(verify_webhook(self.sub["secret"], mine.headers, mine.body))
        self.assertTrue(verify_webhook(other["secret"], theirs.headers, theirs.body))

    def test_switch_expression_filter_works_verbatim(self):
        self.subscribe(name="switch", target_url=self.rx.url("/switch"),
                       filter='data["body"]["id"] == 7 and data["headers"]["x-tenant"] == "acme" '
                              'or data["special_key"] == "special value"')
        self.deliver(route="/switch")
        self.publish(dict(ORDER, body={"id": 8, "total": 500}))
        self.publish({"special_key": "special value", "body": {"total": 1}})
        self.rx.wait_for_requests("/switch", count=2)
        time.sleep(QUIET_S)
        self.assertEqual(len(self.rx.requests("/switch")), 2)

    # request shape options --------------------------------------------------------------------------

    def test_envelope_wraps_the_whole_event(self):
        sub = self.subscribe(name="enveloped", envelope=True, target_url=self.rx.url("/env"))
        event, req = self.deliver(route="/env")
        body = req.json()
        self.assertEqual(set(body), {"id", "topic", "timestamp", "attempt", "data"})
        self.assertEqual(body["id"], event["id"])
        self.assertEqual(body["topic"], "orders.created")
        self.assertEqual(body["attempt"], 1)
        self.assertEqual(body["data"], ORDER)
        self.assertRegex(body["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
        published = datetime.datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
        self.assertLess(abs(published.timestamp() - time.time()), 60)
        self.assertTrue(verify_webhook(sub["secret"], req.headers, req.body))

    def test_subscriber_method_overrides_event_method(self):
        self.subscribe(name="patcher", method="PATCH", target_url=self.rx.url("/patch"))
        _, req = self.deliver(route="/patch")
        self.assertEqual(req.method, "PATCH")

    def test_default_method_is_post(self):
        data = {k: v for k, v in ORDER.items() if k != "http_method"}
        _, req = self.deliver(data)
        self.assertEqual(req.method, "POST")

    def test_missing_body_is_sent_as_empty_object(self):
        self.subscribe(name="nobody", filter="", target_url=self.rx.url("/nobody"))
        self.publish({"x": 1})
        self.assertEqual(self.rx.wait_for_requests("/nobody")[0].json(), {})

    def test_switch_format_publish_is_delivered(self):
        data = dict(ORDER, path_params={"order_id": "9"})
        payload = base64.b64encode(json.dumps(data).encode()).decode()
        resp = self.hub.request("POST", "/publish", body=json.dumps({"Topic": "orders.created", "Payload": payload}),
                                headers={"Authorization": "bearer " + self.hub.token()})
        self.assertEqual(resp.status, 200, resp)
        req = self.rx.wait_for_requests("/hooks/9")[0]
        self.assertEqual(req.json(), ORDER["body"])

    # timing -----------------------------------------------------------------------------------------

    def test_deliver_at_delays_delivery(self):
        due = int(time.time()) + 3
        stamp = datetime.datetime.fromtimestamp(due, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.publish(deliver_at=stamp)
        req = self.rx.wait_for_requests(ORDER_ROUTE, timeout=12)[0]
        self.assertGreaterEqual(req.time, due - 0.5)

    def test_ttl_expires_an_undelivered_job(self):
        due = int(time.time()) + 3
        stamp = datetime.datetime.fromtimestamp(due, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = self.publish(deliver_at=stamp, ttl=1)
        job = self.wait_for_job_state(self.hub, event["id"], "expired", timeout=12)
        self.assertEqual(job.get("attempts", []), [])
        self.assertEqual(self.rx.requests(), [])

    def test_ttl_expires_the_job_of_a_subscriber_disabled_after_the_publish(self):
        due = int(time.time()) + 3
        stamp = datetime.datetime.fromtimestamp(due, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = self.publish(deliver_at=stamp, ttl=1)
        resp = self.hub.admin("PATCH", "/v1/subscribers/" + self.sub["id"], {"enabled": False})
        self.assertEqual(resp.status, 200, resp)
        job = self.wait_for_job_state(self.hub, event["id"], "expired", timeout=12)
        self.assertEqual(job.get("attempts", []), [])
        self.assertEqual(self.rx.requests(), [])

    # history ----------------------------------------------------------------------------------------

    def test_event_history_shows_the_delivered_job(self):
        event, req = self.deliver()
        job = self.wait_for_job_state(self.hub, event["id"], "delivered")
        self.assertEqual(job["job_id"], req.headers["webhook-id"])
        self.assertEqual(job["subscriber_id"], self.sub["id"])
        self.assertEqual(len(job["attempts"]), 1, job)
        self.assertEqual(job["attempts"][0]["status"], 200)
        whole = self.hub.admin("GET", "/v1/events/" + event["id"]).json
        self.assertEqual(whole["id"], event["id"])
        self.assertEqual(whole["topic"], "orders.created")
        self.assertIn("published_at", whole)

    def test_history_written_by_an_older_version_still_reads_in_order(self):
        # Switchyard 0.2.0 kept every attempt as a JSON object in the job's :log list; now the first
        # attempt lives in the job's hash and later ones in the list as "at_ms,status,latency_ms,error".
        # A job retried across an upgrade has both, and its history must read oldest first.
        self.worker.process.stop()
        event = self.publish()
        job = self.assert_pending_before_any_attempt(event)
        key = "%s:job:%s" % (self.prefix, job["job_id"])
        now_ms = int(time.time() * 1000)
        self.redis.cmd("RPUSH", key + ":log",
                       json.dumps({"at": "2020-01-02T03:04:05.006Z", "status": 500, "latency_ms": 7,
                                   "error": "HTTP 500"}),
                       "%d,0,12,Failed to connect, twice, to the receiver" % (now_ms - 1000))
        self.start_worker()
        job = self.wait_for_job_state(self.hub, event["id"], "delivered")
        old, compact, new = job["attempts"]
        self.assertEqual(old, {"at": "2020-01-02T03:04:05.006Z", "status": 500, "latency_ms": 7,
                               "error": "HTTP 500"})
        self.assertEqual(compact["status"], None)
        self.assertEqual(compact["latency_ms"], 12)
        self.assertEqual(compact["error"], "Failed to connect, twice, to the receiver")
        self.assertLess(compact["at"], new["at"])
        self.assertEqual((new["status"], new["error"]), (200, None), new)
        self.assertRegex(new["at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

    def assert_pending_before_any_attempt(self, event):
        jobs = self.event_jobs(self.hub, event["id"])
        self.assertEqual(len(jobs), 1, jobs)
        self.assertTrue(jobs[0]["job_id"], jobs)
        self.assertEqual(jobs[0]["subscriber_id"], self.sub["id"])
        self.assertEqual(jobs[0]["state"], "pending")
        self.assertEqual(jobs[0]["attempts"], [])
        return jobs[0]

    def test_event_history_shows_a_job_no_worker_has_taken_as_pending(self):
        self.worker.process.stop()
        event = self.publish()
        job = self.assert_pending_before_any_attempt(event)
        self.start_worker(name="later-worker")
        req = self.rx.wait_for_requests(ORDER_ROUTE)[0]
        self.assertEqual(req.headers["webhook-id"], job["job_id"])
        self.wait_for_job_state(self.hub, event["id"], "delivered")

    def test_event_history_shows_a_job_waiting_for_deliver_at_as_pending(self):
        stamp = datetime.datetime.fromtimestamp(int(time.time()) + 600, datetime.timezone.utc)
        self.assert_pending_before_any_attempt(self.publish(deliver_at=stamp.strftime("%Y-%m-%dT%H:%M:%SZ")))

    def test_unknown_event_is_404(self):
        self.assertError(self.hub.admin("GET", "/v1/events/evt_doesnotexist"), 404, "not_found")


if __name__ == "__main__":
    unittest.main()
