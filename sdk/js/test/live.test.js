// The SDK against a real hub: a private redis-server, `switchyard hub`, `switchyard worker` and a
// node:http receiver, all started here and stopped by PID in after(). Skipped when SWITCHYARD_BIN
// is not set (ctest sets it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  AuthError, Client, ConflictError, NotFoundError, ValidationError, WebhookVerificationError, verifyWebhook,
} from '../index.js';

const BIN = process.env.SWITCHYARD_BIN;
const SKIP = BIN ? false : 'live tests need SWITCHYARD_BIN=/path/to/switchyard (ctest sets it)';
const WAIT_LIMIT_MS = 15_000; // no wait in this file is longer
const STOP_TIMEOUT_MS = 10_000; // SIGTERM grace before SIGKILL

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check, { timeoutMs = 10_000, message = 'condition' } = {}) {
  const deadline = Date.now() + Math.min(timeoutMs, WAIT_LIMIT_MS);
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      if (err.giveUp) throw err;
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out waiting for ${message}${last ? ` (last error: ${last.message})` : ''}`);
    await sleep(50);
  }
}

async function freePort() {
  const server = createTcpServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Processes, stopped by PID whatever happens.

const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function start(workdir, name, argv, env) {
  const out = openSync(join(workdir, `${name}.log`), 'a');
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', out, out] });
  closeSync(out);
  child.logName = name;
  child.logPath = join(workdir, `${name}.log`);
  child.exited = new Promise((resolve) => child.once('exit', resolve));
  children.push(child);
  return child;
}

function alive(child) {
  return child.exitCode === null && child.signalCode === null;
}

async function stop(child) {
  if (!alive(child)) return;
  const t0 = Date.now();
  child.kill('SIGTERM');
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, STOP_TIMEOUT_MS, 'timeout');
  });
  const outcome = await Promise.race([child.exited, timeout]);
  clearTimeout(timer);
  if (outcome === 'timeout' && alive(child)) {
    child.logProblem = `${child.logName} did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM (killed)`;
    child.kill('SIGKILL');
    await child.exited;
  }
  child.stopMs = Date.now() - t0;
}

function failIfDead(child) {
  if (!alive(child)) {
    const err = new Error(`${child.logName} exited (${child.exitCode ?? child.signalCode}):\n${readFileSync(child.logPath, 'utf8')}`);
    err.giveUp = true;
    throw err;
  }
}

function redisPing(port) {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.setTimeout(1000);
    let data = '';
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d;
      if (data.includes('\r\n')) {
        sock.destroy();
        resolve(data.startsWith('+PONG'));
      }
    });
    sock.on('error', () => resolve(false));
    sock.on('timeout', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

async function httpOk(url) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// A receiver that records every request (raw body) and answers per route.

function startReceiver() {
  const rx = { requests: [], routes: new Map(), server: null, port: 0 };
  rx.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const route = req.url.split('?')[0];
      rx.requests.push({ method: req.method, route, headers: req.headers, body: Buffer.concat(chunks) });
      const queued = rx.routes.get(route);
      const status = queued && queued.length ? queued.shift() : 200;
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  rx.url = (path) => `http://127.0.0.1:${rx.port}${path}`;
  rx.on = (route, ...statuses) => rx.routes.set(route, statuses);
  rx.to = (route) => rx.requests.filter((r) => r.route === route);
  rx.waitFor = (route, count = 1) =>
    waitFor(() => rx.to(route).length >= count && rx.to(route), { message: `${count} request(s) to ${route}` });
  return new Promise((resolve) => rx.server.listen(0, '127.0.0.1', () => {
    rx.port = rx.server.address().port;
    resolve(rx);
  }));
}

// A TCP proxy to the hub that forwards the first request but closes the connection instead of
// returning the hub's answer (the response is lost after the hub acted); later requests pass.
function readMessage(sock, state) {
  return new Promise((resolve) => {
    const tryParse = () => {
      const end = state.buf.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const head = state.buf.subarray(0, end).toString('latin1');
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (state.buf.length < total) return false;
      const msg = state.buf.subarray(0, total);
      state.buf = state.buf.subarray(total);
      sock.off('data', onData);
      sock.off('close', onClose);
      resolve(msg);
      return true;
    };
    const onData = (d) => {
      state.buf = Buffer.concat([state.buf, d]);
      tryParse();
    };
    const onClose = () => resolve(null);
    if (tryParse()) return;
    sock.on('data', onData);
    sock.on('close', onClose);
  });
}

