"""Shared pieces of the integration suite: real processes only.

A private redis-server, the real switchyard binary (hub and worker processes, the CLI), real HTTP
receivers, and the client-side helpers a user of the hub would write (JWT minting, an HTTP client that
does not raise on 4xx/5xx, Standard Webhooks verification). Python 3.11 standard library only.

Every process is started by a fixture that stops it by PID (SIGTERM, then SIGKILL after a timeout) in a
cleanup, whether the test passed or not. When a test fails, the logs of every process it started are
printed. Set SWITCHYARD_IT_VERBOSE=1 to print them always, SWITCHYARD_IT_KEEP=1 to keep the temp dirs.
"""
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

WAIT_LIMIT_S = 20.0        # no test waits longer than this for anything
STOP_TIMEOUT_S = 10.0      # SIGTERM grace before SIGKILL
HERE = os.path.dirname(os.path.abspath(__file__))


def switchyard_bin():
    """Path of the binary under test: $SWITCHYARD_BIN (set by ctest), else <repo>/build/switchyard."""
    path = os.environ.get("SWITCHYARD_BIN") or os.path.join(HERE, "..", "..", "build", "switchyard")
    if not os.access(path, os.X_OK):
        raise RuntimeError("switchyard binary not found: set SWITCHYARD_BIN (tried %s)" % path)
    return os.path.abspath(path)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GiveUp(AssertionError):
    """Raised by a polled predicate to stop waiting at once (e.g. the process it waits for died)."""


def wait_for(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Polls predicate() until it returns something truthy and returns that; fails the test after
    timeout seconds (capped at WAIT_LIMIT_S). Exceptions raised by predicate count as "not yet",
    except GiveUp, which ends the wait."""
    deadline = time.monotonic() + min(timeout, WAIT_LIMIT_S)
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as exc:  # noqa: BLE001 - polled conditions may fail while starting
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = " (last error: %r)" % (last_exc,) if last_exc else ""
            raise AssertionError("timed out after %.1f s waiting for %s%s" % (timeout, message, detail))
        time.sleep(interval)


def rand_token(n=24):
    return secrets.token_urlsafe(n)


# ---------------------------------------------------------------------------------------------------
# Redis: a raw-socket RESP client and a private server.

class RedisError(Exception):
    pass


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_resp_read(f) for _ in range(n)]
    raise RedisError("unexpected RESP reply %r" % line)


def redis_cmd(port, *args, timeout=5.0):
    """Sends one command to redis on 127.0.0.1:port and returns the decoded reply (bulk strings as
    bytes, status replies as str, integers as int, arrays as lists). Raises RedisError on -ERR."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(parts))
        with s.makefile("rb") as f:
            return _resp_read(f)


class ManagedProcess:
    """A subprocess with its output in files, stopped by PID."""

    def __init__(self, name, argv, env, workdir):
        self.name = name
        self.argv = argv
        self.env = env
        self.out_path = os.path.join(workdir, "%s.out.log" % name)
        self.err_path = os.path.join(workdir, "%s.err.log" % name)
        self.proc = None
        self.problems = []      # things that went wrong with the process itself (crash, hang, ...)
        self.killed = False     # kill9() was used on purpose
        self.stopped = False    # stop() was called since the last start()

    def start(self):
        self.killed = self.stopped = False
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, wait up to timeout, then SIGKILL. Returns the exit status. Records a problem if
        the process had died by itself, needed SIGKILL, or exited non-zero after SIGTERM."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        already_stopped, self.stopped = self.stopped, True
        if rc is not None:
            if not (self.killed or already_stopped):
                self.problems.append("%s had exited by itself with status %s" % (self.name, rc))
            return rc
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=5)
            self.problems.append("%s did not exit within %.0f s of SIGTERM (killed)" % (self.name, timeout))
            return rc
        if rc != 0:
            self.problems.append("%s exited with status %s after SIGTERM" % (self.name, rc))
        return rc

    def wait_exit(self, timeout=10.0):
        """Waits for a process that is meant to exit by itself; returns its status."""
        self.stopped = True
        return self.proc.wait(timeout=timeout)

    def kill9(self):
        """SIGKILL now, as a crash would."""
        self.killed = True
        if self.alive():
            self.proc.kill()
            self.proc.wait(timeout=5)

    def logs(self):
        text = []
        for path in (self.out_path, self.err_path):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if not data.strip():
                continue
            if len(data) > 20000:
                data = b"...[cut]...\n" + data[-20000:]
            text.append("----- %s -----\n%s" % (os.path.basename(path), data.decode(errors="replace")))
        return "\n".join(text)

    def sanitizer_report(self):
        """The first sanitizer report in the process's stderr, if any."""
        try:
            with open(self.err_path, "rb") as f:
                data = f.read().decode(errors="replace")
        except OSError:
            return None
        m = re.search(r"(ERROR: (Address|Leak|Thread)Sanitizer.*|.*runtime error: .*)", data)
        return m.group(0) if m else None


