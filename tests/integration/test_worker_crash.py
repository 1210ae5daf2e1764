"""At-least-once: a job held by a worker that dies (kill -9) is taken again by another worker after
the visibility timeout, with the same webhook-id."""
import unittest

from harness import Reply, SwitchyardCase

VISIBILITY_MS = 1500


class WorkerCrashTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.rx = self.start_receiver()

    def test_job_of_killed_worker_is_delivered_by_another_worker(self):
        self.rx.on("/slow", then=Reply(200, delay=30))   # holds the job in flight
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/slow"),
                               timeout_ms=25000)
        first_worker = self.start_worker(name="doomed-worker", SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)
        event = self.hub.publish("orders.created", {"body": {"id": 1}})
        self.assertEqual(event.status, 202, event)

        first = self.rx.wait_for_requests("/slow")[0]
        first_worker.process.kill9()
        self.rx.on("/slow", then=Reply(200))
        self.start_worker(name="rescuer", SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)

        again = self.rx.wait_for_requests("/slow", count=2, timeout=15)[1]
        self.assertEqual(again.headers["webhook-id"], first.headers["webhook-id"])
        self.assertEqual(again.body, first.body)
        self.assertGreaterEqual(again.time - first.time, VISIBILITY_MS / 1000.0 - 0.2)
        self.wait_for_job_state(self.hub, event.json["id"], "delivered")

    def test_job_held_by_a_stopping_worker_is_not_lost(self):
        self.rx.on("/slowish", Reply(200, delay=1))
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/slowish"))
        worker = self.start_worker(name="stopping-worker", SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)
        event = self.hub.publish("orders.created", {"body": {"id": 2}})
        self.assertEqual(event.status, 202, event)
        self.rx.wait_for_requests("/slowish")
        worker.process.stop()   # SIGTERM while the delivery is in flight
        self.start_worker(name="successor", SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)
        # The stopping worker either finished the delivery or handed the job back for the successor.
        self.wait_for_job_state(self.hub, event.json["id"], "delivered", timeout=15)
        self.assertEqual(len({r.headers["webhook-id"] for r in self.rx.requests()}), 1)


if __name__ == "__main__":
    unittest.main()
