"""At-least-once: a job held by a worker that dies (kill -9) is taken again by another worker after
the visibility timeout, with the same webhook-id; a stopping worker hands back what it holds."""
import re
import unittest

from harness import Reply, SwitchyardCase, http_request, wait_for

VISIBILITY_MS = 1500
BACKLOG = 8   # jobs for one slow endpoint; a worker of concurrency 8 gives it 2 slots, holds the rest


def held(worker):
    """The worker's switchyard_worker_held gauge."""
    text = http_request("GET", worker.url("/metrics"), timeout=2).text
    m = re.search(r"^switchyard_worker_held (\S+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else None


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

    def slow_backlog(self, delay, timeout_ms, worker_name):
        """BACKLOG events for a slow endpoint; returns (worker, event ids) once the worker has two
        in flight and holds the other jobs in memory."""
        self.rx.on("/slow", then=Reply(200, delay=delay))
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/slow"),
                               timeout_ms=timeout_ms)
        worker = self.start_worker(name=worker_name, SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)
        ids = []
        for i in range(BACKLOG):
            event = self.hub.publish("orders.created", {"body": {"id": i}})
            self.assertEqual(event.status, 202, event)
            ids.append(event.json["id"])
        self.rx.wait_for_requests("/slow", count=2)
        wait_for(lambda: held(worker) == BACKLOG - 2, message="the other jobs held by the worker")
        return worker, ids

    def test_held_jobs_of_killed_worker_are_delivered_by_another_worker(self):
        doomed, ids = self.slow_backlog(30, 25000, "doomed-worker")
        doomed.process.kill9()
        self.rx.on("/slow", then=Reply(200))
        self.start_worker(name="rescuer", SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)
        for event_id in ids:
            self.wait_for_job_state(self.hub, event_id, "delivered", timeout=15)

    def test_held_jobs_are_handed_back_by_a_stopping_worker(self):
        worker, ids = self.slow_backlog(1, 10000, "stopping-worker")
        worker.process.stop()   # SIGTERM: the two in flight finish, the held ones go back
        self.rx.on("/slow", then=Reply(200))
        self.start_worker(name="successor", SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)
        for event_id in ids:
            self.wait_for_job_state(self.hub, event_id, "delivered", timeout=15)
        # handed back unattempted: one request per job
        self.assertEqual(len({r.headers["webhook-id"] for r in self.rx.requests()}), BACKLOG)
        self.assertEqual(len(self.rx.requests()), BACKLOG)


if __name__ == "__main__":
    unittest.main()
