#!/usr/bin/env python3
"""A webhook receiver for trying Switchyard out: prints every delivery and checks its signature.

usage: python3 seeds/receiver.py [PORT] [SECRET ...]   (standard library only)
Without secrets it prints the signature headers unchecked.
"""
import base64
import hashlib
import hmac
import http.server
import json
import sys


def verify(secret, headers, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    want = base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    sigs = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if "," in s]
    return any(hmac.compare_digest(want, s) for s in sigs)


class Receiver(http.server.BaseHTTPRequestHandler):
    secrets = []

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        checked = ""
        if self.secrets:
            ok = any(verify(s, self.headers, body) for s in self.secrets)
            checked = " signature=" + ("valid" if ok else "INVALID")
        print(f"{self.command} {self.path} webhook-id={self.headers.get('webhook-id')} "
              f"attempt={self.headers.get('switchyard-attempt')}{checked}", flush=True)
        try:
            print("  " + json.dumps(json.loads(body)), flush=True)
        except ValueError:
            print("  " + body.decode(errors="replace"), flush=True)
        self.send_response(204)
        self.end_headers()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET = handle_any

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9900
    Receiver.secrets = sys.argv[2:]
    print(f"receiving webhooks on 127.0.0.1:{port}", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
