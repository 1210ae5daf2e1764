"""Bulk replay of dead letters at a bounded rate: POST /v1/dead/replay {"subscriber_id", "rate_per_s"}
puts every dead job of the subscriber back, spread out at rate_per_s "so a recovered endpoint is not
flooded" (README); each is delivered once more with its webhook-id.

Ten jobs at 5/s are due 0, 0.2, ..., 1.8 s after the replay. The schedule is read from the delayed set
right after the replay (arrival times at a Python receiver on a loaded machine say more about the
machine than about the hub); it must span at least 1.2 s, and the first job must not wait."""
import time
import unittest

from harness import Reply, SwitchyardCase, wait_for

TOPIC = "replay.test"
JOBS = 10
RATE = 5
MIN_SPAN_S = 1.2


class ReplayTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.rx = self.start_receiver()

    def dead_items(self, sub_id):
        resp = self.hub.admin("GET", "/v1/dead?subscriber=%s&limit=100" % sub_id)
        self.assertEqual(resp.status, 200, resp)
        return resp.json["items"]

    def replay_at_bounded_rate(self):
        self.rx.on("/recovering", then=Reply(500))
        sub = self.create_subscriber(self.hub, name="recovering", topic=TOPIC,
                                     target_url=self.rx.url("/recovering"), max_attempts=1)
        events = []
        for n in range(JOBS):
            resp = self.hub.publish(TOPIC, {"body": {"n": n}})
            self.assertEqual(resp.status, 202, resp)
            events.append(resp.json["id"])
        wait_for(lambda: len(self.dead_items(sub["id"])) == JOBS, timeout=15, message="%d dead letters" % JOBS)
        dead_ids = {i["job_id"] for i in self.dead_items(sub["id"])}
        self.assertEqual(len(self.rx.requests("/recovering")), JOBS)

        self.rx.on("/recovering", then=Reply(200))
        resp = self.hub.admin("POST", "/v1/dead/replay", {"subscriber_id": sub["id"], "rate_per_s": RATE})
        replayed_at = time.time()
        schedule = self.redis.cmd("ZRANGE", self.prefix + ":delayed", "0", "-1", "WITHSCORES")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json, {"replayed": JOBS})
        due = sorted(int(x) / 1000.0 for x in schedule[1::2])
        # the first may already have left for the stream; the rest wait their turn
        self.assertGreaterEqual(len(due), JOBS - 2, schedule)
        self.assertGreaterEqual(due[-1] - due[0], MIN_SPAN_S, "replays are not spread out: %s" % due)
        self.assertLess(due[0] - replayed_at, 0.5, "the first replayed job was held back")

        reqs = self.rx.wait_for_requests("/recovering", count=2 * JOBS, timeout=15)
        replays = sorted(reqs[JOBS:], key=lambda r: r.time)
        self.assertEqual({r.headers["webhook-id"] for r in replays}, dead_ids)
        for e in events:
            self.wait_for_job_state(self.hub, e, "delivered")
        self.assertEqual(self.dead_items(sub["id"]), [])
        arrivals = [r.time for r in replays]
        span = arrivals[-1] - arrivals[0]
        first_wait = arrivals[0] - replayed_at
        print("\nreplay: %d jobs at %d/s: first after %.2f s, span %.2f s, gaps %s"
              % (JOBS, RATE, first_wait, span, ["%.2f" % (b - a) for a, b in zip(arrivals, arrivals[1:])]))
        self.assertEqual(len(arrivals), JOBS)

    def test_replay_is_spread_out_at_the_requested_rate(self):
        # The worker's default settings: ten failed attempts in a row also open the subscriber's
        # circuit (SWITCHYARD_BREAKER_FAILURES defaults to 10), as they would in production.
        # SWITCHYARD_CONCURRENCY=None: the worker's own default (64), not the harness's 8.
        self.start_worker(SWITCHYARD_CONCURRENCY=None)
        self.replay_at_bounded_rate()

    def test_replay_is_spread_out_at_the_requested_rate_without_circuit_breaker(self):
        self.start_worker(SWITCHYARD_BREAKER_FAILURES=0)
        self.replay_at_bounded_rate()


if __name__ == "__main__":
    unittest.main()
