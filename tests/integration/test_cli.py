"""The operator's CLI: every verb against a real hub, tables by default, --json for scripts, exit codes
(0 done, 1 refused, 2 usage, 3 unreachable), --help on every verb, and seed files with --prune."""
import json
import os
import unittest

from harness import Reply, SwitchyardCase, wait_for


class CliTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.env = {"SWITCHYARD_HUB_URL": self.hub.url(""), "SWITCHYARD_ADMIN_TOKEN": self.admin_token,
                    "SWITCHYARD_JWT_SECRET": self.jwt_secret}

    def cli(self, *args, env=None, code=0):
        res = self.run_cli(*args, env=dict(self.env, **(env or {})))
        self.assertEqual(res.returncode, code, (args, res.stdout, res.stderr))
        return res

    def cli_json(self, *args):
        return json.loads(self.cli(*args, "--json").stdout)

    def write(self, name, payload):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump(payload, f)
        return path

    def test_subscriber_lifecycle(self):
        out = self.cli("subscribers", "add", "--topic", "orders.*", "--url", "http://127.0.0.1:9/h",
                       "--name", "billing", "--filter", "data.body.total > 100",
                       "--header", "x-team=billing", "--discard-codes", "400,422").stdout
        self.assertIn("created billing", out)
        self.assertIn("whsec_", out)
        listed = self.cli("subscribers", "list").stdout
        self.assertRegex(listed, r"NAME\s+ID\s+TOPIC")
        self.assertIn("billing", listed)
        shown = self.cli_json("subscribers", "show", "billing")
        self.assertEqual(shown["headers"], {"x-team": "billing"})
        self.assertEqual(shown["discard_codes"], [400, 422])
        self.assertNotIn("secret", shown)
        self.cli("subscribers", "update", "billing", "--filter", "data.body.total > 500", "--disable")
        shown = self.cli_json("subscribers", "show", "billing")
        self.assertEqual((shown["filter"], shown["enabled"]), ("data.body.total > 500", False))
        rotated = self.cli_json("subscribers", "rotate-secret", "billing")
        self.assertTrue(rotated["secret"].startswith("whsec_"))
        self.assertIn("removed billing", self.cli("subscribers", "remove", "billing").stdout)
        self.assertEqual(self.cli_json("subscribers", "list")["subscribers"], [])

    def test_refusals_exit_1_with_the_hubs_message(self):
        res = self.cli("subscribers", "add", "--topic", "orders.*", "--url", "ftp://x", code=1)
        self.assertIn("target_url must be an http:// or https:// URL", res.stderr)
        self.assertIn("invalid_subscriber", res.stderr)
        res = self.cli("subscribers", "show", "nope", code=1)
        self.assertIn("no subscriber", res.stderr)
        res = self.cli("subscribers", "list", env={"SWITCHYARD_ADMIN_TOKEN": "wrong"}, code=1)
        self.assertIn("unauthorized", res.stderr)
        self.assertIn("SWITCHYARD_ADMIN_TOKEN", res.stderr)

    def test_unreachable_hub_exits_3_and_says_which_url(self):
        res = self.cli("subscribers", "list", env={"SWITCHYARD_HUB_URL": "http://127.0.0.1:1"}, code=3)
        self.assertIn("cannot reach the hub at http://127.0.0.1:1", res.stderr)

    def test_usage_errors_exit_2(self):
        self.cli("subscribers", "frobnicate", code=2)
        self.cli("subscribers", "add", "--bogus", "x", code=2)
        self.cli("dead", code=2)
        res = self.cli("publish", "orders.created", "{not json", code=2)
        self.assertIn("JSON", res.stderr)

    def test_every_verb_has_help(self):
        for verb in ("subscribers", "publish", "token", "filter", "match", "events", "dead", "seed"):
            with self.subTest(verb=verb):
                out = self.cli(verb, "--help").stdout
                self.assertIn(verb, out)
                self.assertIn("usage", out)

    def test_publish_filter_test_match_and_events(self):
        rx = self.start_receiver()
        self.start_worker()
        self.cli("subscribers", "add", "--topic", "orders.created", "--url", rx.url("/o"),
                 "--name", "big", "--filter", "data.body.total > 100")
        self.assertIn("match", self.cli("filter", "test", "data.body.total > 100",
                                         '{"body": {"total": 150}}').stdout)
        self.assertIn("no match", self.cli("filter", "test", "data.body.total > 100",
                                            '{"body": {"total": 5}}').stdout)
        matched = self.cli_json("match", "orders.created", '{"body": {"total": 5}}')
        self.assertEqual([(s["name"], s["receives"]) for s in matched["subscribers"]], [("big", False)])
        self.assertRegex(self.cli("match", "orders.created", '{"body": {"total": 500}}').stdout,
                         r"big\s+yes")
        event = self.cli_json("publish", "orders.created", '{"body": {"total": 150}}')
        self.assertEqual(event["matched"], 1)
        rx.wait_for_requests("/o")
        self.wait_for_job_state(self.hub, event["id"], "delivered")
        shown = self.cli("events", "show", event["id"]).stdout
        self.assertIn("delivered", shown)
        self.assertIn("status 200", shown)

    def test_publish_uses_switchyard_token_when_given(self):
        token = self.hub.token(topics=["audit.*"])
        res = self.cli("publish", "orders.created", env={"SWITCHYARD_TOKEN": token,
                                                         "SWITCHYARD_JWT_SECRET": None}, code=1)
        self.assertIn("forbidden", res.stderr)
        self.assertIn("published", self.cli("publish", "audit.login", env={
            "SWITCHYARD_TOKEN": token, "SWITCHYARD_JWT_SECRET": None}).stdout)

    def test_token_verb_mints_a_token_the_hub_accepts(self):
        token = self.cli("token", "--topics", "orders.*", "--ttl", "60").stdout.strip()
        self.assertEqual(self.hub.publish("orders.created", {}, token=token).status, 202)
        self.assertEqual(self.hub.publish("audit.x", {}, token=token).status, 403)

    def test_dead_letters_list_replay_and_purge(self):
        rx = self.start_receiver()
        rx.on("/d", Reply(500), Reply(500), then=Reply(200))
        self.start_worker()
        sub = self.cli_json("subscribers", "add", "--topic", "orders.created", "--url", rx.url("/d"),
                            "--name", "flaky", "--max-attempts", "1")
        ids = [self.cli_json("publish", "orders.created")["id"] for _ in range(2)]
        for event_id in ids:
            self.wait_for_job_state(self.hub, event_id, "dead")
        items = self.cli_json("dead", "list", "--subscriber", sub["id"])["items"]
        self.assertEqual(len(items), 2)
        self.assertRegex(self.cli("dead", "list").stdout, r"JOB\s+EVENT\s+SUBSCRIBER")
        self.assertIn("purged", self.cli("dead", "purge", items[0]["job_id"]).stdout)
        self.assertIn("replayed", self.cli("dead", "replay", items[1]["job_id"]).stdout)
        rx.wait_for_requests("/d", count=3, answered=True)
        self.wait_for_job_state(self.hub, items[1]["event_id"], "delivered")
        self.assertEqual(self.cli_json("dead", "list")["items"], [])
        self.cli("dead", "purge", "job_nope", code=1)


class SeedPruneTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.env = {"SWITCHYARD_HUB_URL": self.hub.url(""), "SWITCHYARD_ADMIN_TOKEN": self.admin_token}

    def seed(self, entries, *flags, code=0):
        path = os.path.join(self.tmp, "seed.json")
        with open(path, "w") as f:
            json.dump(entries, f)
        res = self.run_cli("seed", path, *flags, env=self.env)
        self.assertEqual(res.returncode, code, (res.stdout, res.stderr))
        return res

    def names(self):
        return sorted(s["name"] for s in self.hub.admin("GET", "/v1/subscribers").json["subscribers"])

    def test_unchanged_entries_are_left_alone(self):
        entries = [{"name": "a", "topic": "t.a", "target_url": "http://127.0.0.1:9/a"},
                   {"name": "b", "topic": "t.b", "target_url": "http://127.0.0.1:9/b"}]
        self.assertIn("2 created", self.seed(entries).stdout)
        before = self.hub.admin("GET", "/v1/subscribers/a").json
        out = self.seed(entries).stdout
        self.assertIn("0 created, 0 updated, 2 unchanged", out)
        self.assertEqual(self.hub.admin("GET", "/v1/subscribers/a").json["updated_at_ms"],
                         before["updated_at_ms"])
        entries[1]["filter"] = "data.x == 1"
        out = self.seed(entries).stdout
        self.assertIn("unchanged a", out)
        self.assertIn("updated b", out)

    def test_prune_removes_subscribers_the_file_no_longer_names(self):
        self.seed([{"name": n, "topic": "t", "target_url": "http://127.0.0.1:9/"} for n in "abc"])
        kept = [{"name": "a", "topic": "t", "target_url": "http://127.0.0.1:9/"}]
        self.assertIn("would be removed b", self.seed(kept, "--prune", "--dry-run").stdout)
        self.assertEqual(self.names(), ["a", "b", "c"])
        self.assertIn("2 removed", self.seed(kept, "--prune").stdout)
        self.assertEqual(self.names(), ["a"])

    def test_without_prune_nothing_is_removed(self):
        self.seed([{"name": n, "topic": "t", "target_url": "http://127.0.0.1:9/"} for n in "ab"])
        self.seed([{"name": "a", "topic": "t", "target_url": "http://127.0.0.1:9/"}])
        self.assertEqual(self.names(), ["a", "b"])

    def test_subscriber_disabled_by_the_hub_stays_disabled(self):
        entry = {"name": "a", "topic": "t", "target_url": "http://127.0.0.1:9/"}
        self.seed([entry])
        self.hub.admin("PATCH", "/v1/subscribers/a", {"enabled": False})
        self.assertIn("unchanged a", self.seed([entry]).stdout)
        self.assertFalse(self.hub.admin("GET", "/v1/subscribers/a").json["enabled"])

    def test_malformed_entry_names_file_entry_and_field_and_applies_nothing(self):
        res = self.seed([{"name": "ok", "topic": "t", "target_url": "http://127.0.0.1:9/"},
                         {"name": "bad", "topic": "t", "target_url": "http://127.0.0.1:9/",
                          "max_attempts": "many"}], code=1)
        self.assertIn("seed.json: entry 2 (bad): max_attempts", res.stderr)
        self.assertIn("nothing was applied", res.stderr)
        self.assertEqual(self.names(), [])


if __name__ == "__main__":
    unittest.main()