async function startDropFirstResponseProxy(upstreamPort) {
  const proxy = { keys: [], dropped: 0, sockets: new Set() };
  proxy.server = createTcpServer(async (client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      proxy.sockets.add(s);
      s.on('error', () => {});
      s.pause();
    }
    const fromClient = { buf: Buffer.alloc(0) };
    const fromHub = { buf: Buffer.alloc(0) };
    client.resume();
    upstream.resume();
    for (;;) {
      const request = await readMessage(client, fromClient);
      if (!request) break;
      const key = /\r\nidempotency-key:\s*([^\r]*)/i.exec(request.toString('latin1'));
      if (key) proxy.keys.push(key[1].trim());
      upstream.write(request);
      const response = await readMessage(upstream, fromHub);
      if (!response) break;
      if (proxy.dropped === 0) {
        proxy.dropped++;
        break; // the hub answered; the client never hears it
      }
      client.write(response);
    }
    client.destroy();
    upstream.destroy();
  });
  await new Promise((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  proxy.port = proxy.server.address().port;
  proxy.close = () => {
    for (const s of proxy.sockets) s.destroy();
    proxy.server.close();
  };
  return proxy;
}

// ---------------------------------------------------------------------------------------------

describe('live hub', { skip: SKIP }, () => {
  const jwtSecret = randomBytes(18).toString('base64url');
  const adminToken = randomBytes(18).toString('base64url');
  let workdir;
  let hubUrl;
  let hubPort;
  let rx;
  let hub; // the SDK client
  let failed = false;

  const live = (name, fn) => test(name, async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  });

  async function jobState(eventId, state) {
    return waitFor(async () => {
      const { jobs } = await hub.getEvent(eventId);
      return jobs.length === 1 && jobs[0].state === state && jobs[0];
    }, { message: `the job of ${eventId} in state ${state}` });
  }

  before(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'sy-js-'));
    const redisPort = await freePort();
    const redis = start(workdir, 'redis', ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1',
      '--dir', workdir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], process.env);
    await waitFor(() => (failIfDead(redis), redisPing(redisPort)), { message: 'redis-server' });

    hubPort = await freePort();
    const workerPort = await freePort();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^SWITCH(YARD)?_/.test(k)));
    Object.assign(env, {
      SWITCHYARD_LISTEN: `127.0.0.1:${hubPort}`,
      SWITCHYARD_WORKER_LISTEN: `127.0.0.1:${workerPort}`,
      SWITCHYARD_REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
      SWITCHYARD_JWT_SECRET: jwtSecret,
      SWITCHYARD_ADMIN_TOKEN: adminToken,
      SWITCHYARD_PREFIX: `js${randomBytes(3).toString('hex')}`,
      SWITCHYARD_CONCURRENCY: '8',
    });
    hubUrl = `http://127.0.0.1:${hubPort}`;
    const hubProc = start(workdir, 'hub', [BIN, 'hub'], env);
    const workerProc = start(workdir, 'worker', [BIN, 'worker'], env);
    await waitFor(() => (failIfDead(hubProc), httpOk(`${hubUrl}/readyz`)), { message: 'the hub at /readyz' });
    await waitFor(() => (failIfDead(workerProc), httpOk(`http://127.0.0.1:${workerPort}/healthz`)), { message: 'the worker at /healthz' });
    rx = await startReceiver();
    hub = new Client({ hubUrl, jwtSecret, adminToken, backoffMs: 50 });
  });

  after(async () => {
    if (rx) {
      rx.server.closeAllConnections();
      rx.server.close();
    }
    const problems = [];
    for (const child of [...children].reverse()) {
      if (!alive(child)) problems.push(`${child.logName} had exited by itself (${child.exitCode ?? child.signalCode})`);
      await stop(child);
      if (child.logProblem) problems.push(child.logProblem);
    }
    if (failed || problems.length || process.env.SWITCHYARD_IT_VERBOSE) {
      for (const child of children) {
        let text = '';
        try {
          text = readFileSync(child.logPath, 'utf8').slice(-20000);
        } catch {}
        process.stderr.write(`\n===== ${child.logName} (pid ${child.pid}, stopped in ${child.stopMs} ms) =====\n${text}\n`);
      }
    }
    if (workdir) rmSync(workdir, { recursive: true, force: true });
    assert.deepEqual(problems, [], 'every process was still running at the end');
  });

  live('a delivery of an SDK publish verifies with the secret from creation', async () => {
    const sub = await hub.createSubscriber({ name: 'billing', topic: 'orders.*', filter: 'data.body.total > 100',
      target_url: rx.url('/hooks/:order_id') });
    assert.match(sub.secret, /^whsec_/);
    const small = await hub.publish('orders.created', { body: { id: 6, total: 10 }, path_params: { order_id: '6' } });
    assert.equal(small.matched, 0);
    const out = await hub.publish('orders.created', { body: { id: 7, total: 120 }, path_params: { order_id: '7' } });
    assert.deepEqual([out.topic, out.matched], ['orders.created', 1]);
    assert.match(out.id, /^evt_/);

    const [req] = await rx.waitFor('/hooks/7');
    assert.deepEqual(verifyWebhook(sub.secret, req.headers, req.body), { id: 7, total: 120 });
    assert.equal(req.headers['switchyard-topic'], 'orders.created');
    assert.throws(() => verifyWebhook(sub.secret, req.headers, Buffer.from(req.body.toString().replace('120', '121'))),
      WebhookVerificationError);
    const job = await jobState(out.id, 'delivered');
    assert.equal(job.subscriber_id, sub.id);
    assert.equal(job.job_id, req.headers['webhook-id']);
    assert.equal(rx.to('/hooks/6').length, 0);
  });

  live('a bad token is an AuthError with code unauthorized', async () => {
    for (const c of [new Client({ hubUrl, token: 'not-a-jwt' }), new Client({ hubUrl, jwtSecret: 'not-the-hubs-secret' })]) {
      await assert.rejects(c.publish('orders.created', {}),
        (e) => e instanceof AuthError && e.status === 401 && e.code === 'unauthorized' && e.message.length > 0);
    }
    await assert.rejects(new Client({ hubUrl, adminToken: 'wrong' }).listSubscribers(),
      (e) => e instanceof AuthError && e.code === 'unauthorized');
  });

  live('the token topics claim is enforced: AuthError forbidden', async () => {
    const limited = new Client({ hubUrl, jwtSecret, topics: ['billing.*'] });
    assert.equal((await limited.publish('billing.paid', {})).matched, 0);
    await assert.rejects(limited.publish('orders.created', {}), (e) => e instanceof AuthError && e.status === 403 && e.code === 'forbidden');
  });

  live('an invalid filter is a ValidationError pointing at it', async () => {
    await assert.rejects(hub.createSubscriber({ topic: 'v.created', filter: 'data.body.total >', target_url: rx.url('/v') }),
      (e) => e instanceof ValidationError && e.status === 400 && e.code === 'invalid_subscriber' && e.message.includes('filter'));
    await assert.rejects(hub.publish('orders..created', {}), (e) => e instanceof ValidationError && e.code === 'invalid_topic');
  });

  live('name conflicts, missing subscribers, and names with reserved characters', async () => {
    await hub.createSubscriber({ name: 'team:dup+eu', topic: 'c.a', target_url: rx.url('/c') });
    assert.equal((await hub.getSubscriber('team:dup+eu')).topic, 'c.a');
    await assert.rejects(hub.createSubscriber({ name: 'team:dup+eu', topic: 'c.b', target_url: rx.url('/c') }),
      (e) => e instanceof ConflictError && e.code === 'conflict');
    await assert.rejects(hub.getSubscriber('nobody'), (e) => e instanceof NotFoundError && e.status === 404 && e.code === 'not_found');
    await hub.deleteSubscriber('team:dup+eu');
  });

  live('a retry after a lost response creates no duplicate', async () => {
    await hub.createSubscriber({ topic: 'once.created', target_url: rx.url('/once') });
    const proxy = await startDropFirstResponseProxy(hubPort);
    try {
      const through = new Client({ hubUrl: `http://127.0.0.1:${proxy.port}`, jwtSecret, backoffMs: 50 });
      const out = await through.publish('once.created', { body: { n: 1 } });
      assert.equal(proxy.dropped, 1);
      assert.equal(proxy.keys.length, 2, 'the client sent the publish again');
      assert.equal(proxy.keys[0], proxy.keys[1], 'with the same Idempotency-Key');
      assert.equal(out.duplicate, true);
      await rx.waitFor('/once');
      await jobState(out.id, 'delivered');
      await sleep(500); // time enough for a second delivery, were there one
      assert.equal(rx.to('/once').length, 1);
      assert.equal((await hub.getEvent(out.id)).jobs.length, 1);
    } finally {
      proxy.close();
    }
  });

  live('explicit Idempotency-Key and event id deduplicate', async () => {
    const first = await hub.publish('i.x', {}, { idempotencyKey: `key-${randomBytes(4).toString('hex')}` });
    assert.equal(first.duplicate, undefined);
    const id = `order-${randomBytes(4).toString('hex')}`;
    assert.equal((await hub.publish('i.x', {}, { id })).id, id);
    const again = await hub.publish('i.x', {}, { id });
    assert.deepEqual([again.id, again.duplicate], [id, true]);
  });

  live('subscriber admin round trip', async () => {
    const created = await hub.putSubscriber('seeded', { topic: 'rt.#', target_url: rx.url('/rt') });
    assert.ok(created.secret);
    const replaced = await hub.putSubscriber('seeded', { topic: 'rt.*', target_url: rx.url('/rt') });
    assert.deepEqual([replaced.id, replaced.topic], [created.id, 'rt.*']);
    const patched = await hub.updateSubscriber('seeded', { filter: 'data.body.ok == true', max_attempts: 3 });
    assert.deepEqual([patched.filter, patched.max_attempts, patched.topic], ['data.body.ok == true', 3, 'rt.*']);
    assert.deepEqual((await hub.listSubscribers({ topic: 'rt.created' })).map((s) => s.name), ['seeded']);
    assert.deepEqual(await hub.listSubscribers({ topic: 'nothing.here' }), []);

    assert.deepEqual(await hub.testFilter('data.body.ok == true', { body: { ok: true } }), { match: true });
    const broken = await hub.testFilter('data.body.ok ==', {});
    assert.equal(broken.match, false);
    assert.ok(broken.error);
    const why = (await hub.match('rt.created', { body: { ok: false } })).find((s) => s.name === 'seeded');
    assert.deepEqual([why.topic_match, why.filter_match, why.receives], [true, false, false]);

    const rotated = await hub.rotateSecret('seeded');
    assert.notEqual(rotated.secret, created.secret);
    // Workers pick the new secret up within SWITCHYARD_REFRESH_MS, so publish until a delivery
    // carries it; every delivery, before and after, still verifies with the old one.
    const body = await waitFor(async () => {
      const seen = rx.to('/rt').length;
      await hub.publish('rt.created', { body: { ok: true } });
      const req = (await rx.waitFor('/rt', seen + 1))[seen];
      assert.deepEqual(verifyWebhook(created.secret, req.headers, req.body), { ok: true }, 'the old secret signs during the grace period');
      try {
        return verifyWebhook(rotated.secret, req.headers, req.body);
      } catch (err) {
        if (err instanceof WebhookVerificationError) return null;
        throw err;
      }
    }, { message: 'a delivery signed with the rotated secret' });
    assert.deepEqual(body, { ok: true });

    await hub.deleteSubscriber('seeded');
    await assert.rejects(hub.getSubscriber('seeded'), NotFoundError);
  });

  live('dead letters: list, iterate, replay, delete', async () => {
    rx.on('/dead', 500, 500);
    const sub = await hub.createSubscriber({ topic: 'dl.run', target_url: rx.url('/dead'), max_attempts: 1 });
    const first = await hub.publish('dl.run', { body: { n: 1 } });
    const second = await hub.publish('dl.run', { body: { n: 2 } });
    await jobState(first.id, 'dead');
    await jobState(second.id, 'dead');

    const page = await hub.listDead({ subscriber: sub.id, limit: 1 });
    assert.equal(page.items.length, 1);
    assert.ok(page.next_cursor);
    // Both were delivered concurrently, so either may have died first.
    const dead = new Map();
    for await (const d of hub.iterDead({ subscriber: sub.id, pageSize: 1 })) dead.set(d.event_id, d);
    assert.deepEqual([...dead.keys()].sort(), [first.id, second.id].sort());
    assert.equal(dead.get(first.id).last_status, 500);

    assert.equal(await hub.replayDead(dead.get(first.id).job_id), 1);
    await jobState(first.id, 'delivered');
    await hub.deleteDead(dead.get(second.id).job_id);
    await assert.rejects(hub.deleteDead(dead.get(second.id).job_id), NotFoundError);
    assert.equal(await hub.replayDeadRange({ subscriberId: sub.id }), 0);
    assert.deepEqual((await hub.listDead({ subscriber: sub.id })).items, []);
  });
});
