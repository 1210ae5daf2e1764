"""`switchyard seed FILE`: applies a JSON list of subscribers by name through the hub's admin API,
idempotently, and refuses a malformed file as a whole."""
import json
import os
import re
import unittest

from harness import SwitchyardCase, items_of

SEED = [
    {"name": "billing", "topic": "orders.*", "filter": "data.body.total > 100",
     "target_url": "http://127.0.0.1:9/billing", "headers": {"x-sub": "1"}},
    {"name": "audit", "topic": "#", "target_url": "http://127.0.0.1:9/audit", "envelope": True},
]


class SeedTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()

    def seed(self, content, name="subscribers.json"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return self.run_seed(path), path

    def run_seed(self, path):
        return self.run_cli("seed", path, env={"SWITCHYARD_HUB_URL": self.hub.url(""),
                                               "SWITCHYARD_ADMIN_TOKEN": self.admin_token})

    def apply(self, entries):
        result, _ = self.seed(entries)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return self.stored()

    def stored(self):
        resp = self.hub.admin("GET", "/v1/subscribers")
        self.assertEqual(resp.status, 200, resp)
        return {s["name"]: s for s in items_of(resp.json)}

    def test_seed_creates_the_subscribers_by_name(self):
        subs = self.apply(SEED)
        self.assertEqual(sorted(subs), ["audit", "billing"])
        self.assertEqual(subs["billing"]["filter"], "data.body.total > 100")
        self.assertEqual(subs["billing"]["headers"], {"x-sub": "1"})
        self.assertIs(subs["audit"]["envelope"], True)
        self.assertTrue(all(s["id"].startswith("sub_") for s in subs.values()))

    def test_applying_twice_keeps_ids_and_count(self):
        first = self.apply(SEED)
        second = self.apply(SEED)
        self.assertEqual({n: s["id"] for n, s in second.items()}, {n: s["id"] for n, s in first.items()})

    def test_changed_entry_updates_that_subscriber(self):
        first = self.apply(SEED)
        changed = [dict(SEED[0], target_url="http://127.0.0.1:9/billing-v2"), SEED[1]]
        second = self.apply(changed)
        self.assertEqual(second["billing"]["id"], first["billing"]["id"])
        self.assertEqual(second["billing"]["target_url"], "http://127.0.0.1:9/billing-v2")
        unchanged = lambda s: {k: v for k, v in s.items() if not k.startswith("updated")}  # noqa: E731
        self.assertEqual(unchanged(second["audit"]), unchanged(first["audit"]))

    def test_seeded_subscriber_receives_events(self):
        self.apply(SEED)
        resp = self.hub.publish("orders.created", {"body": {"total": 500}})
        self.assertEqual(resp.json["matched"], 2)

    def assertRefusedFile(self, content, entry=None, field=None):
        """Non-zero exit, a message naming the file (and the entry: by name or by position, and the
        field), and nothing applied."""
        result, _ = self.seed(content, name="broken-seed.json")
        output = result.stdout + result.stderr
        self.assertNotEqual(result.returncode, 0, output)
        self.assertIn("broken-seed.json", output)
        if entry is not None:
            name, index = entry
            by_position = r"(entry|index|item|#|\[)\s*(%d|%d)\b" % (index, index + 1)
            self.assertTrue(name in output or re.search(by_position, output), output)
        if field is not None:
            self.assertIn(field, output)
        self.assertEqual(self.stored(), {}, "a refused seed file applied something")

    def test_file_that_is_not_json_is_refused(self):
        self.assertRefusedFile('[{"name": "x", ')

    def test_file_that_is_not_a_list_is_refused(self):
        self.assertRefusedFile(SEED[0])

    def test_entry_missing_target_url_is_refused_and_nothing_is_applied(self):
        broken = {"name": "broken-entry", "topic": "orders.*"}
        self.assertRefusedFile([SEED[0], broken], entry=("broken-entry", 1), field="target_url")

    def test_entry_with_invalid_filter_is_refused_and_nothing_is_applied(self):
        broken = dict(SEED[1], name="bad-filter", filter="data.x >")
        self.assertRefusedFile([SEED[0], broken], entry=("bad-filter", 1), field="filter")

    def test_missing_file_is_refused(self):
        result = self.run_seed(os.path.join(self.tmp, "nope.json"))
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("nope.json", result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
