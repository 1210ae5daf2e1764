"""Redis over TLS (rediss://): a private redis-server that speaks only TLS, certificates made for the
test with the openssl CLI. Hub and worker deliver through it; a certificate that does not verify, a
name it does not carry, or a missing client certificate make /readyz say why; bad TLS settings stop
start-up; a Redis restart is survived."""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import RedisServer, SwitchyardCase, _resp_read, free_port, http_request, wait_for

ORDER = {"body": {"id": 7}}


def resp_command(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


class Certs:
    """A CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and an unrelated
    second CA, as PEM files in dir."""

    def __init__(self, dir_):
        self.dir = dir_
        for ca in ("ca", "other-ca"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=switchyard test %s" % ca, "-keyout", ca + ".key", "-out", ca + ".crt", cwd=dir_)
        with open(os.path.join(dir_, "server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self._issue("server", "/CN=redis test server", "server.ext")
        self._issue("client", "/CN=switchyard test client", None)

    def _issue(self, name, subject, ext):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", name + ".key",
                "-out", name + ".csr", cwd=self.dir)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", name + ".crt",
                *(["-extfile", ext] if ext else []), cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)


class TlsRedis(RedisServer):
    """The harness's private redis-server, accepting TLS only (--port 0). auth_clients "yes"
    requires a client certificate signed by the test CA."""

    def __init__(self, workdir, certs, auth_clients="no", password=None, appendonly="no"):
        super().__init__(workdir, appendonly=appendonly)
        self.certs = certs
        self.password = password
        self.options.update({"tls-port": self.port, "port": 0,   # the last --port wins
                             "tls-cert-file": certs.path("server.crt"),
                             "tls-key-file": certs.path("server.key"),
                             "tls-ca-cert-file": certs.path("ca.crt"),
                             "tls-auth-clients": auth_clients})
        if password:
            self.options["requirepass"] = password

    @property
    def url(self):
        auth = ":%s@" % self.password if self.password else ""
        return "rediss://%s127.0.0.1:%d/0" % (auth, self.port)

    def cmd(self, *args):
        """One command over TLS (Python's ssl, with the client certificate; AUTH first if Redis has
        a password) and its decoded reply."""
        ctx = ssl.create_default_context(cafile=self.certs.path("ca.crt"))
        ctx.load_cert_chain(self.certs.path("client.crt"), self.certs.path("client.key"))
        commands = ([("AUTH", self.password)] if self.password else []) + [args]
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"".join(resp_command(c) for c in commands))
                with s.makefile("rb") as f:
                    return [_resp_read(f) for _ in commands][-1]


class RedisTlsTest(SwitchyardCase):
    @classmethod
    def setUpClass(cls):
        cls.cert_dir = tempfile.mkdtemp(prefix="sy-it-certs-")
        cls.certs = Certs(cls.cert_dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.cert_dir, True)

    def start_tls_redis(self, **kw):
        r = TlsRedis(self.tmp, self.certs, **kw)
        self.addCleanup(r.stop)
        r.start()
        self.processes.append(r.process)
        self.redis = r
        return r

    def tls_env(self, **extra):
        env = {"SWITCHYARD_REDIS_TLS_CA": self.certs.path("ca.crt")}
        env.update(extra)
        return env

    def readyz_error(self, hub, expect):
        """Waits until /readyz answers 503 with a message containing expect; returns the message."""
        def check():
            r = hub.request("GET", "/readyz")
            msg = (r.json or {}).get("error", {}).get("message", "")
            return msg if r.status == 503 and expect in msg else None
        return wait_for(check, timeout=10, message="/readyz 503 naming %r" % expect)

    def start_unready_hub(self, **env):
        """A hub that cannot reach Redis: waits only until it serves /healthz."""
        hub = self.start_hub(ready=False, **env)
        wait_for(lambda: hub.request("GET", "/healthz", timeout=2).status == 200, timeout=15,
                 message="the hub to serve /healthz")
        return hub

    def publish_when_ready(self, hub):
        return wait_for(lambda: (lambda r: r.json if r.status == 202 else None)(
            hub.publish("orders.created", ORDER)), timeout=15, message="the hub to take events")

    def test_hub_and_worker_deliver_over_rediss_with_a_password(self):
        self.start_tls_redis(password="s3cret-tls")
        hub = self.start_hub(**self.tls_env())
        self.start_worker(**self.tls_env())
        rx = self.start_receiver()
        self.assertEqual(hub.request("GET", "/readyz").status, 200)
        self.create_subscriber(hub, topic="orders.created", target_url=rx.url("/hooks"))
        event = self.publish_when_ready(hub)
        self.assertEqual(event["matched"], 1)
        req = rx.wait_for_requests("/hooks", timeout=15)[0]
        self.assertEqual(req.json(), ORDER["body"])
        self.wait_for_job_state(hub, event["id"], "delivered")

    def test_a_server_certificate_from_another_ca_is_named_in_readyz(self):
        self.start_tls_redis()
        hub = self.start_unready_hub(SWITCHYARD_REDIS_TLS_CA=self.certs.path("other-ca.crt"))
        msg = self.readyz_error(hub, "certificate verify failed")
        self.assertIn("TLS handshake with Redis at 127.0.0.1:%d failed" % self.redis.port, msg)
        self.assertEqual(hub.request("GET", "/healthz").status, 200)
        self.assertEqual(hub.publish("orders.created", ORDER).status, 503)

    def test_the_server_certificate_must_carry_the_name(self):
        self.start_tls_redis()
        # the URL's host is checked (a DNS name here) ...
        self.start_hub(SWITCHYARD_REDIS_URL="rediss://localhost:%d/0" % self.redis.port,
                       **self.tls_env())
        # ... or the name given in redis-tls-servername
        hub = self.start_unready_hub(**self.tls_env(SWITCHYARD_REDIS_TLS_SERVERNAME="redis.example.com"))
        self.readyz_error(hub, "hostname mismatch")

    def test_mutual_tls_needs_the_client_certificate(self):
        self.start_tls_redis(auth_clients="yes")
        hub = self.start_hub(**self.tls_env(SWITCHYARD_REDIS_TLS_CERT=self.certs.path("client.crt"),
                                            SWITCHYARD_REDIS_TLS_KEY=self.certs.path("client.key")))
        self.publish_when_ready(hub)
        without = self.start_unready_hub(**self.tls_env())
        msg = self.readyz_error(without, "client certificate")
        self.assertIn("Redis at 127.0.0.1:%d" % self.redis.port, msg)

    def test_bad_tls_settings_stop_start_up(self):
        ca, crt, key = (self.certs.path(n) for n in ("ca.crt", "client.crt", "client.key"))
        url = "rediss://127.0.0.1:%d/0" % free_port()
        cases = [
            ("cert without key", {"SWITCHYARD_REDIS_TLS_CERT": crt}, "SWITCHYARD_REDIS_TLS_KEY"),
            ("key without cert", {"SWITCHYARD_REDIS_TLS_KEY": key}, "SWITCHYARD_REDIS_TLS_CERT"),
            ("unreadable CA", {"SWITCHYARD_REDIS_TLS_CA": self.certs.path("missing.crt")},
             "SWITCHYARD_REDIS_TLS_CA"),
            ("CA with a plain URL", {"SWITCHYARD_REDIS_TLS_CA": ca,
                                     "SWITCHYARD_REDIS_URL": "redis://127.0.0.1:6379/0"}, "rediss://"),
            ("CA file without a certificate", {"SWITCHYARD_REDIS_TLS_CA": self.certs.path("server.ext")},
             "CA bundle"),
            ("key of another certificate", {"SWITCHYARD_REDIS_TLS_CERT": crt,
                                            "SWITCHYARD_REDIS_TLS_KEY": self.certs.path("server.key")},
             "does not belong"),
        ]
        for name, env, expect in cases:
            for verb in ("hub", "worker"):
                with self.subTest(name, verb=verb):
                    settings = {"SWITCHYARD_REDIS_URL": url, "SWITCHYARD_JWT_SECRET": self.jwt_secret,
                                "SWITCHYARD_LISTEN": "127.0.0.1:%d" % free_port(),
                                "SWITCHYARD_WORKER_LISTEN": "127.0.0.1:%d" % free_port()}
                    settings.update(env)
                    res = self.run_cli(verb, env=settings)
                    self.assertEqual(res.returncode, 2, res)
                    self.assertIn(expect, res.stdout + res.stderr)

    def test_hub_and_worker_reconnect_after_a_redis_restart(self):
        self.start_tls_redis(appendonly="yes")
        hub = self.start_hub(**self.tls_env())
        self.start_worker(**self.tls_env())
        rx = self.start_receiver()
        self.create_subscriber(hub, topic="orders.created", target_url=rx.url("/hooks"))
        self.publish_when_ready(hub)
        rx.wait_for_requests("/hooks", count=1, timeout=15)
        self.redis.restart()   # same TLS port; the AOF keeps the subscriber
        self.publish_when_ready(hub)
        rx.wait_for_requests("/hooks", count=2, timeout=15)
        # each HTTP thread's connection finds out on its next use, then reconnects
        wait_for(lambda: http_request("GET", hub.url("/readyz")).status == 200, timeout=10,
                 message="/readyz 200 after the restart")


if __name__ == "__main__":
    unittest.main()
