"""At-least-once under chaos.

WorkerChaosTest: N events (SWITCHYARD_CHAOS_EVENTS, default 5000) for one subscriber, published
concurrently while two workers run; every ~2 s one worker is killed with SIGKILL and replaced. Every
webhook-id must arrive at least once; duplicates are printed and must stay within what the killed
workers could have had in flight (kills x concurrency).

RedisRestartTest: with appendonly yes + appendfsync always, 200 events answered 202 while no worker
runs survive a Redis restart and are all delivered once a worker starts; while Redis is down the hub
answers 503 redis_unavailable and /readyz 503, and hub and worker recover without being restarted.

Assertions are on counts and states only; waits are bounded (no progress for 20 s fails the test)."""
import collections
import concurrent.futures
import http.server
import os
import random
import re
import sys
import threading
import time
import unittest

from harness import SwitchyardCase, http_request, wait_for

TOPIC = "chaos.test"
EVENTS = int(os.environ.get("SWITCHYARD_CHAOS_EVENTS", "5000"))
CONCURRENCY = 32
VISIBILITY_MS = 1500
KILL_EVERY_S = 2.0
MIN_KILLS = 3
PUBLISH_THREADS = 8
STALL_S = 20.0           # fail when no new delivery arrives for this long
OVERALL_S = 240.0        # hard cap for the whole delivery wait


