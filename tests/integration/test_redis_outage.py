"""Redis going away: hub and worker reconnect and carry on; with AOF persistence, queued jobs survive a
Redis restart."""
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


if __name__ == "__main__":
    unittest.main()