class RedisServer:
    """A private redis-server on a free port with its own data dir. Options are redis config
    directives (e.g. appendonly="yes")."""

    def __init__(self, workdir, **options):
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=workdir)
        self.port = free_port()
        self.options = {"save": "", "appendonly": "no"}
        self.options.update(options)
        self.process = None

    def start(self):
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--daemonize", "no"]
        for k, v in self.options.items():
            argv += ["--" + k, str(v)]
        if self.process is None:
            self.process = ManagedProcess("redis-%d" % self.port, argv, dict(os.environ), self.dir)
        self.process.start()
        wait_for(lambda: self._ping_or_fail(), timeout=10, message="redis-server to answer PING")
        return self

    def _ping_or_fail(self):
        if not self.process.alive():
            raise GiveUp("redis-server exited:\n" + self.process.logs())
        return self.cmd("PING") == "PONG"

    def stop(self):
        if self.process is not None:
            self.process.stop()

    def restart(self):
        """Stops and starts again on the same port and dir (data is lost unless persistence is on)."""
        self.stop()
        self.start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def cmd(self, *args):
        return redis_cmd(self.port, *args)

    def keys(self):
        out, cursor = [], "0"
        while True:
            cursor, batch = self.cmd("SCAN", cursor, "COUNT", "1000")
            out += [k.decode() for k in batch]
            cursor = cursor.decode()
            if cursor == "0":
                return sorted(set(out))

    def stream_entries(self):
        """Total entries in every stream key: jobs, whatever the implementation calls its streams."""
        total = 0
        for k in self.keys():
            if self.cmd("TYPE", k) == "stream":
                total += self.cmd("XLEN", k)
        return total


# ---------------------------------------------------------------------------------------------------
# HTTP client: never raises on 4xx/5xx.

class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers          # lower-cased names
        self.body = body                # bytes
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return "<Response %s %s>" % (self.status, self.text[:500])


def http_request(method, url, json_body=None, body=None, headers=None, timeout=10.0):
    """One request on a fresh connection. json_body is serialized and sent with Content-Type
    application/json; body (bytes/str) is sent as is with no Content-Type unless headers give one.
    A header value of None leaves that header out. http.client is used rather than urllib so that no
    Content-Type is ever added behind the caller's back."""
    parts = urllib.parse.urlsplit(url)
    hdrs = {}
    if json_body is not None:
        body = json.dumps(json_body)
        hdrs["Content-Type"] = "application/json"
    for k, v in (headers or {}).items():
        for existing in [h for h in hdrs if h.lower() == k.lower()]:
            del hdrs[existing]
        if v is not None:
            hdrs[k] = v
    if isinstance(body, str):
        body = body.encode()
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------------
# Tokens and signatures, as a publisher and a receiver would compute them.

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_jwt(secret, topics=None, exp=None, nbf=None, alg="HS256", claims=None, header=None):
    """A JWT for publishers. exp/nbf are epoch seconds. alg "HS256" (the only one the hub takes),
    "HS512" or "none" (unsigned) to make deliberately bad tokens; header overrides header fields."""
    payload = {"sub": "it-publisher", "iat": int(time.time())}
    if topics is not None:
        payload["topics"] = topics
    if exp is not None:
        payload["exp"] = exp
    if nbf is not None:
        payload["nbf"] = nbf
    payload.update(claims or {})
    hdr = {"alg": alg, "typ": "JWT"}
    hdr.update(header or {})
    signing_input = b64url(json.dumps(hdr).encode()) + "." + b64url(json.dumps(payload).encode())
    if alg == "none":
        return signing_input + "."
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    sig = hmac.new(secret.encode(), signing_input.encode(), digest).digest()
    return signing_input + "." + b64url(sig)


