// Client against a scripted fake hub (node:http): requests on the wire, retries, error classes.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';

import {
  AuthError, Client, ConflictError, NotFoundError, RateLimitError, SwitchyardError, UnavailableError,
  ValidationError,
} from '../index.js';

const errorBody = (code, message = 'something is wrong') => ({ error: { code, message } });

// Each reply: { status, body (object or string), headers, drop } — drop closes the connection
// without answering, as a response lost on the way back.
const hub = { requests: [], script: [], server: null, url: '' };

before(async () => {
  hub.server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      hub.requests.push({ method: req.method, path: req.url, headers: req.headers, json: text ? JSON.parse(text) : undefined });
      const reply = hub.script.shift() ?? { status: 200, body: {} };
      if (reply.drop) {
        req.socket.destroy();
        return;
      }
      const data = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.status === 204 ? undefined : data);
    });
  });
  await new Promise((resolve) => hub.server.listen(0, '127.0.0.1', resolve));
  hub.url = `http://127.0.0.1:${hub.server.address().port}`;
});

after(() => {
  hub.server.closeAllConnections();
  hub.server.close();
});

beforeEach(() => {
  hub.requests = [];
  hub.script = [];
});

const client = (options = {}) =>
  new Client({ hubUrl: hub.url, token: 'publisher-token', adminToken: 'admin-token', backoffMs: 10, ...options });
const reply = (...replies) => hub.script.push(...replies);

describe('publish', () => {
  test('posts topic and data with the token', async () => {
    reply({ status: 202, body: { id: 'evt_1', topic: 'orders.created', matched: 2 } });
    const out = await client().publish('orders.created', { body: { id: 7 } });
    assert.deepEqual(out, { id: 'evt_1', topic: 'orders.created', matched: 2 });
    const [req] = hub.requests;
    assert.deepEqual([req.method, req.path], ['POST', '/v1/publish']);
    assert.equal(req.headers.authorization, 'Bearer publisher-token');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(req.json, { topic: 'orders.created', data: { body: { id: 7 } } });
  });

  test('always sends an Idempotency-Key, a new one per call', async () => {
    const c = client();
    await c.publish('a', {});
    await c.publish('a', {});
    const keys = hub.requests.map((r) => r.headers['idempotency-key']);
    assert.ok(keys.every(Boolean));
    assert.notEqual(keys[0], keys[1]);
  });

  test('the event id is the default Idempotency-Key', async () => {
    await client().publish('a', {}, { id: 'order-7-created' });
    assert.equal(hub.requests[0].headers['idempotency-key'], 'order-7-created');
    assert.equal(hub.requests[0].json.id, 'order-7-created');
  });

  test('options are serialized', async () => {
    await client().publish('a', { x: 1 }, { deliverAt: new Date(Date.UTC(2026, 11, 1, 8, 0, 0, 250)), ttl: 3600, idempotencyKey: 'k1' });
    const [req] = hub.requests;
    assert.equal(req.json.deliver_at, '2026-12-01T08:00:00.250Z');
    assert.equal(req.json.ttl, 3600);
    assert.equal(req.headers['idempotency-key'], 'k1');
  });

  test('data must be an object', async () => {
    await assert.rejects(client().publish('a', [1, 2]), TypeError);
  });

  test('jwtSecret mints a valid HS256 token with topics, reused while fresh', async () => {
    const c = client({ token: undefined, jwtSecret: 'hub-secret', topics: ['orders.*'] });
    await c.publish('orders.x', {});
    await c.publish('orders.x', {});
    const [first, second] = hub.requests.map((r) => r.headers.authorization.split(' ')[1]);
    assert.equal(first, second);
    const [head, claims, sig] = first.split('.');
    assert.equal(createHmac('sha256', 'hub-secret').update(`${head}.${claims}`).digest('base64url'), sig);
    const decoded = JSON.parse(Buffer.from(claims, 'base64url').toString());
    assert.deepEqual(decoded.topics, ['orders.*']);
    assert.ok(decoded.exp - decoded.iat <= 300);
  });

  test('without credentials it fails before sending', async () => {
    await assert.rejects(client({ token: undefined }).publish('a', {}), (e) => e instanceof AuthError && e.code === 'missing_credentials');
    assert.equal(hub.requests.length, 0);
  });
});

