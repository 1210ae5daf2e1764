"""Filters as users write them, through POST /v1/filters/test and POST /v1/match: switch expressions,
nil-safe indexing, the sandbox, and that a broken or runaway filter harms nobody else."""
import time
import unittest

from harness import SwitchyardCase

ORDER = {"body": {"id": 7, "total": 120, "items": [10, 20]}, "headers": {"x-tenant": "acme"}, "note": None}


class FilterApiTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()

    def try_filter(self, expr, data=ORDER):
        resp = self.hub.admin("POST", "/v1/filters/test", {"filter": expr, "data": data})
        self.assertEqual(resp.status, 200, resp)
        return resp.json

    def assertMatches(self, expr, data=ORDER):
        self.assertEqual(self.try_filter(expr, data), {"match": True}, expr)

    def assertNoMatch(self, expr, data=ORDER):
        result = self.try_filter(expr, data)
        self.assertIs(result["match"], False, expr)
        self.assertFalse(result.get("error"), result)

    def assertFilterError(self, expr, data=ORDER):
        result = self.try_filter(expr, data)
        self.assertIs(result["match"], False, expr)
        self.assertTrue(result.get("error"), result)
        return result["error"]

    def test_filter_test_needs_the_admin_credential(self):
        resp = self.hub.admin("POST", "/v1/filters/test", {"filter": "true", "data": {}},
                              headers={"Authorization": None})
        self.assertError(resp, 401, "unauthorized")

    def test_expression_over_data_matches_or_not(self):
        self.assertMatches("data.body.total > 100")
        self.assertNoMatch("data.body.total > 200")

    def test_empty_filter_always_matches(self):
        self.assertMatches("")

    def test_chunk_with_return_is_accepted(self):
        self.assertMatches("local t = data.body.total\nreturn t > 100 and t < 200")

    def test_switch_expression_works_verbatim(self):
        expr = 'data["body"]["id"] == 7 and data["headers"]["x-tenant"] == "acme" or data["special_key"] == "special value"'
        self.assertMatches(expr)
        self.assertMatches(expr, {"special_key": "special value"})
        self.assertNoMatch(expr, {"body": {"id": 8}})

    def test_python_constants_exist(self):
        self.assertMatches("True")
        self.assertNoMatch("False")
        self.assertMatches("data.note == None")

    def test_missing_keys_read_as_nil_without_error(self):
        self.assertMatches("data.body.a.b.c == nil")
        self.assertMatches("data.nothing == None", {})

    def test_null_can_be_told_from_absent(self):
        self.assertMatches("data.note == nil")    # JSON null reads as nil
        # The contract names no helper; the hub's are has(table, key) and is_null(table, key).
        self.assertMatches('is_null(data, "note") and not is_null(data, "absent")')
        self.assertMatches('has(data, "note") and not has(data, "absent")')

    def test_integers_and_arrays_follow_json(self):
        self.assertMatches("math.type(data.body.id) == 'integer'")
        self.assertMatches("data.body.items[1] == 10 and #data.body.items == 2")

    def test_runtime_error_is_no_match_with_error(self):
        self.assertFilterError("data.body.total > 'x'")

    def test_sandbox_has_no_os_io_load_or_require(self):
        for expr in ("os.execute('true')", "io.open('/etc/passwd')", "load('return 1')()", "require('os')",
                     "dofile('/etc/passwd')", "string.dump(print)", "debug.getinfo(1)", "package.loadlib('x', 'y')",
                     "getmetatable('').__index", "collectgarbage('count')", "pcall(error)"):
            with self.subTest(expr=expr):
                self.assertFilterError(expr)

    def test_one_filter_cannot_change_what_the_next_one_sees(self):
        self.create_subscriber(self.hub, name="meddler", topic="orders.*", target_url="http://127.0.0.1:9/a",
                               filter="(function() data.body.total = 1; seen = 1; return true end)()")
        checker = self.create_subscriber(self.hub, name="checker", topic="orders.*",
                                         target_url="http://127.0.0.1:9/b",
                                         filter="data.body.total == 120 and seen == nil")
        for _ in range(3):
            resp = self.hub.admin("POST", "/v1/match", {"topic": "orders.created", "data": ORDER})
            self.assertEqual(resp.status, 200, resp)
            verdict = [s for s in resp.json["subscribers"] if s["id"] == checker["id"]][0]
            self.assertIs(verdict["receives"], True, verdict)

    def test_runaway_filter_is_stopped(self):
        for expr in ("(function() while true do end end)()", "#string.rep('x', 1 << 40) > 0",
                     "string.find(string.rep('a', 100000), '.-.-.-.-.-.-.-b')"):
            with self.subTest(expr=expr):
                started = time.monotonic()
                self.assertFilterError(expr)
                self.assertLess(time.monotonic() - started, 2.0)

    def test_match_explains_every_subscriber(self):
        big = self.create_subscriber(self.hub, name="big", topic="orders.*", filter="data.body.total > 100",
                                     target_url="http://127.0.0.1:9/a")
        other = self.create_subscriber(self.hub, name="payments", topic="payments.*",
                                       target_url="http://127.0.0.1:9/b")
        broken = self.create_subscriber(self.hub, name="broken", topic="orders.#",
                                        filter="data.body.total > 'x'", target_url="http://127.0.0.1:9/c")
        resp = self.hub.admin("POST", "/v1/match", {"topic": "orders.created", "data": ORDER})
        self.assertEqual(resp.status, 200, resp)
        by_id = {s["id"]: s for s in resp.json["subscribers"]}
        self.assertEqual(set(by_id), {big["id"], other["id"], broken["id"]})
        self.assertEqual((by_id[big["id"]]["topic_match"], by_id[big["id"]]["filter_match"],
                          by_id[big["id"]]["receives"]), (True, True, True))
        self.assertEqual((by_id[other["id"]]["topic_match"], by_id[other["id"]]["receives"]), (False, False))
        self.assertIs(by_id[broken["id"]]["receives"], False)
        self.assertTrue(by_id[broken["id"]]["error"])

    def test_broken_and_runaway_filters_do_not_affect_others_or_stall_publish(self):
        self.create_subscriber(self.hub, name="good", topic="orders.created", target_url="http://127.0.0.1:9/a")
        self.create_subscriber(self.hub, name="broken", topic="orders.created", filter="data.body.total > 'x'",
                               target_url="http://127.0.0.1:9/b")
        self.create_subscriber(self.hub, name="spinner", topic="orders.created",
                               filter="(function() while true do end end)()", target_url="http://127.0.0.1:9/c")
        for _ in range(20):
            started = time.monotonic()
            resp = self.hub.publish("orders.created", ORDER)
            self.assertEqual(resp.status, 202, resp)
            self.assertEqual(resp.json["matched"], 1)
            self.assertLess(time.monotonic() - started, 1.0)


if __name__ == "__main__":
    unittest.main()