def webhook_signature(secret, msg_id, timestamp, body):
    """Standard Webhooks v1 signature of body (bytes) for a "whsec_<base64>" secret."""
    key = base64.b64decode(secret[len("whsec_"):] if secret.startswith("whsec_") else secret)
    mac = hmac.new(key, ("%s.%s." % (msg_id, timestamp)).encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_webhook(secret, headers, body):
    """True if one of the v1 signatures in headers["webhook-signature"] matches body."""
    expected = webhook_signature(secret, headers["webhook-id"], headers["webhook-timestamp"], body)
    return any(hmac.compare_digest(expected, sig) for sig in headers["webhook-signature"].split())


def webhook_signatures(headers):
    """The signatures in headers["webhook-signature"] (space-separated "v1,<base64>" entries)."""
    return headers["webhook-signature"].split()


def signers(secrets_, headers, body):
    """For each signature in headers["webhook-signature"], in order, the first of secrets_ that
    verifies it, or None: tells which secret made which signature."""
    out = []
    for sig in webhook_signatures(headers):
        match = None
        for secret in secrets_:
            expected = webhook_signature(secret, headers["webhook-id"], headers["webhook-timestamp"], body)
            if hmac.compare_digest(expected, sig):
                match = secret
                break
        out.append(match)
    return out


# ---------------------------------------------------------------------------------------------------
# Receiver: a real HTTP server recording every request, with programmable answers per path.

class Reply:
    def __init__(self, status=200, body=b"ok", headers=None, delay=0.0, abort=None):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = headers or {}
        self.delay = delay      # seconds to wait before answering
        # abort: misbehave instead of answering (after reading the whole request and the delay):
        #   "reset" - close with SO_LINGER 0, so the client gets a TCP RST and no response at all;
        #   "half"  - send half a status line ("HTTP/1.1 20"), then close the connection.
        if abort not in (None, "reset", "half"):
            raise ValueError("Reply(abort=...) must be None, 'reset' or 'half'")
        self.abort = abort


class Received:
    """One request as the receiver saw it."""

    def __init__(self, method, path, headers, body):
        self.method = method
        self.path = path                                   # raw, query included
        self.route = path.split("?", 1)[0]
        self.query = path.split("?", 1)[1] if "?" in path else ""
        self.headers = headers                             # lower-cased names
        self.body = body
        self.time = time.time()                            # arrival, epoch s
        self.answered = None                               # when the reply was sent, epoch s

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%s %s %r>" % (self.method, self.path, self.body[:200])


class Receiver:
    def __init__(self):
        self._lock = threading.Lock()
        self._requests = []
        self._routes = {}                 # route -> [list of one-shot replies, reply forever after]
        self._stopping = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                body = self._read_body()
                headers = {}
                for k, v in self.headers.items():
                    k = k.lower()
                    headers[k] = headers[k] + ", " + v if k in headers else v
                rec = Received(self.command, self.path, headers, body)
                reply = receiver._record_and_choose(rec)
                if reply.delay and receiver._stopping.wait(reply.delay):
                    self.close_connection = True
                    return
                if reply.abort:
                    self._abort(reply.abort)
                    return
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(reply.body)
                    self.wfile.flush()
                    rec.answered = time.time()
                except OSError:
                    self.close_connection = True

            def _abort(self, how):
                """Drops the connection without a proper response (see Reply.abort)."""
                self.close_connection = True
                try:
                    if how == "half":
                        self.wfile.write(b"HTTP/1.1 20")
                        self.wfile.flush()
                        time.sleep(0.05)
                    else:
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                   struct.pack("ii", 1, 0))
                    # the socket really closes only once no file object refers to it
                    self.rfile.close()
                    self.connection.close()
                except OSError:
                    pass

            def _read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, route, *replies, then=None):
        """Answers requests to route (path without query) with replies in order, then with `then`
        (default 200) forever. Replaces what was set for that route before."""
        with self._lock:
            self._routes[route] = [list(replies), then or Reply(200)]

    def _record_and_choose(self, rec):
        with self._lock:
            self._requests.append(rec)
            route = self._routes.get(rec.route)
            if route is None:
                return Reply(200)
            return route[0].pop(0) if route[0] else route[1]

    def requests(self, route=None):
        """Requests received so far, optionally only those to route (path without query)."""
        with self._lock:
            return [r for r in self._requests if route is None or r.route == route]

    def max_concurrency(self, route=None):
        """The most requests to route that were open at the same moment (answered ones only)."""
        events = []
        for r in self.requests(route):
            if r.answered is not None:
                events += [(r.time, 1), (r.answered, -1)]
        open_now = peak = 0
        for _, step in sorted(events, key=lambda e: (e[0], e[1])):
            open_now += step
            peak = max(peak, open_now)
        return peak

    def wait_for_requests(self, route=None, count=1, timeout=10.0, answered=False):
        """Waits until at least count requests reached route (and, with answered, all were answered);
        returns them all."""
        def enough():
            rs = self.requests(route)
            done = len(rs) >= count and (not answered or all(r.answered for r in rs))
            return rs if done else None
        return wait_for(enough, timeout=timeout, message="%d request(s) to %s" % (count, route or "the receiver"))