describe('retries', () => {
  test('503 is retried with the same Idempotency-Key', async () => {
    reply({ status: 503, body: errorBody('redis_unavailable'), headers: { 'retry-after': '0' } },
      { status: 503, body: errorBody('redis_unavailable') }, { status: 202, body: { id: 'evt_1' } });
    assert.equal((await client().publish('a', {})).id, 'evt_1');
    assert.equal(hub.requests.length, 3);
    assert.equal(new Set(hub.requests.map((r) => r.headers['idempotency-key'])).size, 1);
  });

  test('429 is retried and Retry-After honoured', async () => {
    reply({ status: 429, body: errorBody('rate_limited'), headers: { 'retry-after': '0.2' } }, { status: 202, body: { id: 'evt_2' } });
    const t0 = Date.now();
    assert.equal((await client().publish('a', {})).id, 'evt_2');
    assert.ok(Date.now() - t0 >= 190);
  });

  test('gives up after `retries` with the hub\'s error', async () => {
    reply(...Array(5).fill({ status: 503, body: errorBody('redis_unavailable', 'Redis is away') }));
    await assert.rejects(client({ retries: 2 }).publish('a', {}), (e) =>
      e instanceof UnavailableError && e.status === 503 && e.code === 'redis_unavailable' && e.message === 'Redis is away');
    assert.equal(hub.requests.length, 3);
  });

  test('a lost response is retried with the same key', async () => {
    reply({ drop: true }, { status: 202, body: { id: 'evt_3', duplicate: true } });
    assert.equal((await client().publish('a', {})).id, 'evt_3');
    const keys = hub.requests.map((r) => r.headers['idempotency-key']);
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1]);
  });

  test('connection refused is retried, then UnavailableError', async () => {
    const probe = createServer();
    await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = probe.address().port;
    await new Promise((resolve) => probe.close(resolve));
    const c = new Client({ hubUrl: `http://127.0.0.1:${port}`, token: 't', retries: 2, backoffMs: 5 });
    await assert.rejects(c.publish('a', {}), (e) => e instanceof UnavailableError && e.status === 0 && e.code === 'network_error' && e.cause !== undefined);
  });

  test('a request that times out is retried', async () => {
    let seen = 0;
    const slow = createServer(() => seen++); // never answers
    await new Promise((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const c = new Client({ hubUrl: `http://127.0.0.1:${slow.address().port}`, token: 't', retries: 1, backoffMs: 5, timeoutMs: 100 });
    await assert.rejects(c.publish('a', {}), (e) => e instanceof UnavailableError && /no answer within 100 ms/.test(e.message));
    assert.equal(seen, 2);
    slow.closeAllConnections();
    slow.close();
  });

  test('validation errors are not retried', async () => {
    reply({ status: 400, body: errorBody('invalid_topic', 'word 2 is empty') });
    await assert.rejects(client().publish('a..b', {}), (e) => e instanceof ValidationError && e.code === 'invalid_topic');
    assert.equal(hub.requests.length, 1);
  });

  test('create is not repeated after a lost response', async () => {
    reply({ drop: true });
    await assert.rejects(client().createSubscriber({ topic: 'a', target_url: 'http://x/' }), UnavailableError);
    assert.equal(hub.requests.length, 1);
  });

  test('create is retried after 503 since the hub changed nothing', async () => {
    reply({ status: 503, body: errorBody('redis_unavailable') }, { status: 201, body: { id: 'sub_1' } });
    assert.equal((await client().createSubscriber({ topic: 'a', target_url: 'http://x/' })).id, 'sub_1');
  });
});

describe('errors', () => {
  test('the class follows the status', async () => {
    const cases = [[400, 'invalid_json', ValidationError], [413, 'payload_too_large', ValidationError],
      [415, 'unsupported_media_type', ValidationError], [401, 'unauthorized', AuthError], [403, 'forbidden', AuthError],
      [404, 'not_found', NotFoundError], [409, 'conflict', ConflictError], [429, 'rate_limited', RateLimitError],
      [503, 'redis_unavailable', UnavailableError], [405, 'method_not_allowed', SwitchyardError], [500, 'internal', SwitchyardError]];
    const c = client({ retries: 0 });
    for (const [status, code, Kind] of cases) {
      reply({ status, body: errorBody(code, `because ${status}`) });
      await assert.rejects(c.getSubscriber('x'), (e) =>
        e instanceof Kind && e instanceof SwitchyardError && e.status === status && e.code === code &&
        e.message === `because ${status}` && e.name === Kind.name);
    }
  });

  test('an error body not in the hub\'s shape', async () => {
    reply({ status: 502, body: '<html>Bad Gateway</html>' });
    await assert.rejects(client({ retries: 0 }).getSubscriber('x'), (e) => e.code === 'http_502' && e.message.includes('Bad Gateway'));
  });

  test('admin call without adminToken fails before sending', async () => {
    await assert.rejects(client({ adminToken: undefined }).listSubscribers(), (e) => e instanceof AuthError && e.code === 'missing_credentials');
    assert.equal(hub.requests.length, 0);
  });

  test('hubUrl must be http(s)', () => {
    assert.throws(() => new Client({ hubUrl: 'ftp://hub' }), TypeError);
    assert.throws(() => new Client({}), TypeError);
  });
});

