"""sign_token: HS256 publisher tokens as the hub checks them."""
import base64
import hashlib
import hmac
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from switchyard import sign_token  # noqa: E402


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode(token, secret):
    """(header, claims) of a token whose HS256 signature checks out with secret."""
    head, claims, sig = token.split(".")
    expected = hmac.new(secret.encode(), ("%s.%s" % (head, claims)).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, b64url_decode(sig)):
        raise AssertionError("signature does not verify")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(claims))


class SignToken(unittest.TestCase):
    def test_token_is_hs256_and_verifies_with_the_secret(self):
        header, claims = decode(sign_token("s3cret", now=1000), "s3cret")
        self.assertEqual(header, {"alg": "HS256", "typ": "JWT"})
        self.assertEqual(claims, {"iat": 1000, "exp": 4600})

    def test_wrong_secret_does_not_verify(self):
        with self.assertRaises(AssertionError):
            decode(sign_token("s3cret"), "other")

    def test_topics_claim_limits_the_token(self):
        _, claims = decode(sign_token("k", topics=["orders.*", "billing.#"]), "k")
        self.assertEqual(claims["topics"], ["orders.*", "billing.#"])

    def test_a_single_topic_string_is_one_pattern(self):
        _, claims = decode(sign_token("k", topics="orders.*"), "k")
        self.assertEqual(claims["topics"], ["orders.*"])

    def test_ttl_sets_exp_and_none_means_no_expiry(self):
        _, claims = decode(sign_token("k", ttl=60, now=50), "k")
        self.assertEqual(claims["exp"], 110)
        _, claims = decode(sign_token("k", ttl=None), "k")
        self.assertNotIn("exp", claims)

    def test_sub_and_extra_claims(self):
        _, claims = decode(sign_token("k", sub="checkout", claims={"tenant": "acme"}), "k")
        self.assertEqual((claims["sub"], claims["tenant"]), ("checkout", "acme"))

    def test_empty_secret_is_refused(self):
        with self.assertRaises(ValueError):
            sign_token("")

    def test_no_padding_in_any_part(self):
        self.assertNotIn("=", sign_token("k", topics=["a"], sub="x" * 7))


if __name__ == "__main__":
    unittest.main()
