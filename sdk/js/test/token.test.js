// signToken: HS256 publisher tokens as the hub checks them.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';

import { signToken } from '../index.js';

function decode(token, secret) {
  const [head, claims, sig] = token.split('.');
  const expected = createHmac('sha256', secret).update(`${head}.${claims}`).digest('base64url');
  assert.equal(sig, expected, 'signature verifies with the secret');
  const parse = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());
  return [parse(head), parse(claims)];
}

test('token is HS256 and verifies with the secret', () => {
  const [header, claims] = decode(signToken('s3cret', { now: 1_000_000 }), 's3cret');
  assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
  assert.deepEqual(claims, { iat: 1000, exp: 4600 });
});

test('wrong secret does not verify', () => {
  assert.throws(() => decode(signToken('s3cret'), 'other'));
});

test('topics claim, from a list or a single pattern', () => {
  assert.deepEqual(decode(signToken('k', { topics: ['orders.*', 'billing.#'] }), 'k')[1].topics, ['orders.*', 'billing.#']);
  assert.deepEqual(decode(signToken('k', { topics: 'orders.*' }), 'k')[1].topics, ['orders.*']);
});

test('ttlSec sets exp and null means no expiry', () => {
  assert.equal(decode(signToken('k', { ttlSec: 60, now: new Date(50_000) }), 'k')[1].exp, 110);
  assert.equal('exp' in decode(signToken('k', { ttlSec: null }), 'k')[1], false);
});

test('sub and extra claims', () => {
  const [, claims] = decode(signToken('k', { sub: 'checkout', claims: { tenant: 'acme' } }), 'k');
  assert.deepEqual([claims.sub, claims.tenant], ['checkout', 'acme']);
});

test('an empty secret is refused', () => {
  assert.throws(() => signToken(''), TypeError);
});

test('the same token as the Python SDK for the same inputs', () => {
  // sign_token("x", topics="a.*", now=0) in sdk/python
  assert.equal(
    signToken('x', { topics: 'a.*', now: 0 }),
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjAsImV4cCI6MzYwMCwidG9waWNzIjpbImEuKiJdfQ.1oE0mtS01wASmA22wVjiYmo4q2CXvcLkf47glGWATGM',
  );
});