describe('admin calls', () => {
  test('every call maps to its endpoint', async () => {
    const c = client();
    const since = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const cases = [
      [{ status: 201, body: { id: 'sub_1' } }, () => c.createSubscriber({ topic: 'a', target_url: 'http://x/' }), 'POST', '/v1/subscribers', { topic: 'a', target_url: 'http://x/' }],
      [{ status: 200, body: { subscribers: [] } }, () => c.listSubscribers({ topic: 'orders.created' }), 'GET', '/v1/subscribers?topic=orders.created'],
      [{ status: 200, body: {} }, () => c.getSubscriber('team:billing+eu'), 'GET', '/v1/subscribers/team%3Abilling%2Beu'],
      [{ status: 200, body: {} }, () => c.updateSubscriber('sub_1', { enabled: true }), 'PATCH', '/v1/subscribers/sub_1', { enabled: true }],
      [{ status: 201, body: {} }, () => c.putSubscriber('billing', { topic: 'a', target_url: 'http://x/' }), 'PUT', '/v1/subscribers/billing', { name: 'billing', topic: 'a', target_url: 'http://x/' }],
      [{ status: 204 }, () => c.deleteSubscriber('sub_1'), 'DELETE', '/v1/subscribers/sub_1'],
      [{ status: 200, body: { secret: 'whsec_x' } }, () => c.rotateSecret('sub_1'), 'POST', '/v1/subscribers/sub_1/rotate-secret'],
      [{ status: 200, body: { match: true } }, () => c.testFilter('data.x == 1', { x: 1 }), 'POST', '/v1/filters/test', { filter: 'data.x == 1', data: { x: 1 } }],
      [{ status: 200, body: { subscribers: [] } }, () => c.match('a', { x: 1 }), 'POST', '/v1/match', { topic: 'a', data: { x: 1 } }],
      [{ status: 200, body: {} }, () => c.getEvent('evt_1'), 'GET', '/v1/events/evt_1'],
      [{ status: 200, body: { items: [], next_cursor: null } }, () => c.listDead({ subscriber: 'sub_1', limit: 5, cursor: 'c1' }), 'GET', '/v1/dead?subscriber=sub_1&limit=5&cursor=c1'],
      [{ status: 200, body: { replayed: 1 } }, () => c.replayDead('job_1'), 'POST', '/v1/dead/job_1/replay'],
      [{ status: 200, body: { replayed: 4 } }, () => c.replayDeadRange({ subscriberId: 'sub_1', since }), 'POST', '/v1/dead/replay', { subscriber_id: 'sub_1', since: '2026-01-02T03:04:05.000Z' }],
      [{ status: 204 }, () => c.deleteDead('job_1'), 'DELETE', '/v1/dead/job_1'],
    ];
    for (const [answer, call, method, path, body] of cases) {
      reply(answer);
      await call();
      const req = hub.requests.at(-1);
      assert.deepEqual([req.method, req.path, req.json], [method, path, body]);
      assert.equal(req.headers.authorization, 'Bearer admin-token');
    }
  });

  test('answers are unwrapped where a list or a number is natural', async () => {
    const c = client();
    reply({ status: 200, body: { subscribers: [{ id: 's' }] } });
    assert.deepEqual(await c.listSubscribers(), [{ id: 's' }]);
    reply({ status: 200, body: { subscribers: [{ id: 'm' }] } });
    assert.deepEqual(await c.match('a', {}), [{ id: 'm' }]);
    reply({ status: 200, body: { replayed: 3 } });
    assert.equal(await c.replayDeadRange(), 3);
    reply({ status: 204 });
    assert.equal(await c.deleteDead('job_1'), undefined);
  });

  test('iterDead follows the cursor', async () => {
    reply({ status: 200, body: { items: [{ job_id: 'j1' }, { job_id: 'j2' }], next_cursor: 'c2' } },
      { status: 200, body: { items: [{ job_id: 'j3' }], next_cursor: null } });
    const jobs = [];
    for await (const d of client().iterDead({ subscriber: 'sub_1', pageSize: 2 })) jobs.push(d.job_id);
    assert.deepEqual(jobs, ['j1', 'j2', 'j3']);
    assert.equal(hub.requests[1].path, '/v1/dead?subscriber=sub_1&limit=2&cursor=c2');
  });

  test('a path prefix in hubUrl is kept', async () => {
    reply({ status: 200, body: { subscribers: [] } });
    await new Client({ hubUrl: `${hub.url}/switchyard/`, adminToken: 'a' }).listSubscribers();
    assert.equal(hub.requests[0].path, '/switchyard/v1/subscribers');
  });
});
