"""Per-subscriber limits hold across all workers, and one slow endpoint does not starve the others."""
import re
import unittest

from harness import Reply, SwitchyardCase, http_request, wait_for

EVENTS = 6


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.MULTILINE)
    return float(m.group(1)) if m else None


class LimitsTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.rx = self.start_receiver()

    def publish_many(self, n=EVENTS):
        for i in range(n):
            resp = self.hub.publish("orders.created", {"body": {"n": i}})
            self.assertEqual(resp.status, 202, resp)

    def test_max_in_flight_holds_across_workers(self):
        self.rx.on("/slow", then=Reply(200, delay=0.4))
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/slow"), max_in_flight=1)
        self.start_worker(name="worker-a")
        self.start_worker(name="worker-b")
        self.publish_many()
        self.rx.wait_for_requests("/slow", count=EVENTS, timeout=15, answered=True)
        self.assertEqual(self.rx.max_concurrency("/slow"), 1)

    def test_rate_limit_spreads_deliveries(self):
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/limited"),
                               rate_limit_per_s=2)
        self.start_worker(name="worker-a")
        self.start_worker(name="worker-b")
        self.publish_many()
        reqs = self.rx.wait_for_requests("/limited", count=EVENTS, timeout=15)
        times = sorted(r.time for r in reqs)
        self.assertGreaterEqual(times[-1] - times[0], 1.4, "6 deliveries at 2/s came too fast")
        for i in range(len(times)):   # no 1-second window holds more than twice the rate (burst allowed)
            self.assertLessEqual(sum(1 for t in times if times[i] <= t < times[i] + 1.0), 4, times)

    def test_slow_endpoint_backlog_waits_in_the_worker_not_in_redis(self):
        # an endpoint that has not answered yet gets 2 of 8 slots; its other jobs wait in the
        # worker's memory, pending in its name, without round trips through the delayed set
        self.rx.on("/stuck", then=Reply(200, delay=2))
        self.create_subscriber(self.hub, name="stuck", topic="orders.created", target_url=self.rx.url("/stuck"),
                               timeout_ms=10000)
        worker = self.start_worker(SWITCHYARD_CONCURRENCY=8)
        self.publish_many(8)
        self.rx.wait_for_requests("/stuck", count=2)
        wait_for(lambda: metric(http_request("GET", worker.url("/metrics")).text, "switchyard_worker_held") == 6,
                 message="6 jobs held by the worker")
        self.assertEqual(self.redis.cmd("ZCARD", self.prefix + ":delayed"), 0)
        self.assertEqual(self.redis.cmd("XPENDING", self.prefix + ":jobs", "workers")[0], 8)
        self.rx.wait_for_requests("/stuck", count=8, timeout=15, answered=True)
        self.assertEqual(self.rx.max_concurrency("/stuck"), 2)

    def test_slow_endpoint_does_not_starve_others(self):
        self.rx.on("/stuck", then=Reply(200, delay=4))
        self.create_subscriber(self.hub, name="stuck", topic="orders.created", target_url=self.rx.url("/stuck"),
                               max_in_flight=1, timeout_ms=10000)
        self.create_subscriber(self.hub, name="fast", topic="orders.created", target_url=self.rx.url("/fast"))
        self.start_worker(SWITCHYARD_CONCURRENCY=2)
        self.publish_many()
        self.rx.wait_for_requests("/fast", count=EVENTS, timeout=5)


if __name__ == "__main__":
    unittest.main()
