"""Secret rotation: POST /v1/subscribers/{id}/rotate-secret gives a new signing secret; during the grace
period deliveries carry two v1 signatures, one made with the new secret and one with the old, so a
receiver can switch at its own pace; no secret is ever shown again by GET."""
import json
import time
import unittest

from harness import SwitchyardCase, signers, verify_webhook, webhook_signatures

TOPIC = "rotation.test"
REFRESH_S = 1.0        # subscriber changes reach every worker within 250 ms (README); 4x that


class RotationTest(SwitchyardCase):
    def setUp(self):
        super().setUp()
        self.start_redis()
        self.hub = self.start_hub()
        self.worker = self.start_worker()
        self.rx = self.start_receiver()
        self.sub = self.create_subscriber(self.hub, name="rotating", topic=TOPIC, target_url=self.rx.url("/hooks"))

    def deliver(self, n):
        """Publishes one event and returns the request it led to."""
        resp = self.hub.publish(TOPIC, {"body": {"n": n}})
        self.assertEqual(resp.status, 202, resp)
        reqs = self.rx.wait_for_requests("/hooks", count=n)
        mine = [r for r in reqs if r.json() == {"n": n}]
        self.assertEqual(len(mine), 1, reqs)
        return mine[0]

    def rotate(self, key=None):
        resp = self.hub.admin("POST", "/v1/subscribers/%s/rotate-secret" % (key or self.sub["id"]))
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["id"], self.sub["id"], resp)
        self.assertTrue(resp.json["secret"].startswith("whsec_"), resp)
        self.assertNotIn("prev_secret", resp.json)      # the old secret is not echoed back
        return resp.json["secret"]

    def assertNoSecretShown(self, resp, *secrets_):
        self.assertEqual(resp.status, 200, resp)
        self.assertNotIn("secret", resp.json)
        self.assertNotIn("prev_secret", resp.json)
        for s in secrets_:
            self.assertNotIn(s, resp.text)
            self.assertNotIn(s[len("whsec_"):], resp.text)
        self.assertNotIn("whsec_", resp.text)

    def test_rotation_signs_with_new_and_old_secret(self):
        old = self.sub["secret"]
        before = self.deliver(1)
        self.assertEqual(len(webhook_signatures(before.headers)), 1, before.headers)
        self.assertEqual(signers([old], before.headers, before.body), [old])

        new = self.rotate()
        self.assertNotEqual(new, old)
        time.sleep(REFRESH_S)
        after = self.deliver(2)
        sigs = webhook_signatures(after.headers)
        self.assertEqual(len(sigs), 2, after.headers)
        self.assertTrue(all(s.startswith("v1,") for s in sigs), sigs)
        self.assertEqual(sorted(signers([new, old], after.headers, after.body)), sorted([new, old]),
                         "one signature must verify with the new secret and the other with the old")
        # an off-the-shelf verifier holding either secret accepts the delivery
        self.assertTrue(verify_webhook(new, after.headers, after.body))
        self.assertTrue(verify_webhook(old, after.headers, after.body))

        self.assertNoSecretShown(self.hub.admin("GET", "/v1/subscribers/" + self.sub["id"]), old, new)
        self.assertNoSecretShown(self.hub.admin("GET", "/v1/subscribers/rotating"), old, new)
        listed = self.hub.admin("GET", "/v1/subscribers")
        self.assertEqual(listed.status, 200, listed)
        for s in (old, new, "whsec_"):
            self.assertNotIn(s, listed.text)

    def test_rotating_again_signs_with_the_newest_secret(self):
        first = self.sub["secret"]
        second = self.rotate()
        third = self.rotate("rotating")               # by name works too
        self.assertEqual(len({first, second, third}), 3)
        time.sleep(REFRESH_S)
        req = self.deliver(1)
        who = signers([third, second, first], req.headers, req.body)
        self.assertIn(third, who, "the newest secret must sign")
        self.assertNotIn(None, who, "every signature must come from one of the subscriber's secrets")

    def test_rotate_secret_needs_admin_and_an_existing_subscriber(self):
        path = "/v1/subscribers/%s/rotate-secret" % self.sub["id"]
        resp = self.hub.request("POST", path, headers={"Authorization": "Bearer " + self.hub.token()})
        self.assertError(resp, 401)
        resp = self.hub.request("POST", path)
        self.assertError(resp, 401)
        self.assertError(self.hub.admin("POST", "/v1/subscribers/nope/rotate-secret"), 404, "not_found")
        resp = self.hub.admin("GET", path)
        self.assertError(resp, 405, "method_not_allowed")
        # none of that changed the secret
        time.sleep(REFRESH_S)
        req = self.deliver(1)
        self.assertEqual(signers([self.sub["secret"]], req.headers, req.body), [self.sub["secret"]])


if __name__ == "__main__":
    unittest.main()
