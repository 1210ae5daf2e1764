// Switchyard SDK for Node.js (>= 18): publish events, manage subscribers, verify webhook
// deliveries. No dependencies: the built-in fetch and node:crypto.

import { Buffer } from 'node:buffer';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export const VERSION = '0.1.0';

const DEFAULT_TOLERANCE_SEC = 300;
// 503 and 429 mean the hub changed nothing; 502 and 504 come from a proxy and may hide a request
// that did arrive, so they are retried only for requests that are safe to repeat.
const RETRY_ALWAYS = new Set([429, 503]);
const RETRY_IF_SAFE = new Set([502, 504]);

// ---------------------------------------------------------------------------------------------
// Errors

/** A request the hub refused or could not be reached for. */
export class SwitchyardError extends Error {
  constructor(status, code, message, { body, retryAfter, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.status = status; // HTTP status; 0 when no response arrived
    this.code = code; // the hub's error code, e.g. "unauthorized"
    this.body = body; // the decoded error body, if any
    this.retryAfter = retryAfter; // Retry-After in seconds, if sent
  }
}
/** 400, 413, 415: the request itself is wrong; repeating it cannot succeed. */
export class ValidationError extends SwitchyardError {}
/** 401 (bad or missing token or admin credential) or 403 (topic not allowed for this token). */
export class AuthError extends SwitchyardError {}
/** 404: no such subscriber, event, dead letter or endpoint. */
export class NotFoundError extends SwitchyardError {}
/** 409: e.g. a subscriber with that name already exists. */
export class ConflictError extends SwitchyardError {}
/** 429: the publisher is over its rate. */
export class RateLimitError extends SwitchyardError {}
/** 503/502/504, or no answer at all (status 0, code "network_error"). */
export class UnavailableError extends SwitchyardError {}

const ERROR_BY_STATUS = new Map([
  [400, ValidationError], [413, ValidationError], [415, ValidationError], [422, ValidationError],
  [401, AuthError], [403, AuthError], [404, NotFoundError], [409, ConflictError],
  [429, RateLimitError], [502, UnavailableError], [503, UnavailableError], [504, UnavailableError],
]);

function parseRetryAfter(value) {
  if (!value) return undefined;
  const seconds = Number(value.trim());
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

function errorFromResponse(status, text, retryAfterHeader) {
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  let code = `http_${status}`;
  let message = '';
  const err = body && typeof body === 'object' ? body.error : undefined;
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    code = err.code;
    message = typeof err.message === 'string' ? err.message : '';
  }
  if (!message) message = text && text.trim() ? text.trim().slice(0, 200) : `the hub answered HTTP ${status}`;
  const Kind = ERROR_BY_STATUS.get(status) ?? SwitchyardError;
  return new Kind(status, code, message, { body, retryAfter: parseRetryAfter(retryAfterHeader) });
}

// ---------------------------------------------------------------------------------------------
// Tokens

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function epochMs(now) {
  if (now === undefined || now === null) return Date.now();
  if (now instanceof Date) return now.getTime();
  if (typeof now === 'number' && Number.isFinite(now)) return now;
  throw new TypeError('now must be a Date or milliseconds since the epoch');
}

/**
 * A publisher token: an HS256 JWT signed with the hub's SWITCHYARD_JWT_SECRET.
 * `topics` limits what it may publish; `ttlSec` is its lifetime (null: no exp); `sub` names the
 * publisher in the hub's logs; `claims` adds claims; `now` (Date or ms) is for tests.
 */
export function signToken(secret, { topics, ttlSec = 3600, sub, claims, now } = {}) {
  if (!secret) throw new TypeError("signToken needs the hub's JWT secret");
  const iat = Math.floor(epochMs(now) / 1000);
  const payload = { iat };
  if (ttlSec !== null && ttlSec !== undefined) {
    if (!(ttlSec > 0)) throw new RangeError('ttlSec must be a positive number of seconds, or null');
    payload.exp = iat + Math.floor(ttlSec);
  }
  if (sub !== undefined) payload.sub = sub;
  if (topics !== undefined && topics !== null) {
    const list = typeof topics === 'string' ? [topics] : [...topics];
    if (!list.every((t) => typeof t === 'string')) throw new TypeError('topics must be topic patterns (strings)');
    payload.topics = list;
  }
  Object.assign(payload, claims);
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// ---------------------------------------------------------------------------------------------
// Webhook verification (Standard Webhooks)

/** The delivery must not be trusted; `reason` (also the message) says why. */
export class WebhookVerificationError extends Error {
  constructor(reason) {
    super(reason);
    this.name = 'WebhookVerificationError';
    this.reason = reason;
  }
}

function secretKey(secret) {
  if (secret instanceof Uint8Array) return Buffer.from(secret);
  if (typeof secret !== 'string' || !secret) {
    throw new TypeError('the webhook secret must be the subscriber\'s "whsec_..." string');
  }
  const encoded = secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    throw new TypeError('the webhook secret is not "whsec_" followed by base64');
  }
  return Buffer.from(encoded, 'base64');
}

function bodyBytes(body) {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError(
    'body must be the raw request body (string, Buffer or Uint8Array): verify before parsing, ' +
      'since re-serialized JSON will not match the signature',
  );
}

/** Lower-cased header name -> every value, from a plain object (IncomingMessage.headers), Headers,
 * a Map or [name, value] pairs. */
function collectHeaders(headers) {
  if (!headers || typeof headers !== 'object') throw new TypeError('headers must be an object, Headers or Map');
  // Headers, Map and arrays of pairs iterate as [name, value]; plain objects do not iterate.
  const pairs = typeof headers[Symbol.iterator] === 'function' ? headers : Object.entries(headers);
  const out = new Map();
  for (const [name, value] of pairs) {
    const key = String(name).toLowerCase();
    const values = Array.isArray(value) ? value : [value];
    if (!out.has(key)) out.set(key, []);
    for (const v of values) if (v !== undefined && v !== null) out.get(key).push(String(v));
  }
  return out;
}

function single(found, name) {
  const values = (found.get(name) ?? []).map((v) => v.trim());
  if (!values.length || !values[0]) throw new WebhookVerificationError(`missing ${name} header`);
  if (new Set(values).size > 1) throw new WebhookVerificationError(`more than one ${name} header`);
  return values[0];
}

/** The `v1,<base64>` signature of one delivery, as the worker computes it (to test receivers). */
export function signWebhook(secret, msgId, timestamp, body) {
  const mac = createHmac('sha256', secretKey(secret));
  mac.update(`${msgId}.${timestamp}.`);
  mac.update(bodyBytes(body));
  return `v1,${mac.digest('base64')}`;
}

/**
 * Checks one delivery's signature and returns its parsed JSON body; throws
 * WebhookVerificationError with a reason otherwise. `body` must be the raw bytes or text as
 * received. Timestamps more than `toleranceSec` (300) from `now` (Date or ms; default the clock)
 * either way are refused.
 */
export function verifyWebhook(secret, headers, body, { toleranceSec = DEFAULT_TOLERANCE_SEC, now } = {}) {
  const raw = bodyBytes(body);
  const key = secretKey(secret);
  const found = collectHeaders(headers);
  const msgId = single(found, 'webhook-id');
  const stamp = single(found, 'webhook-timestamp');
  // Space-separated entries; a trailing comma comes from duplicate headers joined with ", ".
  const signatures = (found.get('webhook-signature') ?? [])
    .join(' ')
    .split(/\s+/)
    .map((entry) => entry.replace(/,+$/, ''))
    .filter(Boolean);
  if (!signatures.length) throw new WebhookVerificationError('missing webhook-signature header');
  if (!/^\d{1,12}$/.test(stamp)) throw new WebhookVerificationError('webhook-timestamp is not a whole number of seconds');
  const sentAt = Number(stamp);
  const current = epochMs(now) / 1000;
  if (sentAt < current - toleranceSec) {
    throw new WebhookVerificationError(`webhook-timestamp is too old (more than ${toleranceSec} s ago)`);
  }
  if (sentAt > current + toleranceSec) {
    throw new WebhookVerificationError(`webhook-timestamp is too far in the future (more than ${toleranceSec} s ahead)`);
  }
  const expected = createHmac('sha256', key).update(`${msgId}.${stamp}.`).update(raw).digest();
  let sawV1 = false;
  let matched = false;
  for (const entry of signatures) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    sawV1 = true;
    const given = Buffer.from(entry.slice(comma + 1), 'base64');
    // Check every entry (no early exit) so timing says nothing about which one matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!sawV1) throw new WebhookVerificationError('webhook-signature has no v1 signature');
  if (!matched) throw new WebhookVerificationError('no signature matches: wrong secret, or the body was changed');
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new WebhookVerificationError('the signature is valid but the body is not JSON');
  }
}

