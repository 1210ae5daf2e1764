"""Running the processes: health and readiness, Prometheus metrics, configuration (--help, required
secret, switch env aliases)."""
import json
import os
import re
import signal
import socket
import time
import unittest

from harness import SwitchyardCase, free_port, http_request, mint_jwt, wait_for, wait_until_serving

SETTINGS = ("SWITCHYARD_LISTEN", "SWITCHYARD_REDIS_URL", "SWITCHYARD_JWT_SECRET", "SWITCHYARD_ADMIN_TOKEN",
            "SWITCHYARD_PREFIX", "SWITCHYARD_CONCURRENCY", "SWITCHYARD_WORKER_LISTEN", "SWITCHYARD_MAX_BODY",
            "SWITCHYARD_FILTER_DEADLINE_MS")
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEInfNa]+( \d+)?$')


class OperationsTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()

    def assertPrometheusText(self, resp):
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.headers.get("content-type", "").startswith("text/plain"), resp.headers)
        lines = [line for line in resp.text.splitlines() if line.strip()]
        self.assertTrue(any(line.startswith("# TYPE ") for line in lines), resp.text[:500])
        for line in lines:
            if not line.startswith("#"):
                self.assertRegex(line, SAMPLE)

    def test_hub_health_and_readiness(self):
        hub = self.start_hub()
        self.assertEqual(hub.request("GET", "/healthz").status, 200)
        self.assertEqual(hub.request("GET", "/readyz").status, 200)

    def test_hub_is_alive_but_not_ready_without_redis(self):
        hub = self.start_hub()
        self.redis.stop()
        self.assertEqual(hub.request("GET", "/healthz").status, 200)
        self.assertEqual(hub.request("GET", "/readyz").status, 503)

    def test_hub_takes_no_publish_before_its_subscribers_are_loaded(self):
        # until the hub has read the subscribers once, a publish would match nobody and lose the
        # event for every subscriber: it is refused, and /readyz keeps a balancer away
        self.redis.cmd("SET", self.prefix + ":subs", "not a hash")   # the first read fails
        hub = self.start_hub(ready=False)
        wait_until_serving(hub.process, hub.url("/healthz"))
        ready = hub.request("GET", "/readyz")
        self.assertError(ready, 503, "redis_unavailable")
        self.assertIn("not loaded", ready.json["error"]["message"])
        resp = hub.publish("orders.created", {"a": 1})
        self.assertError(resp, 503, "redis_unavailable")
        self.assertIn("not loaded its subscribers", resp.json["error"]["message"])
        self.assertEqual(resp.headers.get("retry-after"), "1")
        self.assertEqual(self.redis.keys(), [self.prefix + ":subs"])   # nothing was stored
        self.redis.cmd("DEL", self.prefix + ":subs")
        wait_for(lambda: hub.request("GET", "/readyz").status == 200, message="the hub to be ready")
        self.assertEqual(hub.publish("orders.created", {"a": 1}).status, 202)

    def test_worker_takes_no_job_before_its_subscribers_are_loaded(self):
        # a job whose subscriber the worker does not know is discarded as deleted: so a worker
        # that could not read the subscribers yet leaves the jobs where they are
        hub = self.start_hub()
        rx = self.start_receiver()
        self.create_subscriber(hub, topic="orders.created", target_url=rx.url("/hooks"))
        event = hub.publish("orders.created", {"body": {"n": 1}}).json
        subs = self.prefix + ":subs"
        self.redis.cmd("RENAME", subs, subs + ":away")
        self.redis.cmd("SET", subs, "not a hash")   # the worker's first read fails
        self.start_worker()
        time.sleep(1.0)
        self.assertEqual(rx.requests(), [])
        self.assertEqual(self.event_jobs(hub, event["id"])[0]["state"], "pending")
        self.redis.cmd("DEL", subs)
        self.redis.cmd("RENAME", subs + ":away", subs)
        rx.wait_for_requests("/hooks")
        self.wait_for_job_state(hub, event["id"], "delivered")

    def test_hub_metrics_are_prometheus_text(self):
        hub = self.start_hub()
        hub.publish("orders.created", {"a": 1})
        self.assertPrometheusText(hub.request("GET", "/metrics"))

    def test_worker_serves_health_and_metrics(self):
        worker = self.start_worker()
        self.assertEqual(http_request("GET", worker.url("/healthz")).status, 200)
        self.assertPrometheusText(http_request("GET", worker.url("/metrics")))

    def test_hub_finishes_an_in_flight_request_on_sigterm(self):
        hub = self.start_hub()
        self.create_subscriber(hub, topic="orders.created", target_url="http://127.0.0.1:9/x")
        body = json.dumps({"topic": "orders.created", "data": {"n": 1}}).encode()
        head = ("POST /v1/publish HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % (hub.token(), len(body))).encode()
        with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as s:
            s.sendall(head + body[:10])
            time.sleep(0.3)
            hub.process.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            s.sendall(body[10:])
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 202"), answer[:200])
        self.assertEqual(hub.process.wait_exit(timeout=10), 0)
        self.assertEqual(self.redis.cmd("XLEN", self.prefix + ":jobs"), 1)

    def test_idle_keep_alive_connection_does_not_hold_up_sigterm(self):
        hub = self.start_hub()
        with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
            # the connection stays open and idle; the 10 s grace is for requests, not for it
            hub.process.proc.send_signal(signal.SIGTERM)
            self.assertEqual(hub.process.wait_exit(timeout=5), 0)

    def test_help_lists_every_setting(self):
        result = self.run_cli("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        for name in SETTINGS:
            self.assertIn(name, result.stdout + result.stderr)

    def test_hub_runs_one_thread_per_cpu_from_two_to_four_unless_told(self):
        def started_threads(hub):
            found = wait_for(lambda: re.search(r"event=hub\.started .*threads=(\d+)", hub.process.logs()),
                             message="hub.started in the log")
            return int(found.group(1))
        cpus = len(os.sched_getaffinity(0))
        self.assertEqual(started_threads(self.start_hub(name="auto")), min(4, max(2, cpus)))
        self.assertEqual(started_threads(self.start_hub(name="three", SWITCHYARD_THREADS="3")), 3)
        bad = self.start_hub(name="bad", ready=False, SWITCHYARD_THREADS="-1")
        self.assertEqual(bad.process.wait_exit(timeout=10), 2)
        self.assertIn('SWITCHYARD_THREADS: "-1" is not allowed; expected a whole number from 0 to 256',
                      bad.process.logs())

    def test_hub_refuses_to_start_without_jwt_secret(self):
        hub = self.start_hub(ready=False, SWITCHYARD_JWT_SECRET=None)
        self.assertNotEqual(hub.process.wait_exit(timeout=10), 0)
        self.assertIn("SWITCHYARD_JWT_SECRET", hub.process.logs())

    def test_switch_env_names_are_accepted(self):
        port = free_port()
        secret = "switch-style-secret"
        hub = self.start_hub(port=port, SWITCHYARD_LISTEN=None, SWITCHYARD_JWT_SECRET=None,
                             SWITCH_SERVER_PORT=port, SWITCH_JWT_SECRET=secret)
        resp = hub.publish("orders.created", {"a": 1}, token=mint_jwt(secret))
        self.assertEqual(resp.status, 202, resp)


if __name__ == "__main__":
    unittest.main()