# ---------------------------------------------------------------------------------------------------
# Switchyard processes.

def switchyard_env(extra):
    """The inherited environment without any SWITCHYARD_*/SWITCH_* setting, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHYARD_", "SWITCH_"))}
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


class Hub:
    def __init__(self, workdir, redis, jwt_secret, admin_token, prefix, name="hub", port=None, **env):
        self.port = port or free_port()
        self.jwt_secret = jwt_secret
        self.admin_token = admin_token
        self.prefix = prefix
        settings = {
            "SWITCHYARD_LISTEN": "127.0.0.1:%d" % self.port,
            "SWITCHYARD_REDIS_URL": redis.url,
            "SWITCHYARD_JWT_SECRET": jwt_secret,
            "SWITCHYARD_ADMIN_TOKEN": admin_token,
            "SWITCHYARD_PREFIX": prefix,
        }
        settings.update(env)
        self.process = ManagedProcess(name, [switchyard_bin(), "hub"], switchyard_env(settings), workdir)

    def start(self, ready=True):
        self.process.start()
        if ready:
            wait_until_serving(self.process, self.url("/readyz"))
        return self

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def request(self, method, path, **kw):
        return http_request(method, self.url(path), **kw)

    def admin(self, method, path, json_body=None, **kw):
        headers = dict(kw.pop("headers", {}) or {})
        headers.setdefault("Authorization", "Bearer " + self.admin_token)
        return http_request(method, self.url(path), json_body=json_body, headers=headers, **kw)

    def token(self, **kw):
        return mint_jwt(self.jwt_secret, **kw)

    def publish(self, topic, data, token=None, headers=None, **fields):
        """POST /v1/publish {"topic", "data", **fields} with a valid token unless one is given."""
        body = {"topic": topic, "data": data}
        body.update(fields)
        hdrs = {"Authorization": "Bearer " + (token or self.token())}
        hdrs.update(headers or {})
        return http_request("POST", self.url("/v1/publish"), json_body=body, headers=hdrs)


class Worker:
    def __init__(self, workdir, redis, jwt_secret, admin_token, prefix, name="worker", **env):
        self.port = free_port()
        settings = {
            "SWITCHYARD_WORKER_LISTEN": "127.0.0.1:%d" % self.port,
            "SWITCHYARD_REDIS_URL": redis.url,
            "SWITCHYARD_JWT_SECRET": jwt_secret,
            "SWITCHYARD_ADMIN_TOKEN": admin_token,
            "SWITCHYARD_PREFIX": prefix,
            "SWITCHYARD_CONCURRENCY": 8,
            "SWITCHYARD_VISIBILITY_MS": 1500,
        }
        settings.update(env)
        self.process = ManagedProcess(name, [switchyard_bin(), "worker"], switchyard_env(settings), workdir)

    def start(self):
        self.process.start()
        wait_until_serving(self.process, self.url("/healthz"))
        return self

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)


def wait_until_serving(process, url, timeout=15.0):
    def ready():
        if not process.alive():
            raise GiveUp("%s exited with status %s before it was ready:\n%s"
                                 % (process.name, process.proc.returncode, process.logs()))
        try:
            return http_request("GET", url, timeout=2).status == 200
        except OSError:
            return False
    try:
        wait_for(ready, timeout=timeout, interval=0.05, message="%s at %s" % (process.name, url))
    except GiveUp:
        raise
    except AssertionError as exc:
        raise AssertionError("%s\n%s" % (exc, process.logs())) from None


# ---------------------------------------------------------------------------------------------------
# The base test case.

class SwitchyardCase(unittest.TestCase):
    """Gives each test a temp dir, secrets and a prefix, and fixtures that clean up after themselves:
    start_redis, start_hub, start_worker, start_receiver. Failing tests print every process's logs;
    a process that crashed, hung on SIGTERM or printed a sanitizer report fails the test."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sy-it-")
        if not os.environ.get("SWITCHYARD_IT_KEEP"):
            self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self._report_processes)
        self.processes = []
        self.jwt_secret = rand_token()
        self.admin_token = rand_token()
        self.prefix = "t" + secrets.token_hex(3)
        self.redis = None

    # fixtures ------------------------------------------------------------------------------------

    def start_redis(self, **options):
        r = RedisServer(self.tmp, **options)
        self.addCleanup(r.stop)
        r.start()
        self.processes.append(r.process)
        self.redis = r
        return r

    def start_hub(self, name=None, ready=True, port=None, **env):
        """A hub on this test's Redis; env adds or (with None) removes SWITCHYARD_* settings."""
        h = Hub(self.tmp, self.redis, self.jwt_secret, self.admin_token, self.prefix,
                name=name or "hub%d" % len(self.processes), port=port, **env)
        self.processes.append(h.process)
        self.addCleanup(h.process.stop)
        return h.start(ready=ready)

    def start_worker(self, name=None, **env):
        w = Worker(self.tmp, self.redis, self.jwt_secret, self.admin_token, self.prefix,
                   name=name or "worker%d" % len(self.processes), **env)
        self.processes.append(w.process)
        self.addCleanup(w.process.stop)
        return w.start()

    def start_receiver(self):
        rx = Receiver().start()
        self.addCleanup(rx.stop)
        return rx

    def run_cli(self, *args, env=None, timeout=20):
        """Runs `switchyard ARGS...` to completion; returns CompletedProcess (text output)."""
        return subprocess.run([switchyard_bin()] + list(args), env=switchyard_env(env or {}),
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def _failed(self):
        """True if this test (or one of its subtests) has failed so far. (Inside a cleanup,
        _outcome.success no longer tells: each cleanup runs as a fresh test part.)"""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        reported = getattr(result, "failures", []) + getattr(result, "errors", [])
        return any(t is self or getattr(t, "test_case", None) is self for t, _ in reported)

    def _report_processes(self):
        failed = self._failed()
        problems = []
        for p in self.processes:
            problems += p.problems
            report = p.sanitizer_report()
            if report:
                problems.append("%s: %s" % (p.name, report))
        if failed or problems or os.environ.get("SWITCHYARD_IT_VERBOSE"):
            for p in self.processes:
                sys.stderr.write("\n===== logs of %s (pid %s) =====\n%s\n"
                                 % (p.name, p.proc.pid if p.proc else "-", p.logs()))
        if problems:
            self.fail("process problems: " + "; ".join(problems))

    # assertions and shortcuts --------------------------------------------------------------------

    def assertError(self, resp, status, code=None):
        """resp is an error in the contract's shape: {"error": {"code", "message"}}."""
        self.assertEqual(resp.status, status, resp)
        self.assertTrue(resp.headers.get("content-type", "").startswith("application/json"), resp.headers)
        self.assertIsInstance(resp.json, dict, resp)
        err = resp.json.get("error")
        self.assertIsInstance(err, dict, resp)
        self.assertIsInstance(err.get("code"), str, resp)
        self.assertIsInstance(err.get("message"), str, resp)
        self.assertTrue(err["message"].strip(), resp)
        if code is not None:
            self.assertEqual(err["code"], code, resp)
        return err

    def create_subscriber(self, hub, **fields):
        resp = hub.admin("POST", "/v1/subscribers", fields)
        self.assertEqual(resp.status, 201, resp)
        return resp.json

    def event_jobs(self, hub, event_id):
        resp = hub.admin("GET", "/v1/events/" + event_id)
        self.assertEqual(resp.status, 200, resp)
        return resp.json["jobs"]

    def wait_for_job_state(self, hub, event_id, state, timeout=10.0):
        """Waits until the event's only job is in state; returns that job."""
        def check():
            jobs = self.event_jobs(hub, event_id)
            return jobs[0] if len(jobs) == 1 and jobs[0].get("state") == state else None
        try:
            return wait_for(check, timeout=timeout, message="job of %s in state %r" % (event_id, state))
        except AssertionError as exc:
            raise AssertionError("%s; last seen: %s" % (exc, hub.admin("GET", "/v1/events/" + event_id)))


def items_of(payload, key="items"):
    """The list in a list response: a bare JSON array or {"items": [...]} (or {key: [...]})."""
    if isinstance(payload, list):
        return payload
    for k in (key, "items", "subscribers", "data"):
        if isinstance(payload, dict) and isinstance(payload.get(k), list):
            return payload[k]
    raise AssertionError("not a list response: %r" % (payload,))
