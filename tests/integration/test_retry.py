"""What each delivery outcome leads to: retries with a stable webhook-id, dead letters after
max_attempts, discard codes, success codes, 410 Gone, Retry-After, redirects, connection errors, and
replaying or deleting dead letters."""
import datetime
import time
import unittest
import urllib.parse

from harness import Reply, SwitchyardCase, free_port, verify_webhook, wait_for

FAST = {"retry_delays_ms": [200]}
QUIET_S = 1.5


class RetryTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.worker = self.start_worker()
        self.rx = self.start_receiver()

    def subscribe(self, route, **fields):
        return self.create_subscriber(self.hub, **dict(FAST, name=route.strip("/"), topic="jobs.test",
                                                       target_url=self.rx.url(route), **fields))

    def publish(self):
        resp = self.hub.publish("jobs.test", {"body": {"n": 1}})
        self.assertEqual(resp.status, 202, resp)
        return resp.json["id"]

    def dead_items(self, **query):
        resp = self.hub.admin("GET", "/v1/dead?" + urllib.parse.urlencode(query))
        self.assertEqual(resp.status, 200, resp)
        return resp.json["items"]

    def wait_for_dead_jobs(self, event_id, n):
        wait_for(lambda: [j["state"] for j in self.event_jobs(self.hub, event_id)] == ["dead"] * n,
                 message="%d dead jobs" % n)

    def assertNoMoreRequests(self, route, count):
        time.sleep(QUIET_S)
        self.assertEqual(len(self.rx.requests(route)), count, self.rx.requests(route))

    # retries ----------------------------------------------------------------------------------------

    def test_failed_delivery_is_retried_until_it_succeeds(self):
        self.rx.on("/flaky", Reply(500), Reply(500), then=Reply(200))
        sub = self.subscribe("/flaky", max_attempts=5)
        event_id = self.publish()
        reqs = self.rx.wait_for_requests("/flaky", count=3)
        self.assertEqual([r.headers["switchyard-attempt"] for r in reqs], ["1", "2", "3"])
        self.assertEqual(len({r.headers["webhook-id"] for r in reqs}), 1, "webhook-id changed between attempts")
        for r in reqs:
            self.assertTrue(verify_webhook(sub["secret"], r.headers, r.body))
        job = self.wait_for_job_state(self.hub, event_id, "delivered")
        self.assertEqual([a["status"] for a in job["attempts"]], [500, 500, 200])
        self.assertNoMoreRequests("/flaky", 3)

    def test_retry_delays_are_respected(self):
        self.rx.on("/slowretry", Reply(500), then=Reply(200))
        self.subscribe("/slowretry", retry_delays_ms=[1000])
        self.publish()
        first, second = self.rx.wait_for_requests("/slowretry", count=2)
        self.assertGreaterEqual(second.time - first.time, 0.9)

    def test_retry_after_on_429_is_honoured(self):
        self.rx.on("/busy", Reply(429, headers={"Retry-After": "2"}), then=Reply(200))
        self.subscribe("/busy", retry_delays_ms=[100])
        self.publish()
        first, second = self.rx.wait_for_requests("/busy", count=2)
        self.assertGreaterEqual(second.time - first.time, 1.8)

    def test_connection_error_is_retried_and_recorded(self):
        sub = self.create_subscriber(self.hub, **dict(FAST, topic="jobs.test", max_attempts=2,
                                                      target_url="http://127.0.0.1:%d/x" % free_port()))
        job = self.wait_for_job_state(self.hub, self.publish(), "dead")
        self.assertEqual(len(job["attempts"]), 2, job)
        for attempt in job["attempts"]:
            self.assertTrue(attempt.get("error"), attempt)
        self.assertEqual(self.dead_items()[0]["subscriber_id"], sub["id"])

    # dead letters -----------------------------------------------------------------------------------

    def test_job_is_dead_lettered_after_max_attempts(self):
        self.rx.on("/down", then=Reply(500))
        sub = self.subscribe("/down", max_attempts=3)
        event_id = self.publish()
        reqs = self.rx.wait_for_requests("/down", count=3)
        job = self.wait_for_job_state(self.hub, event_id, "dead")
        self.assertEqual(len(job["attempts"]), 3, job)
        items = self.dead_items()
        self.assertEqual(len(items), 1, items)
        item = items[0]
        self.assertEqual(item["job_id"], reqs[0].headers["webhook-id"])
        self.assertEqual(item["job_id"], job["job_id"])
        self.assertEqual(item["event_id"], event_id)
        self.assertEqual(item["subscriber_id"], sub["id"])
        self.assertEqual(item["attempts"], 3)
        self.assertEqual(item["last_status"], 500)
        self.assertIn("dead_at", item)
        self.assertNoMoreRequests("/down", 3)

    def test_dead_letters_can_be_listed_per_subscriber(self):
        self.rx.on("/down-a", then=Reply(500))
        self.rx.on("/down-b", then=Reply(500))
        a = self.subscribe("/down-a", max_attempts=1)
        self.subscribe("/down-b", max_attempts=1)
        self.wait_for_dead_jobs(self.publish(), 2)
        items = self.dead_items(subscriber=a["id"])
        self.assertEqual([i["subscriber_id"] for i in items], [a["id"]])

    def test_dead_letter_replay_delivers_with_the_same_webhook_id(self):
        self.rx.on("/later", Reply(500), then=Reply(200))
        self.subscribe("/later", max_attempts=1)
        event_id = self.publish()
        job = self.wait_for_job_state(self.hub, event_id, "dead")
        resp = self.hub.admin("POST", "/v1/dead/%s/replay" % job["job_id"])
        self.assertEqual(resp.status // 100, 2, resp)
        first, again = self.rx.wait_for_requests("/later", count=2)
        self.assertEqual(again.headers["webhook-id"], first.headers["webhook-id"])
        self.wait_for_job_state(self.hub, event_id, "delivered")
        self.assertEqual(self.dead_items(), [])

    def test_dead_letters_of_a_subscriber_can_be_replayed_in_bulk(self):
        self.rx.on("/bulk", Reply(500), Reply(500), then=Reply(200))
        sub = self.subscribe("/bulk", max_attempts=1)
        self.publish()
        self.publish()
        wait_for(lambda: len(self.dead_items()) == 2, message="two dead letters")
        now = datetime.datetime.now(datetime.timezone.utc)
        since = (now - datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        until = (now + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        resp = self.hub.admin("POST", "/v1/dead/replay", {"subscriber_id": sub["id"], "since": since,
                                                           "until": until})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["replayed"], 2)
        self.rx.wait_for_requests("/bulk", count=4)

    def test_dead_letter_can_be_deleted(self):
        self.rx.on("/gone-for-good", then=Reply(500))
        self.subscribe("/gone-for-good", max_attempts=1)
        job = self.wait_for_job_state(self.hub, self.publish(), "dead")
        resp = self.hub.admin("DELETE", "/v1/dead/" + job["job_id"])
        self.assertEqual(resp.status // 100, 2, resp)
        self.assertEqual(self.dead_items(), [])

    # status lists -----------------------------------------------------------------------------------

    def test_discard_code_is_recorded_and_not_retried(self):
        self.rx.on("/picky", then=Reply(422))
        self.subscribe("/picky", discard_codes=[422])
        job = self.wait_for_job_state(self.hub, self.publish(), "discarded")
        self.assertEqual([a["status"] for a in job["attempts"]], [422])
        self.assertEqual(self.dead_items(), [])
        self.assertNoMoreRequests("/picky", 1)

    def test_status_outside_success_codes_is_retried(self):
        self.rx.on("/strict", then=Reply(200))
        self.subscribe("/strict", success_codes=[202], max_attempts=2)
        self.publish()
        reqs = self.rx.wait_for_requests("/strict", count=2)
        self.assertEqual(reqs[1].headers["switchyard-attempt"], "2")

    def test_status_in_success_codes_completes(self):
        self.rx.on("/accepting", then=Reply(202))
        self.subscribe("/accepting", success_codes=[202])
        job = self.wait_for_job_state(self.hub, self.publish(), "delivered")
        self.assertEqual([a["status"] for a in job["attempts"]], [202])

    def test_redirect_is_not_followed(self):
        self.rx.on("/moved", then=Reply(302, headers={"Location": self.rx.url("/elsewhere")}))
        self.subscribe("/moved", max_attempts=1)
        job = self.wait_for_job_state(self.hub, self.publish(), "dead")
        self.assertEqual([a["status"] for a in job["attempts"]], [302])
        self.assertEqual(self.rx.requests("/elsewhere"), [])

    def test_gone_disables_the_subscriber_until_re_enabled(self):
        self.rx.on("/retired", Reply(410), then=Reply(200))
        sub = self.subscribe("/retired")
        job = self.wait_for_job_state(self.hub, self.publish(), "gone")
        self.assertEqual(len(job["attempts"]), 1)
        got = self.hub.admin("GET", "/v1/subscribers/" + sub["id"]).json
        self.assertIs(got["enabled"], False)
        time.sleep(1.2)  # changes reach every hub within one second
        self.publish()
        self.assertNoMoreRequests("/retired", 1)
        resp = self.hub.admin("PATCH", "/v1/subscribers/" + sub["id"], {"enabled": True})
        self.assertEqual(resp.status, 200, resp)
        time.sleep(1.2)  # changes reach every hub within one second
        self.wait_for_job_state(self.hub, self.publish(), "delivered")


if __name__ == "__main__":
    unittest.main()
