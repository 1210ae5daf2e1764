"""What operators see and set: Prometheus metrics that promtool accepts and that move with the traffic,
logs (key=value or JSON) that carry ids and never secrets, the config file and its precedence, and
Redis AUTH and slowness."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import SwitchyardCase, free_port, http_request, wait_for

ORDER = {"body": {"id": 7, "total": 120}}


def metric(text, name, labels=""):
    """The value of one sample in Prometheus text, or None."""
    want = name + labels
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def log_text(process):
    with open(process.err_path, "rb") as f:
        return f.read().decode(errors="replace")


class MetricsTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.rx = self.start_receiver()

    @unittest.skipUnless(shutil.which("promtool"), "promtool (Debian package prometheus) is not installed")
    def test_promtool_accepts_hub_and_worker_metrics(self):
        worker = self.start_worker()
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/m"))
        self.assertEqual(self.hub.publish("orders.created", ORDER).status, 202)
        self.rx.wait_for_requests("/m")
        for url in (self.hub.url("/metrics"), worker.url("/metrics")):
            text = http_request("GET", url).body
            res = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                                 timeout=30)
            self.assertEqual(res.returncode, 0, (url, res.stdout, res.stderr))

    def test_counters_move_with_the_traffic(self):
        worker = self.start_worker()
        self.create_subscriber(self.hub, topic="orders.created", filter="data.body.total > 100",
                               target_url=self.rx.url("/m"))
        for total in (120, 150, 50):
            self.assertEqual(self.hub.publish("orders.created", {"body": {"total": total}}).status, 202)
        self.assertEqual(self.hub.publish("orders..bad", ORDER).status, 400)
        self.rx.wait_for_requests("/m", count=2)

        hub = http_request("GET", self.hub.url("/metrics")).body.decode()
        self.assertEqual(metric(hub, "switchyard_publishes_total", '{outcome="accepted"}'), 3)
        self.assertEqual(metric(hub, "switchyard_publishes_total", '{outcome="rejected"}'), 1)
        self.assertEqual(metric(hub, "switchyard_filter_evaluations_total"), 3)
        self.assertEqual(metric(hub, "switchyard_events_matched_total"), 2)
        self.assertEqual(metric(hub, "switchyard_jobs_enqueued_total"), 2)
        self.assertEqual(metric(hub, "switchyard_filter_duration_seconds_count"), 3)

        def delivered():
            text = http_request("GET", worker.url("/metrics")).body.decode()
            return text if metric(text, "switchyard_deliveries_total", '{outcome="delivered"}') == 2 else None
        text = wait_for(delivered, message="the worker to count 2 deliveries")
        self.assertEqual(metric(text, "switchyard_delivery_responses_total", '{class="2xx"}'), 2)
        self.assertEqual(metric(text, "switchyard_delivery_duration_seconds_count"), 2)

    def test_filter_errors_are_counted(self):
        self.create_subscriber(self.hub, topic="orders.created", filter="data.body.total > 'x'",
                               target_url=self.rx.url("/m"))
        self.assertEqual(self.hub.publish("orders.created", ORDER).json["matched"], 0)
        hub = http_request("GET", self.hub.url("/metrics")).body.decode()
        self.assertEqual(metric(hub, "switchyard_filter_errors_total"), 1)

    def test_queue_depth_and_lag_gauges_count_waiting_jobs(self):
        hub = http_request("GET", self.hub.url("/metrics")).body.decode()
        self.assertEqual(metric(hub, "switchyard_queue_oldest_age_seconds"), 0)
        self.create_subscriber(self.hub, topic="orders.created", target_url=self.rx.url("/m"))
        for _ in range(3):
            self.hub.publish("orders.created", ORDER)
        time.sleep(0.6)   # no worker runs: the oldest job ages
        hub = http_request("GET", self.hub.url("/metrics")).body.decode()
        self.assertEqual(metric(hub, "switchyard_queue_jobs", '{place="stream"}'), 3)
        self.assertGreaterEqual(metric(hub, "switchyard_queue_oldest_age_seconds"), 0.5)


class LogsTest(SwitchyardCase):
    def test_logs_carry_ids_and_never_secrets(self):
        self.start_redis()
        hub = self.start_hub()
        worker = self.start_worker()
        rx = self.start_receiver()
        sub = self.create_subscriber(hub, topic="orders.created", target_url=rx.url("/l"),
                                     headers={"authorization": "Basic c2VjcmV0LWhlYWRlcg=="})
        token = hub.token()
        event = hub.publish("orders.created", ORDER, token=token).json
        rx.wait_for_requests("/l")
        self.wait_for_job_state(hub, event["id"], "delivered")
        hub.publish("orders.created", ORDER, token=token + "x")   # a refused token is not logged either
        rotated = hub.admin("POST", "/v1/subscribers/%s/rotate-secret" % sub["id"]).json
        logs = log_text(hub.process) + log_text(worker.process)
        self.assertIn("event_id=" + event["id"], logs)
        self.assertIn("subscriber_id=" + sub["id"], logs)
        self.assertIn("job_id=job_", logs)
        for secret in (self.jwt_secret, self.admin_token, token, sub["secret"], rotated["secret"],
                       sub["secret"].removeprefix("whsec_"), "c2VjcmV0LWhlYWRlcg=="):
            self.assertNotIn(secret, logs)

    def test_json_log_format_gives_one_object_per_line(self):
        self.start_redis()
        hub = self.start_hub(SWITCHYARD_LOG_FORMAT="json")
        event = hub.publish("orders.created", ORDER).json
        lines = [l for l in log_text(hub.process).splitlines() if l.strip()]
        parsed = [json.loads(l) for l in lines]
        self.assertTrue(all({"ts", "level", "event"} <= set(p) for p in parsed), parsed)
        self.assertIn(event["id"], [p.get("event_id") for p in parsed])

    def test_log_level_warn_hides_info_lines(self):
        self.start_redis()
        hub = self.start_hub(SWITCHYARD_LOG_LEVEL="warn")
        hub.publish("orders.created", ORDER)
        self.assertNotIn("level=info", log_text(hub.process))


class ConfigTest(SwitchyardCase):
    def write_config(self, text):
        fd, path = tempfile.mkstemp(dir=self.tmp, suffix=".conf")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def test_config_file_is_overridden_by_environment_and_flags(self):
        self.start_redis()
        file_port, env_port, flag_port = free_port(), free_port(), free_port()
        path = self.write_config("# hub settings\nlisten = 127.0.0.1:%d\nSWITCHYARD_PREFIX=\"%s\"\n"
                                 % (file_port, self.prefix))
        # file only: the hub listens where the file says
        hub = self.start_hub(SWITCHYARD_LISTEN=None, SWITCHYARD_CONFIG=path, port=file_port)
        self.assertEqual(hub.request("GET", "/healthz").status, 200)
        hub.process.stop()
        # environment beats the file
        hub = self.start_hub(SWITCHYARD_LISTEN="127.0.0.1:%d" % env_port, SWITCHYARD_CONFIG=path,
                             port=env_port)
        self.assertEqual(hub.request("GET", "/healthz").status, 200)
        hub.process.stop()
        # a flag beats both
        res = self.run_cli("hub", "--config", path, "--listen", "nonsense",
                           env={"SWITCHYARD_JWT_SECRET": "x", "SWITCHYARD_REDIS_URL": self.redis.url,
                                "SWITCHYARD_LISTEN": "127.0.0.1:%d" % env_port})
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("nonsense", res.stderr)

    def test_unknown_setting_in_config_file_stops_start_up(self):
        path = self.write_config("listen=127.0.0.1:1\nconcurency=5\n")
        res = self.run_cli("hub", "--config=" + path, env={"SWITCHYARD_JWT_SECRET": "x"})
        self.assertEqual(res.returncode, 2)
        self.assertIn("%s:2: concurency is not a setting" % path, res.stderr)

    def test_invalid_value_names_the_setting_and_what_is_allowed(self):
        res = self.run_cli("worker", env={"SWITCHYARD_CONCURRENCY": "lots"})
        self.assertEqual(res.returncode, 2)
        self.assertIn("SWITCHYARD_CONCURRENCY", res.stderr)
        self.assertIn("1 to 10000", res.stderr)
        res = self.run_cli("hub", env={"SWITCHYARD_JWT_SECRET": "x", "SWITCHYARD_LOG_FORMAT": "xml"})
        self.assertEqual(res.returncode, 2)
        self.assertIn("kv or json", res.stderr)

    def test_bad_redis_url_stops_start_up(self):
        res = self.run_cli("hub", env={"SWITCHYARD_JWT_SECRET": "x",
                                       "SWITCHYARD_REDIS_URL": "http://127.0.0.1:6379"})
        self.assertEqual(res.returncode, 2)
        self.assertIn("must start with redis://", res.stderr)


class RedisConnectionTest(SwitchyardCase):
    def start_redis_with_password(self, password):
        self.start_redis()
        self.redis.cmd("CONFIG", "SET", "requirepass", password)   # after the harness's PING

    def test_password_in_the_url_authenticates(self):
        self.start_redis_with_password("s3cret-pass")
        url = "redis://:s3cret-pass@127.0.0.1:%d/0" % self.redis.port
        hub = self.start_hub(SWITCHYARD_REDIS_URL=url)
        self.assertEqual(hub.publish("orders.created", ORDER).status, 202)
        self.assertNotIn("s3cret-pass", log_text(hub.process))

    def test_wrong_password_is_not_ready_and_says_why(self):
        self.start_redis_with_password("s3cret-pass")
        url = "redis://:wrong@127.0.0.1:%d/0" % self.redis.port
        hub = self.start_hub(SWITCHYARD_REDIS_URL=url, ready=False)
        resp = wait_for(lambda: (lambda r: r if r.status == 503 else None)(
            hub.request("GET", "/readyz")), message="/readyz to answer 503")
        self.assertIn("AUTH", resp.json["error"]["message"])
        self.assertEqual(hub.publish("orders.created", ORDER).status, 503)

    def test_slow_redis_gives_503_then_recovers(self):
        self.start_redis(**{"enable-debug-command": "yes"})
        hub = self.start_hub()
        self.assertEqual(hub.publish("orders.created", ORDER).status, 202)
        # Redis stops answering for 4 s: longer than the hub's 2 s command timeout
        sleeper = subprocess.Popen(["redis-cli", "-p", str(self.redis.port), "DEBUG", "SLEEP", "4"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        wait_for(lambda: hub.publish("orders.created", ORDER).status == 503, timeout=10,
                 message="a 503 while Redis sleeps")
        wait_for(lambda: hub.publish("orders.created", ORDER).status == 202, timeout=15,
                 message="publishing to work again")


if __name__ == "__main__":
    unittest.main()
