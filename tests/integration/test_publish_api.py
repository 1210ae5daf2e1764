"""POST /v1/publish (and the switch-compatible POST /publish): answers, refusals, and that a refused
request enqueues nothing and leaves the hub serving."""
import base64
import json
import time
import unittest

from harness import SwitchyardCase, http_request, mint_jwt, wait_for

GOOD_DATA = {"body": {"id": 7, "total": 120}}


class PublishApiTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        # No worker runs: jobs stay in Redis, so the tests can count them.
        self.sub = self.create_subscriber(self.hub, name="all-orders", topic="orders.#",
                                          target_url="http://127.0.0.1:9/hooks")

    def jobs(self):
        # The contract's job stream is "<prefix>:jobs"; counting every stream also catches jobs
        # written under another key, so "nothing enqueued" cannot pass by looking at the wrong key.
        return self.redis.cmd("XLEN", self.prefix + ":jobs"), self.redis.stream_entries()

    def post(self, body, token=None, content_type="application/json", path="/v1/publish", scheme="Bearer"):
        """POSTs a raw body. token=False sends no Authorization; content_type=None no Content-Type."""
        headers = {"Content-Type": content_type}
        if token is not False:
            headers["Authorization"] = "%s %s" % (scheme, token or self.hub.token())
        return self.hub.request("POST", path, body=body, headers=headers)

    def assertStillServes(self):
        """Nothing was enqueued so far, and the hub takes a good event (which is enqueued)."""
        self.assertEqual(self.jobs(), (0, 0), "a refused request enqueued something")
        good = self.hub.publish("orders.created", GOOD_DATA)
        self.assertEqual(good.status, 202, good)
        self.assertEqual(self.jobs(), (1, 1))

    def assertRefused(self, resp, status, code=None):
        """The error shape, nothing enqueued, and the hub still takes a good event afterwards."""
        err = self.assertError(resp, status, code)
        self.assertStillServes()
        return err

    # success ----------------------------------------------------------------------------------------

    def test_publish_answers_202_with_id_topic_and_matched(self):
        resp = self.hub.publish("orders.created", GOOD_DATA)
        self.assertEqual(resp.status, 202, resp)
        self.assertIsInstance(resp.json["id"], str)
        self.assertTrue(resp.json["id"])
        self.assertEqual(resp.json["topic"], "orders.created")
        self.assertEqual(resp.json["matched"], 1)
        self.assertEqual(self.jobs(), (1, 1))

    def test_publish_without_subscriber_matches_zero_and_enqueues_nothing(self):
        resp = self.hub.publish("payments.settled", {"x": 1})
        self.assertEqual(resp.status, 202, resp)
        self.assertEqual(resp.json["matched"], 0)
        self.assertEqual(self.jobs(), (0, 0))

    def test_each_publish_gets_its_own_event_id(self):
        ids = {self.hub.publish("orders.created", GOOD_DATA).json["id"] for _ in range(3)}
        self.assertEqual(len(ids), 3)

    def test_missing_content_type_is_accepted(self):
        resp = self.post(json.dumps({"topic": "orders.created", "data": GOOD_DATA}), content_type=None)
        self.assertEqual(resp.status, 202, resp)

    def test_json_with_charset_is_accepted(self):
        resp = self.post(json.dumps({"topic": "orders.created", "data": GOOD_DATA}),
                         content_type="application/json; charset=utf-8")
        self.assertEqual(resp.status, 202, resp)

    def test_token_within_exp_and_nbf_is_accepted(self):
        now = int(time.time())
        resp = self.hub.publish("orders.created", GOOD_DATA, token=self.hub.token(exp=now + 600, nbf=now - 10))
        self.assertEqual(resp.status, 202, resp)

    def test_topics_claim_allows_matching_topic(self):
        resp = self.hub.publish("orders.created", GOOD_DATA, token=self.hub.token(topics=["orders.*"]))
        self.assertEqual(resp.status, 202, resp)

    def test_idempotency_key_does_not_create_a_duplicate(self):
        headers = {"Idempotency-Key": "order-7-created"}
        first = self.hub.publish("orders.created", GOOD_DATA, headers=headers)
        second = self.hub.publish("orders.created", GOOD_DATA, headers=headers)
        self.assertEqual(first.status, 202, first)
        self.assertIn(second.status // 100, (2,), second)
        if second.json and "id" in second.json:
            self.assertEqual(second.json["id"], first.json["id"])
        self.assertEqual(self.jobs(), (1, 1))

    def test_switch_format_publish_answers_200_and_enqueues(self):
        payload = base64.b64encode(json.dumps(GOOD_DATA).encode()).decode()
        resp = self.post(json.dumps({"Topic": "orders.created", "Payload": payload}), path="/publish",
                         content_type=None, scheme="bearer")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(self.jobs(), (1, 1))

    # 400 --------------------------------------------------------------------------------------------

    def test_malformed_json_is_400_invalid_json(self):
        self.assertRefused(self.post('{"topic": "orders.created", "data": {'), 400, "invalid_json")

    def test_body_that_is_not_an_object_is_400(self):
        self.assertRefused(self.post('["orders.created"]'), 400)

    def test_missing_topic_is_400_invalid_request(self):
        err = self.assertRefused(self.post(json.dumps({"data": GOOD_DATA})), 400, "invalid_request")
        self.assertIn("topic", err["message"])

    def test_data_not_an_object_is_400_invalid_request(self):
        for data in ([1, 2], "text", 5):
            with self.subTest(data=data):
                err = self.assertError(self.post(json.dumps({"topic": "orders.created", "data": data})),
                                       400, "invalid_request")
                self.assertIn("data", err["message"])
        self.assertStillServes()

    def test_invalid_topic_is_400_invalid_topic(self):
        for topic in ("", "orders..created", "orders created", ".orders", "orders.", "a" * 256):
            with self.subTest(topic=topic):
                resp = self.post(json.dumps({"topic": topic, "data": GOOD_DATA}))
                self.assertError(resp, 400, "invalid_topic")
        self.assertStillServes()

    def test_topic_of_wrong_type_is_400_invalid_request(self):
        err = self.assertRefused(self.post(json.dumps({"topic": 42, "data": GOOD_DATA})), 400,
                                 "invalid_request")
        self.assertIn("topic", err["message"])

    def test_pattern_is_not_a_publish_topic(self):
        for topic in ("orders.*", "orders.#", "#"):
            with self.subTest(topic=topic):
                self.assertError(self.post(json.dumps({"topic": topic, "data": GOOD_DATA})), 400,
                                 "invalid_topic")
        self.assertStillServes()

    def test_switch_format_bad_base64_is_400(self):
        resp = self.post(json.dumps({"Topic": "orders.created", "Payload": "%%% not base64 %%%"}),
                         path="/publish", content_type=None, scheme="bearer")
        self.assertRefused(resp, 400)

    # 401 / 403 --------------------------------------------------------------------------------------

    def test_missing_token_is_401_unauthorized(self):
        self.assertRefused(self.post(json.dumps({"topic": "orders.created", "data": GOOD_DATA}), token=False),
                           401, "unauthorized")

    def test_malformed_token_is_401_unauthorized(self):
        for token in ("garbage", "a.b.c", "a.b", "..."):
            with self.subTest(token=token):
                self.assertError(self.post(json.dumps({"topic": "orders.created", "data": GOOD_DATA}),
                                           token=token), 401, "unauthorized")
        self.assertStillServes()

    def test_non_bearer_scheme_is_401_unauthorized(self):
        body = json.dumps({"topic": "orders.created", "data": GOOD_DATA})
        self.assertRefused(self.post(body, scheme="Basic"), 401, "unauthorized")

    def test_wrongly_signed_token_is_401_unauthorized(self):
        token = mint_jwt("not-the-hub-secret")
        self.assertRefused(self.hub.publish("orders.created", GOOD_DATA, token=token), 401, "unauthorized")

    def test_expired_token_is_401_unauthorized(self):
        token = self.hub.token(exp=int(time.time()) - 3600)
        self.assertRefused(self.hub.publish("orders.created", GOOD_DATA, token=token), 401, "unauthorized")

    def test_a_token_the_hub_has_seen_is_refused_once_it_expires(self):
        # the hub keeps a verified token's claims per thread; their exp must still be checked
        t = int(time.time())
        token = self.hub.token(exp=t - 26)   # 30 s of leeway: good until t + 4
        for _ in range(8):                   # enough requests to reach every HTTP thread
            resp = self.hub.publish("orders.created", GOOD_DATA, token=token)
            if time.time() >= t + 4:
                self.skipTest("the machine was too slow to publish within the token's last seconds")
            self.assertEqual(resp.status, 202, resp)
        time.sleep(max(0.0, t + 5 - time.time()))
        for _ in range(8):
            err = self.assertError(self.hub.publish("orders.created", GOOD_DATA, token=token), 401,
                                   "unauthorized")
            self.assertIn("expired", err["message"])
        self.assertEqual(self.hub.publish("orders.created", GOOD_DATA).status, 202)

    def test_token_not_yet_valid_is_401_unauthorized(self):
        token = self.hub.token(nbf=int(time.time()) + 3600)
        self.assertRefused(self.hub.publish("orders.created", GOOD_DATA, token=token), 401, "unauthorized")

    def test_alg_none_token_is_401_unauthorized(self):
        token = mint_jwt(self.jwt_secret, alg="none")
        self.assertRefused(self.hub.publish("orders.created", GOOD_DATA, token=token), 401, "unauthorized")

    def test_hs512_token_is_401_unauthorized(self):
        token = mint_jwt(self.jwt_secret, alg="HS512")
        self.assertRefused(self.hub.publish("orders.created", GOOD_DATA, token=token), 401, "unauthorized")

    def test_admin_token_cannot_publish(self):
        self.assertRefused(self.hub.publish("orders.created", GOOD_DATA, token=self.admin_token), 401,
                           "unauthorized")

    def test_topic_outside_topics_claim_is_403_forbidden(self):
        token = self.hub.token(topics=["payments.*"])
        self.assertRefused(self.hub.publish("orders.created", GOOD_DATA, token=token), 403, "forbidden")

    # 404 / 405 / 413 / 415 --------------------------------------------------------------------------

    def test_unknown_path_is_404_not_found(self):
        self.assertError(self.hub.request("GET", "/v1/nope"), 404, "not_found")
        self.assertRefused(self.post(json.dumps({"topic": "orders.created", "data": GOOD_DATA}),
                                     path="/v1/publishh"), 404, "not_found")

    def test_wrong_method_is_405_method_not_allowed(self):
        self.assertRefused(self.hub.request("GET", "/v1/publish"), 405, "method_not_allowed")

    def test_text_plain_is_415_unsupported_media_type(self):
        resp = self.post(json.dumps({"topic": "orders.created", "data": GOOD_DATA}), content_type="text/plain")
        self.assertRefused(resp, 415, "unsupported_media_type")

    def test_body_over_limit_is_413_payload_too_large(self):
        hub = self.start_hub(name="small-hub", SWITCHYARD_MAX_BODY=1024)
        small = {"topic": "orders.created", "data": {"pad": "x" * 800}}
        big = {"topic": "orders.created", "data": {"pad": "x" * 4000}}
        resp = http_request("POST", hub.url("/v1/publish"), json_body=big,
                            headers={"Authorization": "Bearer " + hub.token()})
        self.assertError(resp, 413, "payload_too_large")
        self.assertEqual(self.jobs(), (0, 0))
        resp = http_request("POST", hub.url("/v1/publish"), json_body=small,
                            headers={"Authorization": "Bearer " + hub.token()})
        self.assertEqual(resp.status, 202, resp)

    # Redis outage -----------------------------------------------------------------------------------

    def test_publish_is_503_while_redis_is_down_and_recovers(self):
        self.redis.stop()
        resp = self.hub.publish("orders.created", GOOD_DATA)
        self.assertError(resp, 503)
        self.assertEqual(self.hub.request("GET", "/healthz").status, 200)
        self.redis.start()  # same port, empty data set
        wait_for(lambda: self.hub.publish("orders.created", GOOD_DATA).status == 202, timeout=15,
                 message="publish to succeed after Redis came back")


if __name__ == "__main__":
    unittest.main()
