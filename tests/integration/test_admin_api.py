"""The subscriber admin API: credentials, validation, CRUD, upsert by name, and propagation to every
hub."""
import base64
import unittest
import urllib.parse

from harness import SwitchyardCase, items_of, wait_for

BASE = {"topic": "orders.*", "target_url": "http://127.0.0.1:9/hooks"}


class AdminApiTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()

    def create(self, **fields):
        return self.create_subscriber(self.hub, **dict(BASE, **fields))

    def names(self, resp):
        self.assertEqual(resp.status, 200, resp)
        return sorted(s["name"] for s in items_of(resp.json))

    # credentials ------------------------------------------------------------------------------------

    def test_admin_api_without_token_is_401(self):
        for method, path, body in (("GET", "/v1/subscribers", None), ("POST", "/v1/subscribers", BASE)):
            with self.subTest(method=method):
                resp = self.hub.admin(method, path, body, headers={"Authorization": None})
                self.assertError(resp, 401, "unauthorized")

    def test_admin_api_with_wrong_token_is_401(self):
        resp = self.hub.admin("GET", "/v1/subscribers", headers={"Authorization": "Bearer nope"})
        self.assertError(resp, 401, "unauthorized")

    def test_publisher_jwt_is_not_an_admin_credential(self):
        resp = self.hub.admin("POST", "/v1/subscribers", BASE,
                              headers={"Authorization": "Bearer " + self.hub.token()})
        self.assertIn(resp.status, (401, 403), resp)
        self.assertError(resp, resp.status)
        self.assertEqual(items_of(self.hub.admin("GET", "/v1/subscribers").json), [])

    # create and validation --------------------------------------------------------------------------

    def test_create_answers_201_with_id_secret_and_fields(self):
        sub = self.create(name="billing", filter="data.body.total > 100", headers={"x-sub": "1"},
                          discard_codes=[400, 422], max_attempts=5)
        self.assertTrue(sub["id"].startswith("sub_"), sub)
        self.assertTrue(sub["secret"].startswith("whsec_"), sub)
        self.assertGreaterEqual(len(base64.b64decode(sub["secret"][len("whsec_"):], validate=True)), 16)
        for key, value in (("name", "billing"), ("topic", "orders.*"), ("filter", "data.body.total > 100"),
                           ("target_url", BASE["target_url"]), ("headers", {"x-sub": "1"}),
                           ("discard_codes", [400, 422]), ("max_attempts", 5), ("enabled", True),
                           ("envelope", False)):
            self.assertEqual(sub.get(key), value, key)
        self.assertIsNone(sub.get("method"))

    def test_create_fills_documented_defaults(self):
        sub = self.create()
        self.assertEqual(sub["max_attempts"], 26)
        self.assertEqual(sub["timeout_ms"], 10000)
        self.assertIs(sub["enabled"], True)

    def test_each_subscriber_gets_its_own_id_and_secret(self):
        a, b = self.create(name="a"), self.create(name="b")
        self.assertNotEqual(a["id"], b["id"])
        self.assertNotEqual(a["secret"], b["secret"])

    def test_missing_topic_is_400_naming_it(self):
        resp = self.hub.admin("POST", "/v1/subscribers", {"target_url": BASE["target_url"]})
        self.assertIn("topic", self.assertError(resp, 400)["message"])

    def test_missing_target_url_is_400_naming_it(self):
        resp = self.hub.admin("POST", "/v1/subscribers", {"topic": "orders.*"})
        self.assertIn("target_url", self.assertError(resp, 400)["message"])

    def test_invalid_filter_is_400_with_lua_message_and_position(self):
        resp = self.hub.admin("POST", "/v1/subscribers", dict(BASE, filter="data.x >"))
        message = self.assertError(resp, 400)["message"]
        self.assertIn("filter", message.lower())
        self.assertRegex(message, r":\d+:", "the Lua message with its line position")
        self.assertIn("near", message)

    def test_invalid_topic_pattern_is_400(self):
        for topic in ("orders.*x", "orders..created", "or#ders", "", "orders.", "a" * 256):
            with self.subTest(topic=topic):
                resp = self.hub.admin("POST", "/v1/subscribers", dict(BASE, topic=topic))
                self.assertIn("topic", self.assertError(resp, 400)["message"])

    def test_non_http_target_url_is_400(self):
        for url in ("ftp://127.0.0.1/x", "file:///etc/passwd", "not a url", "http://"):
            with self.subTest(url=url):
                resp = self.hub.admin("POST", "/v1/subscribers", dict(BASE, target_url=url))
                self.assertIn("url", self.assertError(resp, 400)["message"].lower())

    def test_https_target_url_is_accepted(self):
        self.create(target_url="https://example.com/hooks/{order_id}")

    def test_duplicate_name_is_409_conflict(self):
        self.create(name="billing")
        resp = self.hub.admin("POST", "/v1/subscribers", dict(BASE, name="billing"))
        self.assertError(resp, 409, "conflict")
        self.assertEqual(len(items_of(self.hub.admin("GET", "/v1/subscribers").json)), 1)

    def test_refused_create_stores_nothing(self):
        self.hub.admin("POST", "/v1/subscribers", dict(BASE, filter="data.x >"))
        self.assertEqual(items_of(self.hub.admin("GET", "/v1/subscribers").json), [])

    # read -------------------------------------------------------------------------------------------

    def test_list_returns_every_subscriber(self):
        self.create(name="a")
        self.create(name="b", topic="payments.settled")
        self.assertEqual(self.names(self.hub.admin("GET", "/v1/subscribers")), ["a", "b"])

    def test_list_filters_by_topic(self):
        self.create(name="orders", topic="orders.created")
        self.create(name="payments", topic="payments.settled")
        q = urllib.parse.urlencode({"topic": "orders.created"})
        self.assertEqual(self.names(self.hub.admin("GET", "/v1/subscribers?" + q)), ["orders"])

    def test_get_by_id_returns_the_subscriber(self):
        sub = self.create(name="billing", filter="data.a == 1")
        resp = self.hub.admin("GET", "/v1/subscribers/" + sub["id"])
        self.assertEqual(resp.status, 200, resp)
        for key in ("id", "name", "topic", "filter", "target_url"):
            self.assertEqual(resp.json[key], sub[key], key)

    def test_secret_is_shown_only_at_creation(self):
        sub = self.create(name="billing")
        for path in ("/v1/subscribers", "/v1/subscribers/" + sub["id"]):
            with self.subTest(path=path):
                resp = self.hub.admin("GET", path)
                self.assertEqual(resp.status, 200, resp)
                self.assertNotIn(sub["secret"].encode(), resp.body)
                self.assertNotIn(sub["secret"][len("whsec_"):].encode(), resp.body)

    def test_unknown_subscriber_is_404(self):
        self.assertError(self.hub.admin("GET", "/v1/subscribers/sub_doesnotexist"), 404, "not_found")

    # update -----------------------------------------------------------------------------------------

    def test_patch_changes_only_the_given_fields(self):
        sub = self.create(name="billing", filter="data.a == 1", headers={"x-sub": "1"})
        resp = self.hub.admin("PATCH", "/v1/subscribers/" + sub["id"], {"filter": "data.a == 2"})
        self.assertEqual(resp.status, 200, resp)
        got = self.hub.admin("GET", "/v1/subscribers/" + sub["id"]).json
        self.assertEqual(got["filter"], "data.a == 2")
        for key in ("id", "name", "topic", "target_url", "headers", "max_attempts"):
            self.assertEqual(got[key], sub[key], key)

    def test_patch_with_invalid_filter_is_400_and_keeps_the_old_one(self):
        sub = self.create(filter="data.a == 1")
        resp = self.hub.admin("PATCH", "/v1/subscribers/" + sub["id"], {"filter": "data.a =="})
        self.assertError(resp, 400)
        self.assertEqual(self.hub.admin("GET", "/v1/subscribers/" + sub["id"]).json["filter"], "data.a == 1")

    def test_put_with_an_invalid_name_in_the_path_is_400(self):
        resp = self.hub.admin("PUT", "/v1/subscribers/billing%20big",
                              {"topic": "orders.*", "target_url": "http://127.0.0.1:9/h"})
        self.assertError(resp, 400, "invalid_subscriber")
        self.assertIn("name", resp.json["error"]["message"])
        self.assertEqual(items_of(self.hub.admin("GET", "/v1/subscribers").json), [])

    def test_put_by_name_creates_then_updates_the_same_subscriber(self):
        body = dict(BASE, name="billing")
        created = self.hub.admin("PUT", "/v1/subscribers/billing", body)
        self.assertEqual(created.status, 201, created)
        self.assertTrue(created.json["id"].startswith("sub_"))
        self.assertTrue(created.json["secret"].startswith("whsec_"))
        updated = self.hub.admin("PUT", "/v1/subscribers/billing", dict(body, target_url="http://127.0.0.1:9/v2"))
        self.assertEqual(updated.status, 200, updated)
        self.assertEqual(updated.json["id"], created.json["id"])
        got = self.hub.admin("GET", "/v1/subscribers/" + created.json["id"]).json
        self.assertEqual(got["target_url"], "http://127.0.0.1:9/v2")
        self.assertEqual(self.names(self.hub.admin("GET", "/v1/subscribers")), ["billing"])

    # delete -----------------------------------------------------------------------------------------

    def test_delete_answers_204_and_the_subscriber_is_gone(self):
        sub = self.create()
        resp = self.hub.admin("DELETE", "/v1/subscribers/" + sub["id"])
        self.assertEqual(resp.status, 204, resp)
        self.assertEqual(resp.body, b"")
        self.assertError(self.hub.admin("GET", "/v1/subscribers/" + sub["id"]), 404, "not_found")
        self.assertError(self.hub.admin("DELETE", "/v1/subscribers/" + sub["id"]), 404, "not_found")

    # several hubs -----------------------------------------------------------------------------------

    def test_changes_reach_another_hub_within_a_second(self):
        other = self.start_hub(name="other-hub")
        matched = lambda: other.publish("orders.created", {"a": 1}).json["matched"]  # noqa: E731
        self.assertEqual(matched(), 0)
        sub = self.create()
        wait_for(lambda: matched() == 1, timeout=2.5, message="the other hub to see the new subscriber")
        self.hub.admin("PATCH", "/v1/subscribers/" + sub["id"], {"filter": "data.a == 2"})
        wait_for(lambda: matched() == 0, timeout=2.5, message="the other hub to see the new filter")
        self.hub.admin("DELETE", "/v1/subscribers/" + sub["id"])
        self.assertEqual(other.admin("GET", "/v1/subscribers/" + sub["id"]).status, 404)


if __name__ == "__main__":
    unittest.main()