// ---------------------------------------------------------------------------------------------
// Client

function rfc3339(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Date || typeof value === 'number') {
    const d = new Date(value);
    if (Number.isNaN(d.getTime())) throw new RangeError('invalid time');
    return d.toISOString();
  }
  throw new TypeError('a time must be a Date, milliseconds since the epoch or an RFC 3339 string');
}

function pathSegment(value) {
  if (typeof value !== 'string' || !value) throw new TypeError('an id or name must be a non-empty string');
  return encodeURIComponent(value);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A client of one Switchyard hub. */
export class Client {
  /**
   * @param {object} options see index.d.ts (ClientOptions)
   */
  constructor({
    hubUrl,
    token,
    jwtSecret,
    adminToken,
    timeoutMs = 10_000,
    retries = 3,
    topics,
    backoffMs = 500,
    maxBackoffMs = 10_000,
    tokenTtlSec = 300,
    fetch: fetchImpl,
  } = {}) {
    let url;
    try {
      url = new URL(hubUrl);
    } catch {
      url = null;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new TypeError('hubUrl must be an http:// or https:// URL, e.g. http://127.0.0.1:8080');
    }
    if (!(retries >= 0)) throw new RangeError('retries must be 0 or more');
    this.hubUrl = url.href.replace(/\/+$/, '');
    this.token = token;
    this.jwtSecret = jwtSecret;
    this.adminToken = adminToken;
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.topics = topics;
    this.backoffMs = backoffMs;
    this.maxBackoffMs = maxBackoffMs;
    this.tokenTtlSec = tokenTtlSec;
    this._fetch = fetchImpl ?? globalThis.fetch;
    if (typeof this._fetch !== 'function') throw new TypeError('no fetch: Node 18 or later is needed');
    this._minted = null; // { token, renewAt (ms) }
  }

  // publishing --------------------------------------------------------------------------------

  /**
   * Publishes one event; resolves to { id, topic, matched } (plus duplicate: true when the hub had
   * already accepted this Idempotency-Key). Always sends an Idempotency-Key (the one given, else
   * the event id, else a fresh UUID made once per call), so its retries never duplicate.
   */
  async publish(topic, data = {}, { id, deliverAt, ttl, idempotencyKey } = {}) {
    if (!isPlainObject(data)) throw new TypeError('data must be an object (the event the filters see)');
    const body = { topic, data };
    if (id !== undefined && id !== null) body.id = id;
    if (deliverAt !== undefined && deliverAt !== null) body.deliver_at = rfc3339(deliverAt);
    if (ttl !== undefined && ttl !== null) {
      if (!Number.isInteger(ttl)) throw new TypeError('ttl must be a whole number of seconds');
      body.ttl = ttl;
    }
    const headers = {
      authorization: `Bearer ${this._publisherToken()}`,
      'idempotency-key': idempotencyKey || id || randomUUID(),
    };
    return this._call('POST', '/v1/publish', { body, headers, safe: true });
  }

  _publisherToken() {
    if (this.token) return this.token;
    if (!this.jwtSecret) {
      throw new AuthError(0, 'missing_credentials', 'publishing needs new Client({token}) or new Client({jwtSecret})');
    }
    const now = Date.now();
    if (!this._minted || now >= this._minted.renewAt) {
      const token = signToken(this.jwtSecret, { topics: this.topics, ttlSec: this.tokenTtlSec, sub: 'switchyard-js', now });
      // Re-mint when a quarter of the lifetime is left, so a token never expires in flight.
      this._minted = { token, renewAt: now + this.tokenTtlSec * 750 };
    }
    return this._minted.token;
  }

  // subscribers -------------------------------------------------------------------------------

  /** Creates a subscriber; resolves to the stored object with its id and signing secret. */
  createSubscriber(fields) {
    return this._admin('POST', '/v1/subscribers', { body: { ...fields } });
  }

  /** Every subscriber, or those whose topic or pattern matches `topic`. */
  async listSubscribers({ topic } = {}) {
    const answer = await this._admin('GET', '/v1/subscribers', { query: { topic }, safe: true });
    return answer.subscribers ?? [];
  }

  getSubscriber(idOrName) {
    return this._admin('GET', `/v1/subscribers/${pathSegment(idOrName)}`, { safe: true });
  }

  /** Changes only the fields given (PATCH); { enabled: true } re-enables after a 410. */
  updateSubscriber(idOrName, fields) {
    return this._admin('PATCH', `/v1/subscribers/${pathSegment(idOrName)}`, { body: { ...fields } });
  }

  /** Creates or replaces the subscriber called `name` (id and secret kept on replace). */
  putSubscriber(name, fields) {
    const body = { name, ...fields };
    return this._admin('PUT', `/v1/subscribers/${pathSegment(name)}`, { body, safe: true });
  }

  async deleteSubscriber(idOrName) {
    await this._admin('DELETE', `/v1/subscribers/${pathSegment(idOrName)}`, { safe: true });
  }

  /** A new signing secret (in `secret`); the old one keeps signing for 24 h. */
  rotateSecret(idOrName) {
    return this._admin('POST', `/v1/subscribers/${pathSegment(idOrName)}/rotate-secret`);
  }

  // dry runs ----------------------------------------------------------------------------------

  /** Runs a filter on data: { match } plus `error` when it does not compile or fails. */
  testFilter(filter, data = {}) {
    return this._admin('POST', '/v1/filters/test', { body: { filter, data }, safe: true });
  }

  /** Every subscriber with why it would or would not receive this event. */
  async match(topic, data = {}) {
    const answer = await this._admin('POST', '/v1/match', { body: { topic, data }, safe: true });
    return answer.subscribers ?? [];
  }

  // events and dead letters -------------------------------------------------------------------

  /** An event with its jobs, their states and every delivery attempt. */
  getEvent(id) {
    return this._admin('GET', `/v1/events/${pathSegment(id)}`, { safe: true });
  }

  /** One page of dead letters, oldest first: { items, next_cursor }. */
  listDead({ subscriber, limit, cursor } = {}) {
    return this._admin('GET', '/v1/dead', { query: { subscriber, limit, cursor }, safe: true });
  }

  /** Every dead letter, fetching pages as needed: `for await (const d of hub.iterDead())`. */
  async *iterDead({ subscriber, pageSize = 100 } = {}) {
    let cursor;
    do {
      const page = await this.listDead({ subscriber, limit: pageSize, cursor });
      yield* page.items ?? [];
      cursor = page.next_cursor;
    } while (cursor);
  }

  /** Puts one dead letter back on the queue (same webhook-id, fresh attempts); resolves to 1. */
  async replayDead(jobId) {
    const answer = await this._admin('POST', `/v1/dead/${pathSegment(jobId)}/replay`);
    return answer.replayed;
  }

  /** Replays the dead letters of one subscriber and/or a time range; resolves to how many. */
  async replayDeadRange({ subscriberId, since, until } = {}) {
    const body = {};
    if (subscriberId !== undefined && subscriberId !== null) body.subscriber_id = subscriberId;
    if (since !== undefined && since !== null) body.since = rfc3339(since);
    if (until !== undefined && until !== null) body.until = rfc3339(until);
    const answer = await this._admin('POST', '/v1/dead/replay', { body });
    return answer.replayed;
  }

  async deleteDead(jobId) {
    await this._admin('DELETE', `/v1/dead/${pathSegment(jobId)}`, { safe: true });
  }

  // transport ---------------------------------------------------------------------------------

  _admin(method, path, options = {}) {
    if (!this.adminToken) {
      return Promise.reject(
        new AuthError(0, 'missing_credentials', "admin calls need new Client({adminToken}) (the hub's SWITCHYARD_ADMIN_TOKEN)"),
      );
    }
    return this._call(method, path, { ...options, headers: { authorization: `Bearer ${this.adminToken}` } });
  }

  /**
   * Sends one request with retries. `safe`: repeating it cannot do harm, so it is also retried
   * after errors that may hide a request the hub did receive.
   */
  async _call(method, path, { body, query, headers, safe = false }) {
    let target = this.hubUrl + path;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null) params.set(k, String(v));
    if ([...params].length) target += `?${params}`;
    const init = {
      method,
      headers: { accept: 'application/json', 'user-agent': `switchyard-js/${VERSION}`, ...headers },
    };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers['content-type'] = 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      let error;
      let retryable;
      try {
        const res = await this._fetch(target, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
        const text = await res.text();
        if (res.status < 300) return decode(res.status, text);
        error = errorFromResponse(res.status, text, res.headers.get('retry-after'));
        retryable = RETRY_ALWAYS.has(res.status) || (safe && RETRY_IF_SAFE.has(res.status));
      } catch (cause) {
        // A refused connection never reached the hub; anything later might have.
        const code = cause?.cause?.code ?? cause?.code;
        retryable = safe || code === 'ECONNREFUSED';
        const why = cause?.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (code ?? cause?.message);
        error = new UnavailableError(0, 'network_error', `could not reach the hub at ${this.hubUrl}: ${why}`, { cause });
      }
      if (!retryable || attempt >= this.retries) throw error;
      await sleep(this._delayMs(attempt, error.retryAfter));
    }
  }

  _delayMs(attempt, retryAfterSec) {
    let delay = this.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
    if (retryAfterSec !== undefined) delay = Math.max(delay, retryAfterSec * 1000);
    return Math.min(delay, this.maxBackoffMs);
  }
}

function decode(status, text) {
  if (status === 204 || !text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new SwitchyardError(status, 'invalid_response', `the hub answered HTTP ${status} with a body that is not JSON`);
  }
}
