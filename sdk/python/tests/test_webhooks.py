"""verify_webhook and sign_webhook: the Standard Webhooks scheme, without a hub."""
import base64
import email.message
import hashlib
import hmac
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from switchyard import WebhookVerificationError, sign_webhook, verify_webhook  # noqa: E402

# The test vector published with the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def spec_headers(signature=SPEC_SIGNATURE, msg_id=SPEC_ID, timestamp=SPEC_TIMESTAMP):
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


class SpecVector(unittest.TestCase):
    def test_spec_vector_signature_is_computed_not_copied(self):
        # Computed here from first principles, independently of the SDK, then compared.
        key = base64.b64decode(SPEC_SECRET[len("whsec_"):])
        mac = hmac.new(key, b"%s.%d.%s" % (SPEC_ID.encode(), SPEC_TIMESTAMP, SPEC_BODY), hashlib.sha256)
        self.assertEqual("v1," + base64.b64encode(mac.digest()).decode(), SPEC_SIGNATURE)
        self.assertEqual(sign_webhook(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY), SPEC_SIGNATURE)

    def test_spec_vector_verifies_and_returns_the_parsed_body(self):
        body = verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)
        self.assertEqual(body, {"test": 2432232314})

    def test_secret_without_whsec_prefix_is_the_same_key(self):
        body = verify_webhook(SPEC_SECRET[len("whsec_"):], spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)
        self.assertEqual(body, {"test": 2432232314})

    def test_body_may_be_given_as_text(self):
        body = verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY.decode(), now=SPEC_TIMESTAMP)
        self.assertEqual(body["test"], 2432232314)


class Refusals(unittest.TestCase):
    def assertRefused(self, fragment, secret=SPEC_SECRET, headers=None, body=SPEC_BODY,
                      now=SPEC_TIMESTAMP, **kw):
        with self.assertRaises(WebhookVerificationError) as cm:
            verify_webhook(secret, spec_headers() if headers is None else headers, body, now=now, **kw)
        self.assertIn(fragment, cm.exception.reason)
        self.assertEqual(str(cm.exception), cm.exception.reason)

    def test_tampered_body_is_refused(self):
        self.assertRefused("no signature matches", body=b'{"test": 2432232315}')

    def test_reformatted_body_is_refused(self):
        self.assertRefused("no signature matches", body=b'{"test":2432232314}')

    def test_wrong_secret_is_refused(self):
        other = "whsec_" + base64.b64encode(b"another secret of 24 b!").decode()
        self.assertRefused("no signature matches", secret=other)

    def test_changed_message_id_is_refused(self):
        self.assertRefused("no signature matches", headers=spec_headers(msg_id="msg_other"))

    def test_timestamp_older_than_five_minutes_is_refused(self):
        self.assertRefused("too old", now=SPEC_TIMESTAMP + 301)

    def test_timestamp_more_than_five_minutes_ahead_is_refused(self):
        self.assertRefused("future", now=SPEC_TIMESTAMP - 301)

    def test_timestamp_within_five_minutes_either_way_is_accepted(self):
        for now in (SPEC_TIMESTAMP - 300, SPEC_TIMESTAMP + 300):
            self.assertEqual(verify_webhook(SPEC_SECRET, spec_headers(), SPEC_BODY, now=now)["test"],
                             2432232314)

    def test_tolerance_can_be_narrowed(self):
        self.assertRefused("too old", now=SPEC_TIMESTAMP + 11, tolerance=10)

    def test_timestamp_checked_against_the_clock_by_default(self):
        self.assertRefused("too old", now=None)

    def test_non_numeric_timestamp_is_refused(self):
        self.assertRefused("whole number", headers=spec_headers(timestamp="1614265330.5"))

    def test_missing_headers_are_named(self):
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            headers = spec_headers()
            del headers[name]
            self.assertRefused("missing " + name, headers=headers)

    def test_signature_of_another_version_only_is_refused(self):
        self.assertRefused("no v1 signature", headers=spec_headers(signature="v1a," + SPEC_SIGNATURE[3:]))

    def test_conflicting_duplicate_id_headers_are_refused(self):
        pairs = list(spec_headers().items()) + [("Webhook-Id", "msg_other")]
        self.assertRefused("more than one webhook-id", headers=pairs)

    def test_parsed_json_instead_of_raw_body_is_a_type_error(self):
        with self.assertRaises(TypeError):
            verify_webhook(SPEC_SECRET, spec_headers(), {"test": 2432232314}, now=SPEC_TIMESTAMP)

    def test_malformed_secret_is_a_value_error(self):
        with self.assertRaises(ValueError):
            verify_webhook("whsec_not base64!", spec_headers(), SPEC_BODY, now=SPEC_TIMESTAMP)


class HeaderShapes(unittest.TestCase):
    def verify(self, headers):
        return verify_webhook(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP)

    def test_header_names_are_case_insensitive(self):
        self.assertTrue(self.verify({"Webhook-ID": SPEC_ID, "WEBHOOK-TIMESTAMP": str(SPEC_TIMESTAMP),
                                     "Webhook-Signature": SPEC_SIGNATURE}))

    def test_list_of_pairs(self):
        self.assertTrue(self.verify(list(spec_headers().items())))

    def test_http_server_message_object(self):
        msg = email.message.Message()
        for k, v in spec_headers().items():
            msg[k.title()] = v
        self.assertTrue(self.verify(msg))

    def test_asgi_byte_pairs(self):
        self.assertTrue(self.verify([(k.encode(), v.encode()) for k, v in spec_headers().items()]))

    def test_any_one_of_several_space_separated_signatures_is_enough(self):
        wrong = "v1," + base64.b64encode(b"x" * 32).decode()
        for sig in ("%s %s" % (wrong, SPEC_SIGNATURE), "v2,abc %s %s" % (SPEC_SIGNATURE, wrong)):
            self.assertTrue(self.verify(spec_headers(signature=sig)))

    def test_signatures_split_across_repeated_headers(self):
        wrong = "v1," + base64.b64encode(b"x" * 32).decode()
        pairs = [("webhook-id", SPEC_ID), ("webhook-timestamp", str(SPEC_TIMESTAMP)),
                 ("webhook-signature", wrong), ("webhook-signature", SPEC_SIGNATURE)]
        self.assertTrue(self.verify(pairs))

    def test_only_wrong_signatures_are_refused(self):
        wrong = "v1," + base64.b64encode(b"x" * 32).decode()
        with self.assertRaises(WebhookVerificationError):
            self.verify(spec_headers(signature=wrong + " " + wrong))


if __name__ == "__main__":
    unittest.main()
