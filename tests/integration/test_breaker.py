"""The per-subscriber circuit breaker: consecutive failures open the circuit, jobs behind an open
circuit are parked without spending attempts, one probe per probe interval tests the endpoint, a
successful probe closes the circuit and every parked job is delivered; other subscribers are not held
back meanwhile. The worker runs with SWITCHYARD_BREAKER_FAILURES=3 and SWITCHYARD_BREAKER_PROBE_MS=500.

Assertions are on counts and states; the one rate check compares the hits seen in a window with what
the subscriber's own 100 ms retry schedule would give, with a wide margin."""
import re
import sys
import time
import unittest

from harness import Reply, SwitchyardCase, wait_for

TOPIC = "breaker.test"
FAILURES = 3
PROBE_MS = 500
WINDOW_S = 2.0
PARKED_EVENTS = 5


class BreakerTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.worker = self.start_worker(SWITCHYARD_BREAKER_FAILURES=FAILURES,
                                        SWITCHYARD_BREAKER_PROBE_MS=PROBE_MS)
        self.rx = self.start_receiver()

    def publish(self, n):
        resp = self.hub.publish(TOPIC, {"body": {"n": n}})
        self.assertEqual(resp.status, 202, resp)
        return resp.json["id"]

    def circuit(self, sub_id):
        resp = self.hub.admin("GET", "/v1/subscribers/" + sub_id)
        self.assertEqual(resp.status, 200, resp)
        self.assertNotIn("secret", resp.json)
        return resp.json["circuit"]

    def circuits_open(self):
        resp = self.hub.request("GET", "/metrics")
        self.assertEqual(resp.status, 200, resp)
        m = re.search(r"^switchyard_circuits_open (\d+)$", resp.text, re.MULTILINE)
        self.assertIsNotNone(m, "no switchyard_circuits_open in hub /metrics")
        return int(m.group(1))

    def jobs_of(self, event_id, sub_id):
        return [j for j in self.event_jobs(self.hub, event_id) if j["subscriber_id"] == sub_id]

    def test_circuit_opens_parks_jobs_probes_and_closes(self):
        self.rx.on("/down", then=Reply(500))
        down = self.create_subscriber(self.hub, name="down", topic=TOPIC, target_url=self.rx.url("/down"),
                                      retry_delays_ms=[100], max_attempts=50)
        healthy = self.create_subscriber(self.hub, name="healthy", topic=TOPIC,
                                         target_url=self.rx.url("/healthy"))
        self.assertEqual(self.circuit(down["id"])["state"], "closed")
        self.assertEqual(self.circuits_open(), 0)

        first = self.publish(0)
        self.rx.wait_for_requests("/down", count=FAILURES)
        circuit = wait_for(lambda: (lambda c: c if c["state"] in ("open", "half_open") else None)(
            self.circuit(down["id"])), message="the circuit to open")
        self.assertGreaterEqual(circuit["failures"], FAILURES, circuit)
        self.assertIn("probe_at", circuit)
        wait_for(lambda: self.circuits_open() == 1, message="switchyard_circuits_open 1")

        # Jobs published while the circuit is open are parked: the endpoint sees at most one probe per
        # probe interval (the interval doubles after each failed probe), not the 100 ms retry schedule,
        # which would give ~20 hits per job per second.
        events = [self.publish(n) for n in range(1, PARKED_EVENTS + 1)]
        before = len(self.rx.requests("/down"))
        time.sleep(WINDOW_S)
        hits = len(self.rx.requests("/down")) - before
        print("\nbreaker: %d requests in %.1f s through an open circuit (probe interval %d ms, doubling)"
              % (hits, WINDOW_S, PROBE_MS), file=sys.stderr)
        self.assertLessEqual(hits, 2 + int(WINDOW_S * 1000 / PROBE_MS),
                             "an open circuit let %d requests through in %.1f s" % (hits, WINDOW_S))
        self.assertIn(self.circuit(down["id"])["state"], ("open", "half_open"))
        self.assertEqual(self.circuits_open(), 1)

        # Parked jobs burn no attempts: only the probes, at most one each, count.
        attempts = {e: len(self.jobs_of(e, down["id"])[0]["attempts"]) for e in events}
        self.assertLessEqual(sum(attempts.values()), hits + 1, attempts)
        for e in events:
            job = self.jobs_of(e, down["id"])[0]
            self.assertIn(job["state"], ("pending", "delivering", "retrying"), job)

        # The healthy subscriber got every event meanwhile.
        self.rx.wait_for_requests("/healthy", count=1 + PARKED_EVENTS)
        for e in [first] + events:
            self.wait_for_job_state_of(e, healthy["id"], "delivered")
        self.assertIn(self.circuit(down["id"])["state"], ("open", "half_open"))

        # The endpoint recovers: a probe succeeds, the circuit closes, every parked job is delivered.
        self.rx.on("/down", then=Reply(200))
        for e in [first] + events:
            self.wait_for_job_state_of(e, down["id"], "delivered")
        circuit = self.circuit(down["id"])
        self.assertEqual(circuit["state"], "closed", circuit)
        wait_for(lambda: self.circuits_open() == 0, message="switchyard_circuits_open 0")
        webhook_ids = {r.headers["webhook-id"] for r in self.rx.requests("/down") if r.answered}
        expected = {self.jobs_of(e, down["id"])[0]["job_id"] for e in [first] + events}
        self.assertLessEqual(expected, webhook_ids)
        self.assertEqual(self.hub.admin("GET", "/v1/dead").json["items"], [])

    def test_success_resets_the_failure_count(self):
        # Fewer consecutive failures than the threshold, then a success, then again: never opens.
        self.rx.on("/wobbly", Reply(500), Reply(500), Reply(200), Reply(500), Reply(500), then=Reply(200))
        sub = self.create_subscriber(self.hub, name="wobbly", topic=TOPIC, target_url=self.rx.url("/wobbly"),
                                     retry_delays_ms=[100], max_attempts=10, max_in_flight=1)
        a = self.publish(1)
        self.wait_for_job_state_of(a, sub["id"], "delivered")
        b = self.publish(2)
        self.wait_for_job_state_of(b, sub["id"], "delivered")
        self.assertEqual(len(self.rx.requests("/wobbly")), 6)
        circuit = self.circuit(sub["id"])
        self.assertEqual(circuit["state"], "closed", circuit)
        self.assertEqual(self.circuits_open(), 0)

    def wait_for_job_state_of(self, event_id, sub_id, state, timeout=15.0):
        def check():
            jobs = self.jobs_of(event_id, sub_id)
            return jobs[0] if jobs and jobs[0]["state"] == state else None
        try:
            return wait_for(check, timeout=timeout, message="job of %s for %s in state %r" % (event_id, sub_id, state))
        except AssertionError as exc:
            raise AssertionError("%s; last seen: %s" % (exc, self.hub.admin("GET", "/v1/events/" + event_id)))


if __name__ == "__main__":
    unittest.main()
