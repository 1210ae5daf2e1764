#!/usr/bin/env python3
"""bench.py — runs every benchmark scenario against a private redis-server, hub, workers and
receiver, each figure interleaved with its ceiling for several rounds, and prints one table of
medians (figure, ceiling, ratio, target). Called by bench/run.sh after the build; see
bench/README.md. Standard library only.

Usage: bench.py --bin SWITCHYARD --bench-bin DIR [--quick] [--rounds N] [--results FILE]
                [--only 1,2,...]
Exit status: 0; 1 when a scenario could not run (a crash, publishes refused, deliveries missing).
Speed never changes the exit status."""

import argparse
import glob
import json
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SECRET = "bench-jwt-secret-not-for-production"
ADMIN = "bench-admin-token"
PREFIX = "sy"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class BenchError(Exception):
    """A scenario could not run (not: it ran slowly)."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_kv(line):
    """k=v k="v w" ... -> dict; numeric values become floats."""
    out = {}
    for k, v in re.findall(r'(\w+)=("[^"]*"|\S+)', line):
        v = v.strip('"')
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def http(url, data=None, timeout=5):
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode()


def machine_busy_s():
    """CPU seconds the whole machine has been busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s():
    """CPU seconds of this process and every child it has waited for."""
    import resource
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def proc_cpu_s(pid):
    """CPU seconds a running process has used so far, all its threads (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        x = f.read().rsplit(")", 1)[1].split()
    return (int(x[11]) + int(x[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    """CPU seconds of every child process this one has waited for."""
    import resource
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return c.ru_utime + c.ru_stime


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, unit=""):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if abs(x) >= 100:
        s = f"{x:,.0f}"
    elif abs(x) >= 10:
        s = f"{x:.1f}"
    else:
        s = f"{x:.2f}"
    return f"{s} {unit}".strip()


class Bench:
    def __init__(self, o):
        self.o = o
        self.quick = o.quick
        self.rounds = o.rounds or (1 if o.quick else 3)
        self.bin = o.bin
        self.bb = o.bench_bin
        self.tmp = tempfile.mkdtemp(prefix="sy-bench-")
        self.procs = {}           # name -> Popen: every process this run started
        self.rows = []            # the table
        self.notes = []           # lines printed under the table
        self.failures = []        # scenarios that could not run
        self.inner = self.script_commands()

    # ---- processes ---------------------------------------------------------------------------

    def spawn(self, name, argv, env=None):
        log = open(os.path.join(self.tmp, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             env=dict(os.environ, **(env or {})))
        log.close()
        self.procs[name] = p
        return p

    def stop(self, name, timeout=15):
        p = self.procs.pop(name, None)
        if not p or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def cleanup(self):
        for name in list(self.procs):
            self.stop(name, 5)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def alive(self, name):
        p = self.procs.get(name)
        return p is not None and p.poll() is None

    def log_tail(self, name, n=5):
        try:
            with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def run(self, argv, timeout=300):
        """Runs a bench program to completion; returns its stdout's last line parsed."""
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode == 2 or not r.stdout.strip():
            raise BenchError(f"{os.path.basename(argv[0])} failed ({r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[-400:]}")
        return parse_kv(r.stdout.strip().splitlines()[-1])

    # ---- redis ---------------------------------------------------------------------------------

    def start_redis(self):
        self.rport = free_port()
        d = os.path.join(self.tmp, "redis")
        os.makedirs(d)
        p = self.spawn("redis", ["redis-server", "--port", str(self.rport), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", d,
                                 "--maxmemory-policy", "noeviction", "--protected-mode", "yes"])
        for _ in range(100):
            time.sleep(0.05)
            if p.poll() is not None:
                raise BenchError("redis-server exited: " + self.log_tail("redis"))
            try:   # the server on the port must be ours, not someone else's
                if f"process_id:{p.pid}" in self.rcli("INFO", "server"):
                    self.redis_version = re.search(r"redis_version:(\S+)",
                                                   self.rcli("INFO", "server")).group(1)
                    return
            except (subprocess.SubprocessError, AttributeError):
                pass
        raise BenchError("redis-server did not come up")

    def rcli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.rport), *args], capture_output=True,
                           text=True, timeout=60)
        return r.stdout

    def flush(self):
        self.rcli("FLUSHDB")

    @staticmethod
    def script_commands():
        """Commands the lua/ scripts call: their calls are not round trips."""
        names = set()
        for f in glob.glob(os.path.join(ROOT, "lua", "*.lua")):
            with open(f) as fh:
                names |= {m.lower() for m in re.findall(r"redis\.p?call\(\s*'(\w+)'", fh.read())}
        return names

    def cmdstats(self):
        out = {}
        for m in re.finditer(r"cmdstat_([\w|]+):calls=(\d+)", self.rcli("INFO", "commandstats")):
            out[m.group(1)] = int(m.group(2))
        return out

    def round_trips(self, before, after):
        """(evalsha calls, all client commands) between two cmdstats(): commands a client sent,
        i.e. not those the scripts ran inside EVALSHA, nor this harness's INFO/FLUSHDB."""
        d = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        scripts = sum(v for k, v in d.items() if k.startswith("eval"))
        others = sum(v for k, v in d.items() if not k.startswith("eval") and k not in self.inner
                     and k not in ("info", "flushdb", "ping", "config|get", "command|docs"))
        return scripts, scripts + others

    # ---- switchyard -------------------------------------------------------------------------

    def start_hub(self):
        self.hport = free_port()
        self.hub_url = f"http://127.0.0.1:{self.hport}"
        env = self.env(SWITCHYARD_LISTEN=f"127.0.0.1:{self.hport}")
        self.spawn("hub", [self.bin, "hub"], env)
        for _ in range(200):
            time.sleep(0.05)
            if not self.alive("hub"):
                raise BenchError("the hub exited: " + self.log_tail("hub"))
            try:
                if "ok" in http(self.hub_url + "/healthz"):
                    return
            except OSError:
                pass
        raise BenchError("the hub did not come up")

    def env(self, **kw):
        e = {"SWITCHYARD_REDIS_URL": f"redis://127.0.0.1:{self.rport}/0",
             "SWITCHYARD_JWT_SECRET": SECRET, "SWITCHYARD_ADMIN_TOKEN": ADMIN,
             "SWITCHYARD_PREFIX": PREFIX, "SWITCHYARD_REFRESH_MS": "100"}
        e.update(kw)
        return e

    def start_workers(self, k, concurrency=64):
        names = []
        for i in range(k):
            name = f"worker{i}"
            self.spawn(name, [self.bin, "worker"],
                       self.env(SWITCHYARD_CONCURRENCY=str(concurrency),
                                SWITCHYARD_WORKER_LISTEN=f"127.0.0.1:{free_port()}"))
            names.append(name)
        return names

    def stop_workers(self, names):
        for n in names:
            self.stop(n)

    def hub_threads(self):
        """How many HTTP threads the hub started (its default depends on the CPUs)."""
        try:
            with open(os.path.join(self.tmp, "hub.log"), errors="replace") as f:
                found = re.findall(r"event=hub\.started .*threads=(\d+)", f.read())
        except OSError:
            found = []
        return int(found[-1]) if found else "?"

    def hub_rss_kb(self):
        with open(f"/proc/{self.procs['hub'].pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def seed(self, count, match, clear=True, topic="bench.t", topics_prefix=None, tag="s",
             warm=True):
        argv = [os.path.join(self.bb, "sy_bench_seed"), "--hub", self.hub_url, "--admin", ADMIN,
                "--redis", f"127.0.0.1:{self.rport}", "--prefix", PREFIX,
                "--target", self.recv_url + "/hook", "--count", str(count), "--match", str(match),
                "--topic", topic, "--tag", tag]
        if clear:
            argv.append("--clear")
        if topics_prefix:
            argv += ["--topics-prefix", topics_prefix]
        r = self.run(argv, timeout=300)
        self.wait_registry(int(r["version"]))
        if warm:   # every hub thread compiles the new snapshot's filters on its first request
            self.publish(threads=8, duration=0.3 if self.quick else 0.5, topic="bench.warmup")
        return r

    def wait_registry(self, version, timeout=120):
        needle = f"event=registry.loaded version={version} "
        end = time.time() + timeout
        while time.time() < end:
            with open(os.path.join(self.tmp, "hub.log"), errors="replace") as f:
                if needle in f.read():
                    return
            if not self.alive("hub"):
                raise BenchError("the hub exited: " + self.log_tail("hub"))
            time.sleep(0.05)
        raise BenchError(f"the hub did not load subscriber version {version}")

    def publish(self, url=None, threads=8, duration=3.0, count=0, topic="bench.t", size=300,
                rate=0, must_succeed=True):
        argv = [os.path.join(self.bb, "sy_bench_loadgen"), "--hub", url or self.hub_url,
                "--secret", SECRET, "--threads", str(threads), "--duration", str(duration),
                "--count", str(count), "--topic", topic, "--size", str(size), "--rate", str(rate)]
        r = self.run(argv, timeout=duration + 120)
        if must_succeed and r.get("err", 0) > 0:
            raise BenchError(f"publishes failed: {r.get('error', '?')}")
        return r

    # ---- receiver --------------------------------------------------------------------------

    def start_receiver(self):
        port = free_port()
        self.recv_url = f"http://127.0.0.1:{port}"
        self.spawn("receiver", [os.path.join(self.bb, "sy_bench_receiver"), "--port", str(port)])
        for _ in range(100):
            time.sleep(0.05)
            try:
                self.recv_stats()
                return
            except OSError:
                if not self.alive("receiver"):
                    raise BenchError("the receiver exited: " + self.log_tail("receiver"))
        raise BenchError("the receiver did not come up")

    def recv_stats(self):
        return parse_kv(http(self.recv_url + "/_stats"))

    def recv_reset(self):
        http(self.recv_url + "/_reset", data=b"")

    def wait_received(self, n, timeout):
        end = time.time() + timeout
        while time.time() < end:
            s = self.recv_stats()
            if s["count"] >= n:
                return s
            time.sleep(0.02)
        s = self.recv_stats()
        raise BenchError(f"the receiver got {int(s['count'])} of {n} deliveries in {timeout} s")

    @staticmethod
    def recv_rate(s):
        """Deliveries per second at the receiver, first receipt to last."""
        span = (s["last_ns"] - s["first_ns"]) / 1e9
        return (s["count"] - 1) / span if span > 0 and s["count"] > 1 else None

    def start_bare(self):
        port = free_port()
        self.bare_url = f"http://127.0.0.1:{port}"
        self.spawn("bare", [os.path.join(self.bb, "sy_bench_bare_server"), "--port", str(port),
                            "--threads", "4"])
        for _ in range(100):
            time.sleep(0.05)
            try:
                urllib.request.urlopen(self.bare_url + "/", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                if not self.alive("bare"):
                    raise BenchError("bare_server exited: " + self.log_tail("bare"))
        raise BenchError("bare_server did not come up")

    def ceiling_post(self, count=0, concurrency=64, size=300, rate=0, duration=0):
        argv = [os.path.join(self.bb, "sy_bench_curl_ceiling"), "--url", self.recv_url + "/hook",
                "--concurrency", str(concurrency), "--size", str(size)]
        if rate:
            argv += ["--rate", str(rate), "--duration", str(duration)]
        else:
            argv += ["--count", str(count)]
        r = self.run(argv, timeout=300)
        if r.get("err", 0):
            raise BenchError("curl_ceiling: some POSTs failed")
        return r

    # ---- CPU budget ----------------------------------------------------------------------------

    def cpu(self, *names):
        """CPU seconds so far of the named processes this run started, and under "run" those of
        every program run() has waited for (take it right around the one run() that matters:
        rcli() runs redis-cli)."""
        d = {n: proc_cpu_s(self.procs[n].pid) for n in names}
        d["run"] = children_cpu_s()
        return d

    @staticmethod
    def cpu_per_op(before, after, ops):
        """µs of CPU per operation of each process between two cpu() readings; a process started
        in between counts from zero."""
        return {k: (after[k] - before.get(k, 0.0)) / ops * 1e6 for k in after}

    def budget_row(self, sc, what, parts, ceiling_parts):
        """One row: the CPU every process spent per operation (median of rounds), summed, against
        the ceiling's. parts: [(label, [µs per round])]. With every core busy a rate cannot pass
        cores / CPU per operation, so the ratio bounds the throughput ratio this machine allows."""
        def total(ps):
            meds = [(label, median(v)) for label, v in ps]
            return sum(m for _, m in meds), " + ".join(f"{label} {m:.0f}" for label, m in meds)
        t, detail = total(parts)
        c, cdetail = total(ceiling_parts)
        cores = os.cpu_count() or 1
        self.row(sc, f"CPU µs per {what}: {detail}; {cores} cores allow ≤ {cores * 1e3 / t:.1f}k/s",
                 t, "µs", c, cdetail, c / t)

    # ---- table -------------------------------------------------------------------------------

    def row(self, sc, figure, value, unit, ceiling=None, ceiling_label="", ratio=None, target="",
            holds=None):
        verdict = "" if holds is None else ("holds" if holds else "MISSES")
        self.rows.append([sc, figure, fmt(value, unit),
                          (fmt(ceiling, unit) + (f" ({ceiling_label})" if ceiling_label else ""))
                          if ceiling is not None else ceiling_label or "—",
                          fmt(ratio, "×") if ratio is not None else "—", target, verdict])
        print(f"  {sc:>3} {figure}: {fmt(value, unit)}"
              + (f"  ceiling {fmt(ceiling, unit)}" if ceiling is not None else "")
              + (f"  ratio {fmt(ratio, '×')}" if ratio is not None else "")
              + (f"  [{verdict}]" if verdict else ""), flush=True)

    def table(self):
        head = ["#", "figure", "value", "ceiling (same run)", "ratio", "target", ""]
        rows = [head] + self.rows
        w = [max(len(str(r[i])) for r in rows) for i in range(len(head))]
        lines = ["| " + " | ".join(str(c).ljust(w[i]) for i, c in enumerate(r)) + " |"
                 for r in rows]
        lines.insert(1, "|" + "|".join("-" * (x + 2) for x in w) + "|")
        return "\n".join(lines)

    # ---- scenarios ---------------------------------------------------------------------------

    def dur(self, full):
        return 0.3 if self.quick else full

    def s1_publish(self):
        """Publish throughput, 300-byte events, 0/1/10/100 subscribers (half matching), against
        the bare MHD server; Redis round trips per publish."""
        print("scenario 1: publish throughput", flush=True)
        self.start_bare()
        d = self.dur(3.0)
        for n in [0, 1, 10, 100]:
            self.flush()
            self.seed(n, max(1, n // 2) if n else 0)
            hub, bare, rt, evs = [], [], [], []
            cpu = {k: [] for k in ("run", "hub", "redis", "bare_run", "bare")}
            for _ in range(self.rounds):
                before = self.cmdstats()
                c0 = self.cpu("hub", "redis")
                r = self.publish(duration=d)
                for k, v in self.cpu_per_op(c0, self.cpu("hub", "redis"), r["ok"]).items():
                    cpu[k].append(v)
                scripts, total = self.round_trips(before, self.cmdstats())
                hub.append(r["rate"])
                evs.append(scripts / r["ok"])
                rt.append(total / r["ok"])
                c0 = self.cpu("bare")
                r = self.publish(url=self.bare_url, duration=d)
                c = self.cpu_per_op(c0, self.cpu("bare"), r["ok"])
                cpu["bare_run"].append(c["run"])
                cpu["bare"].append(c["bare"])
                bare.append(r["rate"])
            h, b = median(hub), median(bare)
            target = n == 10
            self.row("1", f"publish/s, {n} subscribers ({max(1, n // 2) if n else 0} match), SDK 8 threads",
                     h, "/s", b, "bare MHD", h / b, "≥ 0.5× at 10 subs" if target else "",
                     h / b >= 0.5 if target else None)
            self.row("1", f"Redis round trips (commands sent) per publish, {n} subscribers "
                     f"(EVALSHA {fmt(median(evs))})", median(rt), "", None, "", None, "≤ 1",
                     median(rt) <= 1.0)
            if target:
                self.budget_row("1", f"publish, {n} subscribers",
                                [("loadgen", cpu["run"]), ("hub", cpu["hub"]),
                                 ("Redis", cpu["redis"])],
                                [("loadgen", cpu["bare_run"]), ("bare MHD", cpu["bare"])])
        self.stop("bare")

    def preenqueue(self, n):
        """Publishes n events for the one matching subscriber with no worker running."""
        self.publish(threads=8, duration=600, count=n)
        xlen = int(self.rcli("XLEN", f"{PREFIX}:jobs").strip() or 0)
        if xlen < n:
            raise BenchError(f"only {xlen} of {n} jobs were enqueued")

    def deliver_once(self, n, workers=1):
        """Starts the workers on the jobs waiting; returns (deliveries/s, Redis commands sent per
        delivery, µs of CPU per delivery by process: worker(s), redis, receiver)."""
        self.recv_reset()
        before = self.cmdstats()
        c0 = self.cpu("redis", "receiver")
        names = self.start_workers(workers)
        try:
            s = self.wait_received(n, timeout=120)
            cpu = self.cpu_per_op(c0, self.cpu("redis", "receiver", *names), n)
        finally:
            self.stop_workers(names)
        cpu["worker"] = sum(cpu.pop(name) for name in names)
        scripts, total = self.round_trips(before, self.cmdstats())
        return self.recv_rate(s), total / n, cpu

    def s2_delivery(self):
        """Delivery throughput of one worker (concurrency 64), jobs pre-enqueued, vs libcurl multi
        at the same concurrency; one subscriber, and 16 subscribers (the per-subscriber fair
        share caps one subscriber at a quarter of a worker's slots)."""
        print("scenario 2: delivery throughput", flush=True)
        n = 300 if self.quick else 20000
        for subs in [1, 16]:
            fig, ceil, rts = [], [], []
            cpu = {k: [] for k in ("worker", "redis", "receiver", "curl", "curl_receiver")}
            for _ in range(self.rounds):
                self.flush_jobs(subs)
                self.preenqueue(n // subs)
                rate, rt, c = self.deliver_once((n // subs) * subs)
                for k in ("worker", "redis", "receiver"):
                    cpu[k].append(c[k])
                fig.append(rate)
                rts.append(rt)
                self.recv_reset()
                c0 = self.cpu("receiver")
                self.ceiling_post(count=n, concurrency=64)
                c = self.cpu_per_op(c0, self.cpu("receiver"), n)
                cpu["curl"].append(c["run"])
                cpu["curl_receiver"].append(c["receiver"])
                ceil.append(self.recv_rate(self.recv_stats()))
            f, c = median(fig), median(ceil)
            self.row("2", f"deliveries/s, 1 worker (concurrency 64), {subs} subscriber(s), "
                     f"{n} jobs", f, "/s", c, "curl multi ×64", f / c, "≥ 0.6×", f / c >= 0.6)
            self.row("2", f"Redis commands sent per delivery, {subs} subscriber(s)", median(rts),
                     "", None, "", None, "", None)
            if subs == 1:
                self.budget_row("2", "delivery, 1 subscriber",
                                [("worker", cpu["worker"]), ("Redis", cpu["redis"]),
                                 ("receiver", cpu["receiver"])],
                                [("curl multi", cpu["curl"]), ("receiver", cpu["curl_receiver"])])

    def flush_jobs(self, subs):
        """Empties Redis and puts the subscribers back (quietly, the hub reloads)."""
        self.flush()
        self.seed(subs, subs, warm=False)

    def s3_latency(self):
        """End-to-end latency at a fixed publish rate vs a direct POST at that rate."""
        print("scenario 3: end-to-end latency", flush=True)
        rate, d = (500, 0.5) if self.quick else (2000, 5.0)
        self.flush()
        self.seed(1, 1)
        names = self.start_workers(1)
        try:
            time.sleep(0.3)
            fig, ceil = {"p50_us": [], "p90_us": [], "p99_us": []}, {"p50_us": [], "p90_us": [], "p99_us": []}
            for _ in range(self.rounds):
                self.recv_reset()
                r = self.publish(threads=8, duration=d, rate=rate)
                s = self.wait_received(r["ok"], timeout=30)
                for k in fig:
                    fig[k].append(s[k])
                self.recv_reset()
                c = self.ceiling_post(rate=rate, duration=d, concurrency=64)
                s = self.wait_received(c["ok"], timeout=30)
                for k in ceil:
                    ceil[k].append(s[k])
        finally:
            self.stop_workers(names)
        for k, label in [("p50_us", "p50"), ("p90_us", "p90"), ("p99_us", "p99")]:
            f, c = median(fig[k]) / 1000, median(ceil[k]) / 1000
            self.row("3", f"publish→receipt latency {label} at {rate}/s", f, "ms", c,
                     "direct POST", f / c if c else None,
                     "p99 < 10 ms" if k == "p99_us" else "", f < 10 if k == "p99_us" else None)

    def s4_bullmq(self):
        """Switchyard vs BullMQ, end to end on the same Redis and receiver: N events published
        (one matching subscriber: N jobs) and delivered, vs BullMQ adding N jobs and a Worker of the
        same concurrency POSTing them. Also Switchyard's fan-out: N/16 events for 16 subscribers."""
        print("scenario 4: against BullMQ", flush=True)
        n = 320 if self.quick else 10000
        fan = 16
        bdir = os.path.join(HERE, "bullmq")
        skip = None
        if not shutil.which("node"):
            skip = "node is not installed"
        elif not os.path.isdir(os.path.join(bdir, "node_modules", "bullmq")):
            skip = self.o.bullmq_skip or "bench/bullmq/node_modules is missing (npm ci failed?)"
        self.flush()
        self.seed(1, 1, topic="bench.t", tag="one", warm=False)
        self.seed(fan, fan, clear=False, topic="bench.fan", tag="fan")
        names = self.start_workers(1)
        sy, syfan, bq = [], [], []
        procs = ("hub", "redis", "receiver", *names)
        cpu = {k: [] for k in ("run", "hub", "redis", "receiver", "worker", "bullmq", "bq_redis",
                               "bq_receiver")}

        def switchyard(topic, events, deliveries):
            self.recv_reset()
            c0 = self.cpu(*procs)
            r = self.publish(threads=8, duration=600, count=events, topic=topic)
            s = self.wait_received(deliveries, timeout=120)
            c = self.cpu_per_op(c0, self.cpu(*procs), deliveries)
            if topic == "bench.t":
                c["worker"] = sum(c[name] for name in names)
                for k in ("run", "hub", "redis", "receiver", "worker"):
                    cpu[k].append(c[k])
            return deliveries / ((s["last_ns"] - r["t0_ns"]) / 1e9)

        try:
            time.sleep(0.3)
            for rnd in range(self.rounds):
                sy.append(switchyard("bench.t", n, n))
                syfan.append(switchyard("bench.fan", n // fan, (n // fan) * fan))
                if skip:
                    continue
                self.recv_reset()
                c0 = self.cpu("redis", "receiver")
                res = subprocess.run(
                    ["node", os.path.join(bdir, "bench.mjs"), "--redis-port", str(self.rport),
                     "--url", self.recv_url + "/hook", "--count", str(n), "--concurrency", "64",
                     "--queue", f"bench{rnd}", "--size", "300"],
                    capture_output=True, text=True, timeout=300, cwd=bdir)
                if res.returncode != 0 or not res.stdout.strip():
                    skip = "bench.mjs failed: " + (res.stderr or res.stdout).strip()[-300:]
                    continue
                b = parse_kv(res.stdout.strip().splitlines()[-1])
                s = self.wait_received(n, timeout=60)
                c = self.cpu_per_op(c0, self.cpu("redis", "receiver"), n)
                cpu["bullmq"].append(c["run"])
                cpu["bq_redis"].append(c["redis"])
                cpu["bq_receiver"].append(c["receiver"])
                bq.append(n / ((s["last_ns"] - b["t0_ns"]) / 1e9))
        finally:
            self.stop_workers(names)
        if skip:
            self.notes.append(f"4: BullMQ skipped: {skip}")
        c = None if skip else median(bq)
        for label, v in [(f"{n} events → {n} jobs (1 subscriber)", median(sy)),
                         (f"{n // fan} events → {(n // fan) * fan} jobs ({fan} subscribers)",
                          median(syfan))]:
            self.row("4", f"end-to-end deliveries/s, publish + deliver, {label}, 1 worker × 64",
                     v, "/s", c, "BullMQ, N jobs" if c else "BullMQ skipped",
                     v / c if c else None, "≥ 5× BullMQ", v / c >= 5 if c else None)
        if not skip:
            self.budget_row("4", "delivered event, 1 subscriber",
                            [("loadgen", cpu["run"]), ("hub", cpu["hub"]),
                             ("Redis", cpu["redis"]), ("worker", cpu["worker"]),
                             ("receiver", cpu["receiver"])],
                            [("BullMQ (node)", cpu["bullmq"]), ("Redis", cpu["bq_redis"]),
                             ("receiver", cpu["bq_receiver"])])

    def s5_growth(self):
        print("scenario 5: how cost grows", flush=True)
        d = self.dur(1.5)
        # (a) subscribers on one topic: single-thread publish latency; filters that never match,
        # then filters that all match (a job per subscriber)
        sizes = [1, 10, 100] if self.quick else [1, 10, 100, 1000, 10000]
        rss = {}
        for match in (False, True):
            for n in sizes:
                self.flush()
                self.seed(n, n if match else 0)
                if not match:
                    rss[n] = self.hub_rss_kb()
                r = self.publish(threads=1, duration=d, must_succeed=False)
                what = "all match" if match else "none match"
                if r["ok"] == 0:
                    self.row("5a", f"µs/publish, {n} subscribers on the topic, {what}",
                             "fails: " + str(r.get("error", "?"))[:90], "", None, "", None, "", None)
                    self.notes.append(f"5a: {n} subscribers, {what}: every publish failed: "
                                      f"{r.get('error')}")
                    continue
                lat = r["p50_us"]
                self.row("5a", f"µs/publish (p50, 1 client), {n} subscribers, {what}", lat, "µs",
                         None, f"{fmt(lat / n)} µs per subscriber", None, "", None)
        lo, hi = min(rss), max(rss)
        per_k = (rss[hi] - rss[lo]) / ((hi - lo) / 1000)
        self.row("5e", f"hub RSS per 1,000 subscribers ({lo}→{hi}, {self.hub_threads()} HTTP threads, "
                 "filters compiled)",
                 per_k / 1024, "MiB", None, f"RSS {fmt(rss[lo] / 1024)} → {fmt(rss[hi] / 1024)} MiB",
                 None, "", None)

        # (b) topics: exact-topic lookup stays flat
        others = 1000 if self.quick else 100000
        self.flush()
        self.seed(1, 0, topic="bench.flat")
        base = median([self.publish(threads=1, duration=d, topic="bench.flat")["p50_us"]
                       for _ in range(self.rounds)])
        rss0 = self.hub_rss_kb()
        t0 = time.time()
        self.seed(others, -1, clear=False, topics_prefix="other", tag="o")
        load_s = time.time() - t0
        many = median([self.publish(threads=1, duration=d, topic="bench.flat")["p50_us"]
                       for _ in range(self.rounds)])
        self.row("5b", f"µs/publish (p50) with {others:,} other topics' subscribers", many, "µs",
                 base, "1 topic", many / base, "flat (≈1×)", many / base < 1.5)
        self.row("5e", f"hub RSS per 1,000 subscribers ({others:,} one-topic subs, empty filters)",
                 (self.hub_rss_kb() - rss0) / 1024 / (others / 1000), "MiB", None,
                 f"seed + reload + warm-up {load_s:.1f} s", None, "", None)

        # (c) event size: publish throughput, 1 matching subscriber, vs bare MHD
        self.start_bare()
        for size in ([300, 100000] if self.quick else [300, 1000, 10000, 100000]):
            hub, bare = [], []
            for _ in range(self.rounds):
                self.flush()
                self.seed(1, 1, warm=False)
                hub.append(self.publish(duration=d, size=size)["rate"])
                bare.append(self.publish(url=self.bare_url, duration=d, size=size)["rate"])
            h, b = median(hub), median(bare)
            self.row("5c", f"publish/s, {size:,}-byte events, 1 subscriber", h, "/s", b,
                     "bare MHD", h / b, "", None)
        self.stop("bare")

        # (d) worker processes: delivery throughput, 16 subscribers (no fair-share cap)
        n = 300 if self.quick else 20000
        subs = 16
        self.flush()
        self.seed(subs, subs, warm=False)
        ks = [1, 2] if self.quick else [1, 2, 4]
        res = {k: [] for k in ks}
        for _ in range(self.rounds):
            for k in ks:
                self.flush_jobs(subs)
                self.preenqueue(n // subs)
                res[k].append(self.deliver_once((n // subs) * subs, workers=k)[0])
        one = median(res[ks[0]])
        for k in ks:
            v = median(res[k])
            self.row("5d", f"deliveries/s, {k} worker process(es) × 64", v, "/s", one, "1 worker",
                     v / one, "", None)

    # ---- machine -----------------------------------------------------------------------------

    def machine(self):
        cpu = "?"
        try:
            with open("/proc/cpuinfo") as f:
                m = re.search(r"model name\s*:\s*(.*)", f.read())
                cpu = m.group(1) if m else "?"
        except OSError:
            pass
        mem = "?"
        try:
            with open("/proc/meminfo") as f:
                kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
                mem = f"{kb / 1024 / 1024:.1f} GiB"
        except OSError:
            pass
        return (f"nproc {os.cpu_count()}, CPU {cpu}, memory {mem}, kernel {platform.release()}, "
                f"redis {getattr(self, 'redis_version', '?')}")

    def s6_fairness(self):
        """One endpoint that accepts connections and never answers must not hold back the others:
        the delivery rate of 4 fast subscribers with a hanging fifth on the same topic, against
        their rate alone (issue: "fast ones keep at least 90 % of the rate they get alone")."""
        print("scenario 6: fairness with a hanging endpoint", flush=True)
        n = 100 if self.quick else 2500     # events; each makes one job per subscriber
        hang = socket.socket()
        hang.bind(("127.0.0.1", 0))
        hang.listen(1024)                   # the kernel accepts; nobody ever answers
        hang_url = "http://127.0.0.1:%d/hang" % hang.getsockname()[1]
        alone, shared = [], []
        try:
            for _ in range(self.rounds):
                self.flush_jobs(4)
                self.preenqueue(n)
                rate = self.deliver_once(4 * n)[0]
                alone.append(rate)
                self.flush_jobs(4)
                body = json.dumps({"name": "hanging", "topic": "bench.t", "target_url": hang_url,
                                   "timeout_ms": 5000}).encode()
                req = urllib.request.Request(self.hub_url + "/v1/subscribers", data=body,
                                             headers={"Authorization": "Bearer " + ADMIN,
                                                      "Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=10).read()
                self.preenqueue(n)
                rate = self.deliver_once(4 * n)[0]
                shared.append(rate)
        finally:
            hang.close()
        a, b = median(alone), median(shared)
        self.row("6", f"deliveries/s to 4 fast subscribers beside a hanging one ({n} events)", b,
                 "/s", a, "the 4 alone", b / a, "≥ 0.9×", b / a >= 0.9)

    def main(self):
        only = set(self.o.only.split(",")) if self.o.only else None
        scenarios = [("1", self.s1_publish), ("2", self.s2_delivery), ("3", self.s3_latency),
                     ("4", self.s4_bullmq), ("5", self.s5_growth), ("6", self.s6_fairness)]
        t0 = time.time()
        busy0, own0 = machine_busy_s(), own_cpu_s()
        self.start_redis()
        self.start_receiver()
        self.start_hub()
        print(f"machine: {self.machine()}", flush=True)
        print(f"rounds: {self.rounds} (medians), quick: {self.quick}, scratch: {self.tmp}", flush=True)
        for key, fn in scenarios:
            if only and key not in only:
                continue
            try:
                fn()
            except (BenchError, subprocess.TimeoutExpired, OSError, KeyError, ZeroDivisionError,
                    TypeError) as e:
                self.failures.append(f"scenario {key}: {e}")
                print(f"scenario {key} could not run: {e}", file=sys.stderr, flush=True)
                for name in [n for n in self.procs if n.startswith("worker") or n == "bare"]:
                    self.stop(name)
                if not self.alive("hub"):
                    print(self.log_tail("hub", 20), file=sys.stderr)
                    break
        for name in list(self.procs):   # stopped and waited for: their CPU is in own_cpu_s()
            self.stop(name)
        took = time.time() - t0
        other = max(0.0, (machine_busy_s() - busy0) - (own_cpu_s() - own0)) / took
        self.background = (f"other processes kept {other:.2f} of {os.cpu_count()} cores busy "
                           f"during the run")
        if other > 0.25:
            self.notes.insert(0, f"the machine was not idle: {self.background}; absolute figures "
                                 "are low, ratios (interleaved) are the figures to read")
        out = [f"machine: {self.machine()}; {self.background}",
               f"rounds: {self.rounds}, medians; took {took:.0f} s; "
               f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "", self.table()]
        out += [""] + [f"note: {n}" for n in self.notes]
        out += [f"FAILED: {f}" for f in self.failures]
        print("\n" + "\n".join(out), flush=True)
        if self.o.results and not self.quick and not self.failures and not only:
            self.write_results(out)
        return 1 if self.failures else 0

    def write_results(self, out):
        path = self.o.results
        text = "# Benchmark results\n"
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
        begin, end = "<!-- results: begin -->", "<!-- results: end -->"
        if begin in text and end in text:
            text = (text[:text.index(begin) + len(begin)] + "\n\n" + "\n".join(out).strip()
                    + "\n\n" + text[text.index(end):])
        else:
            text += f"\n{begin}\n\n" + "\n".join(out).strip() + f"\n\n{end}\n"
        with open(path, "w") as f:
            f.write(text)
        print(f"\nwrote {os.path.relpath(path)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--bin", required=True, help="the switchyard binary")
    ap.add_argument("--bench-bin", required=True, help="directory of the sy_bench_* programs")
    ap.add_argument("--quick", action="store_true", help="tiny smoke run: does everything run?")
    ap.add_argument("--rounds", type=int, default=0, help="rounds per figure (3; quick: 1)")
    ap.add_argument("--results", help="RESULTS.md to update (full runs only)")
    ap.add_argument("--only", help="comma-separated scenarios, e.g. 1,3")
    ap.add_argument("--bullmq-skip", help="why BullMQ is not installed (from run.sh)")
    o = ap.parse_args()
    b = Bench(o)

    def on_signal(sig, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        rc = b.main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        rc = 130
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        rc = 1
    finally:
        b.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
