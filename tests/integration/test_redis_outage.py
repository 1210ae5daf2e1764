"""Redis going away: hub and worker reconnect and carry on; with AOF persistence, queued jobs survive a
Redis restart. Redis that stops answering (frozen with SIGSTOP) costs a publish a 503 after the
timeout, never the hub's other requests, and a hub stopped meanwhile still answers and exits."""
import os
import signal
import threading
import time
import unittest

from harness import SwitchyardCase, wait_for

ORDER = {"body": {"id": 7}}


class RedisOutageTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis(appendonly="yes", appendfsync="always")
        self.hub = self.start_hub()
        self.rx = self.start_receiver()
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/hooks"))

    def publish_when_ready(self):
        """Publishes once the hub takes events again (it answers 503 while reconnecting)."""
        return wait_for(lambda: (lambda r: r.json if r.status == 202 else None)(
            self.hub.publish("orders.created", ORDER)), timeout=15, message="the hub to take events again")

    def test_hub_and_worker_carry_on_after_a_redis_restart(self):
        self.start_worker()
        self.publish_when_ready()
        self.rx.wait_for_requests("/hooks", count=1)
        self.redis.restart()
        event = self.publish_when_ready()
        self.assertEqual(event["matched"], 1)
        self.rx.wait_for_requests("/hooks", count=2, timeout=15)

    def test_queued_jobs_survive_a_redis_restart_with_aof(self):
        event = self.publish_when_ready()
        self.redis.restart()
        self.start_worker()
        req = self.rx.wait_for_requests("/hooks", timeout=15)[0]
        self.wait_for_job_state(self.hub, event["id"], "delivered")
        self.assertEqual(req.json(), ORDER["body"])


class FrozenRedisTest(SwitchyardCase):
    """The hub's publish pipeline waits on Redis without blocking its threads: a Redis that takes
    the connection but never answers fails the publishes waiting on it after 2 s."""

    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub(SWITCHYARD_THREADS="1")   # one loop: everything shares it
        self.create_subscriber(self.hub, topic="orders.created", target_url="http://127.0.0.1:9/x")
        self.assertEqual(self.hub.publish("orders.created", ORDER).status, 202)

    def freeze(self):
        os.kill(self.redis.process.pid, signal.SIGSTOP)
        self.addCleanup(self.thaw)

    def thaw(self):
        os.kill(self.redis.process.pid, signal.SIGCONT)

    def publish_in_background(self):
        out = {}
        t = threading.Thread(target=lambda: out.setdefault(
            "resp", self.hub.publish("orders.created", ORDER)))
        t.start()
        return t, out

    def test_a_publish_to_a_frozen_redis_fails_after_the_timeout_and_the_hub_keeps_serving(self):
        self.freeze()
        t, out = self.publish_in_background()
        time.sleep(0.3)   # the publish now waits on Redis, on the hub's only thread
        self.assertTrue(t.is_alive(), "the publish was answered before Redis could answer it")
        self.assertEqual(self.hub.request("GET", "/healthz").status, 200)
        self.assertTrue(t.is_alive(), "/healthz was answered only after the waiting publish")
        t.join(timeout=10)
        self.assertFalse(t.is_alive(), "the publish was not answered within 10 s")
        self.assertError(out["resp"], 503, "redis_unavailable")
        self.assertIn("did not answer within 2000 ms", out["resp"].json["error"]["message"])
        self.assertEqual(out["resp"].headers.get("retry-after"), "1")
        self.thaw()
        wait_for(lambda: self.hub.publish("orders.created", ORDER).status == 202, timeout=15,
                 message="publishes to succeed once Redis answers again")
        self.assertTrue(self.hub.process.alive())

    def test_a_hub_stopped_while_publishes_wait_answers_them_and_exits(self):
        self.freeze()
        t, out = self.publish_in_background()
        time.sleep(0.3)
        self.hub.process.proc.send_signal(signal.SIGTERM)
        t.join(timeout=10)
        self.assertFalse(t.is_alive(), "the waiting publish was not answered")
        self.assertError(out["resp"], 503, "redis_unavailable")
        self.assertEqual(self.hub.process.wait_exit(timeout=15), 0)


if __name__ == "__main__":
    unittest.main()