class CountingReceiver:
    """A lean webhook receiver: counts deliveries per webhook-id and answers 200 at once."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        rx = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                wid = self.headers.get("webhook-id")
                with rx.lock:
                    rx.counts[wid] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512

            def handle_error(self, request, client_address):
                if not isinstance(sys.exc_info()[1], ConnectionError):   # a killed worker's connection
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def snapshot(self):
        with self.lock:
            return dict(self.counts)


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.MULTILINE)
    return float(m.group(1)) if m else None


class WorkerChaosTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.rx = CountingReceiver().start()
        self.addCleanup(self.rx.stop)
        self.create_subscriber(self.hub, name="chaos", topic=TOPIC, target_url=self.rx.url("/chaos"))

    def worker(self, n):
        return self.start_worker(name="worker-%d" % n, SWITCHYARD_CONCURRENCY=CONCURRENCY,
                                 SWITCHYARD_VISIBILITY_MS=VISIBILITY_MS)

    def inflight(self, w):
        try:
            return metric(http_request("GET", w.url("/metrics"), timeout=1).text, "switchyard_worker_inflight")
        except OSError:
            return None

    def test_every_event_is_delivered_while_workers_are_killed(self):
        started = time.monotonic()
        spawned = 0
        workers = []
        for _ in range(2):
            spawned += 1
            workers.append(self.worker(spawned))

        event_ids, failures = [], []
        ids_lock = threading.Lock()

        def publish(n):
            resp = self.hub.publish(TOPIC, {"body": {"n": n}})
            if resp.status != 202 or resp.json.get("matched") != 1:
                failures.append((n, resp))
                return
            with ids_lock:
                event_ids.append(resp.json["id"])

        pool = concurrent.futures.ThreadPoolExecutor(PUBLISH_THREADS)
        futures = [pool.submit(publish, n) for n in range(EVENTS)]
        pool.shutdown(wait=False)
        self.addCleanup(pool.shutdown, wait=True, cancel_futures=True)
        kills, inflight_at_kill = 0, []
        published_s = None
        last_count, last_progress = -1, time.monotonic()
        deadline = time.monotonic() + OVERALL_S
        next_kill = time.monotonic() + KILL_EVERY_S
        # Chaos while publishing and until every webhook-id has arrived (at least MIN_KILLS kills):
        # every KILL_EVERY_S the older worker is killed with SIGKILL and a new one started.
        while True:
            publishing = not all(f.done() for f in futures)
            if not publishing and published_s is None:
                published_s = time.monotonic() - started
                for f in futures:
                    f.result()
                self.assertEqual(failures, [], "publishes that were not accepted")
                self.assertEqual(len(event_ids), EVENTS)
                self.assertEqual(len(set(event_ids)), EVENTS)
            got = len(self.rx.snapshot())
            if not publishing and got >= EVENTS and kills >= MIN_KILLS:
                break
            if got != last_count or publishing:
                last_count, last_progress = got, time.monotonic()
            if time.monotonic() - last_progress > STALL_S or time.monotonic() > deadline:
                self.fail("only %d of %d webhook-ids arrived (no progress for %.0f s)" % (got, EVENTS, STALL_S))
            if time.monotonic() >= next_kill:
                victim = workers.pop(0)                   # the older one
                inflight_at_kill.append(self.inflight(victim))
                victim.process.kill9()
                kills += 1
                spawned += 1
                workers.append(self.worker(spawned))
                next_kill = time.monotonic() + KILL_EVERY_S
            time.sleep(0.1)
        delivered_s = time.monotonic() - started

        # Let reclaimed leftovers finish so the duplicate count is final: the queue drains.
        def drained():
            text = self.hub.request("GET", "/metrics").text
            return all(metric(text, "switchyard_queue_jobs", '{place="%s"}' % p) == 0 for p in ("stream", "delayed"))
        wait_for(drained, timeout=20, interval=0.2, message="the job stream and delayed set to drain")
        counts = self.rx.snapshot()
        total = sum(counts.values())
        duplicates = total - len(counts)
        print("\nchaos: %d events, %d kills (in flight at kill: %s), %d deliveries, %d duplicates "
              "(max %d per webhook-id), published in %.1f s, all delivered after %.1f s"
              % (EVENTS, kills, inflight_at_kill, total, duplicates, max(counts.values()), published_s, delivered_s),
              file=sys.stderr)

        self.assertEqual(len(counts), EVENTS)
        self.assertNotIn(None, counts, "a delivery without webhook-id")
        self.assertLessEqual(duplicates, kills * CONCURRENCY,
                             "more duplicates than the killed workers could have had in flight")
        self.assertEqual(self.hub.admin("GET", "/v1/dead").json["items"], [])
        # The job ids are the webhook-ids, and the records say delivered (a sample).
        for event_id in random.sample(event_ids, min(50, len(event_ids))):
            jobs = self.event_jobs(self.hub, event_id)
            self.assertEqual(len(jobs), 1, jobs)
            self.assertEqual(jobs[0]["state"], "delivered", jobs)
            self.assertIn(jobs[0]["job_id"], counts)


class RedisRestartTest(SwitchyardCase):
    PUBLISHED = 200

    def setUp(self):
        super().setUp()
        self.start_redis(appendonly="yes", appendfsync="always")
        self.hub = self.start_hub()
        self.rx = CountingReceiver().start()
        self.addCleanup(self.rx.stop)
        self.create_subscriber(self.hub, name="durable", topic=TOPIC, target_url=self.rx.url("/durable"))

    def assertRedisDown(self):
        resp = self.hub.publish(TOPIC, {"body": {"n": -1}})
        self.assertError(resp, 503, "redis_unavailable")
        ready = self.hub.request("GET", "/readyz")
        self.assertEqual(ready.status, 503, ready)
        self.assertTrue(ready.text.strip(), "/readyz gave no reason")
        self.assertEqual(self.hub.request("GET", "/healthz").status, 200)   # alive all the same

    def wait_ready(self):
        wait_for(lambda: self.hub.request("GET", "/readyz").status == 200, timeout=15,
                 message="/readyz to answer 200 again")

    def publish_when_ready(self, n):
        def attempt():
            resp = self.hub.publish(TOPIC, {"body": {"n": n}}, headers={"Idempotency-Key": "restart-%d" % n})
            return resp.json["id"] if resp.status == 202 else None
        return wait_for(attempt, timeout=15, message="the hub to take events again")

    def test_accepted_events_survive_a_redis_restart_and_everything_recovers(self):
        events = []
        for n in range(self.PUBLISHED):
            resp = self.hub.publish(TOPIC, {"body": {"n": n}})
            self.assertEqual(resp.status, 202, resp)
            events.append(resp.json["id"])

        self.redis.stop()
        self.assertRedisDown()
        self.redis.start()
        self.wait_ready()

        worker = self.start_worker()
        wait_for(lambda: len(self.rx.snapshot()) >= self.PUBLISHED, timeout=20,
                 message="all %d events delivered" % self.PUBLISHED)
        for event_id in (events[0], events[-1]):
            self.wait_for_job_state(self.hub, event_id, "delivered")
        counts = self.rx.snapshot()
        self.assertEqual(len(counts), self.PUBLISHED)
        self.assertEqual(sum(counts.values()), self.PUBLISHED, "duplicates without any fault in delivery")

        # Redis goes away under a running worker: the hub says so, nothing crashes, and after Redis
        # returns the same hub and worker processes publish and deliver again.
        self.redis.stop()
        self.assertRedisDown()
        self.assertEqual(http_request("GET", worker.url("/healthz"), timeout=5).status, 200)
        self.redis.start()
        self.wait_ready()
        event_id = self.publish_when_ready(self.PUBLISHED)
        self.wait_for_job_state(self.hub, event_id, "delivered", timeout=15)
        self.assertEqual(len(self.rx.snapshot()), self.PUBLISHED + 1)
        self.assertTrue(worker.process.alive())


if __name__ == "__main__":
    unittest.main()
