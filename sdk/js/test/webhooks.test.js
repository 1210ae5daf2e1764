// verifyWebhook and signWebhook: the Standard Webhooks scheme, without a hub.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';

import { WebhookVerificationError, signWebhook, verifyWebhook } from '../index.js';

// The test vector published with the Standard Webhooks specification.
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const MSG_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const TIMESTAMP = 1614265330;
const BODY = '{"test": 2432232314}';
const SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
const NOW = TIMESTAMP * 1000;

const specHeaders = ({ signature = SIGNATURE, id = MSG_ID, timestamp = TIMESTAMP } = {}) => ({
  'webhook-id': id,
  'webhook-timestamp': String(timestamp),
  'webhook-signature': signature,
});
const wrongSignature = `v1,${Buffer.alloc(32, 'x').toString('base64')}`;

function refused(fragment, { secret = SECRET, headers = specHeaders(), body = BODY, ...options } = {}) {
  assert.throws(
    () => verifyWebhook(secret, headers, body, { now: NOW, ...options }),
    (err) => err instanceof WebhookVerificationError && err.reason.includes(fragment) && err.message === err.reason,
  );
}

describe('spec vector', () => {
  test('the signature is computed here, not copied', () => {
    const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
    const mac = createHmac('sha256', key).update(`${MSG_ID}.${TIMESTAMP}.${BODY}`).digest('base64');
    assert.equal(`v1,${mac}`, SIGNATURE);
    assert.equal(signWebhook(SECRET, MSG_ID, TIMESTAMP, BODY), SIGNATURE);
  });

  test('verifies and returns the parsed body', () => {
    assert.deepEqual(verifyWebhook(SECRET, specHeaders(), BODY, { now: NOW }), { test: 2432232314 });
  });

  test('body may be a Buffer, a Uint8Array or a string', () => {
    for (const body of [Buffer.from(BODY), new TextEncoder().encode(BODY), BODY]) {
      assert.equal(verifyWebhook(SECRET, specHeaders(), body, { now: NOW }).test, 2432232314);
    }
  });

  test('secret without the whsec_ prefix is the same key', () => {
    assert.ok(verifyWebhook(SECRET.slice(6), specHeaders(), BODY, { now: new Date(NOW) }));
  });
});

describe('refusals', () => {
  test('tampered body', () => refused('no signature matches', { body: '{"test": 2432232315}' }));
  test('re-serialized body', () => refused('no signature matches', { body: JSON.stringify(JSON.parse(BODY)) }));
  test('wrong secret', () => refused('no signature matches', { secret: `whsec_${Buffer.from('another secret').toString('base64')}` }));
  test('changed message id', () => refused('no signature matches', { headers: specHeaders({ id: 'msg_other' }) }));
  test('timestamp older than five minutes', () => refused('too old', { now: NOW + 301_000 }));
  test('timestamp more than five minutes ahead', () => refused('future', { now: NOW - 301_000 }));
  test('tolerance can be narrowed', () => refused('too old', { now: NOW + 11_000, toleranceSec: 10 }));
  test('checked against the clock by default', () => refused('too old', { now: undefined }));
  test('non-numeric timestamp', () => refused('whole number', { headers: specHeaders({ timestamp: '1614265330.5' }) }));
  test('signature of another version only', () => refused('no v1 signature', { headers: specHeaders({ signature: `v1a,${SIGNATURE.slice(3)}` }) }));
  test('only wrong signatures', () => refused('no signature matches', { headers: specHeaders({ signature: `${wrongSignature} ${wrongSignature}` }) }));

  test('missing headers are named', () => {
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      const headers = specHeaders();
      delete headers[name];
      refused(`missing ${name}`, { headers });
    }
  });

  test('timestamps within five minutes either way are accepted', () => {
    for (const now of [NOW - 300_000, NOW + 300_000]) assert.ok(verifyWebhook(SECRET, specHeaders(), BODY, { now }));
  });

  test('a parsed body is a TypeError, not a silent mismatch', () => {
    assert.throws(() => verifyWebhook(SECRET, specHeaders(), JSON.parse(BODY), { now: NOW }), TypeError);
  });

  test('a malformed secret is a TypeError', () => {
    assert.throws(() => verifyWebhook('whsec_not base64!', specHeaders(), BODY, { now: NOW }), TypeError);
  });
});

describe('header shapes', () => {
  const ok = (headers) => assert.equal(verifyWebhook(SECRET, headers, BODY, { now: NOW }).test, 2432232314);

  test('names are case-insensitive in a plain object', () => {
    ok({ 'Webhook-ID': MSG_ID, 'WEBHOOK-TIMESTAMP': String(TIMESTAMP), 'Webhook-Signature': SIGNATURE });
  });
  test('fetch Headers', () => ok(new Headers(specHeaders())));
  test('Map', () => ok(new Map(Object.entries(specHeaders()))));
  test('array of pairs', () => ok(Object.entries(specHeaders())));
  test('any one of several space-separated signatures', () => {
    ok(specHeaders({ signature: `${wrongSignature} ${SIGNATURE}` }));
    ok(specHeaders({ signature: `v2,abc ${SIGNATURE} ${wrongSignature}` }));
  });
  test('repeated signature headers, as arrays or joined with ", "', () => {
    ok({ ...specHeaders(), 'webhook-signature': [wrongSignature, SIGNATURE] });
    const h = new Headers(specHeaders({ signature: wrongSignature }));
    h.append('webhook-signature', SIGNATURE);
    ok(h);
  });
});
