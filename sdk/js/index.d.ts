// Type declarations for the Switchyard SDK (index.js).

export declare const VERSION: string;

// ---------------------------------------------------------------------------------------------
// Data shapes (as on the wire: snake_case field names, exactly as the hub's JSON and seed files)

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Event data: any JSON object. The switch keys shape the delivered request. */
export interface EventData {
  body?: JsonValue;
  headers?: Record<string, string>;
  query_params?: Record<string, string>;
  path_params?: Record<string, string>;
  http_method?: string;
  [key: string]: JsonValue | undefined;
}

/** What you send to create, replace or change a subscriber. */
export interface SubscriberFields {
  name?: string;
  topic?: string;
  filter?: string | null;
  target_url?: string;
  method?: string | null;
  headers?: Record<string, string> | null;
  envelope?: boolean;
  success_codes?: number[] | null;
  discard_codes?: number[] | null;
  max_attempts?: number;
  retry_delays_ms?: number[] | null;
  timeout_ms?: number;
  rate_limit_per_s?: number | null;
  max_in_flight?: number | null;
  enabled?: boolean;
}

/** A stored subscriber. `secret` is present only on create, create-by-PUT and rotate-secret. */
export interface Subscriber extends SubscriberFields {
  id: string;
  name: string;
  topic: string;
  target_url: string;
  secret?: string;
  [key: string]: unknown;
}

export interface PublishResult {
  id: string;
  topic: string;
  matched: number;
  /** true when the Idempotency-Key (or event id) had been accepted before; `id` is the first event's. */
  duplicate?: boolean;
}

export interface PublishOptions {
  /** Your own event id (1-200 of letters, digits, _ - . :); also the default Idempotency-Key. */
  id?: string;
  /** When to deliver: a Date, milliseconds since the epoch, or an RFC 3339 string. */
  deliverAt?: Date | number | string;
  /** Seconds from now after which undelivered jobs expire. */
  ttl?: number;
  /** Defaults to `id`, else a UUID made once per publish call and reused by its retries. */
  idempotencyKey?: string;
}

export interface FilterTestResult {
  match: boolean;
  error?: string;
}

export interface MatchEntry {
  id: string;
  name: string;
  topic_match: boolean;
  filter_match: boolean | null;
  error: string | null;
  enabled: boolean;
  receives: boolean;
}

export type JobState =
  | 'pending' | 'delivering' | 'delivered' | 'retrying' | 'dead' | 'discarded' | 'gone' | 'expired';

export interface Attempt {
  at: string;
  status: number | null;
  latency_ms: number;
  error: string | null;
}

export interface EventRecord {
  id: string;
  topic: string;
  published_at: string;
  jobs: Array<{ job_id: string; subscriber_id: string; state: JobState; attempts: Attempt[] }>;
}

export interface DeadLetter {
  job_id: string;
  event_id: string;
  subscriber_id: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  dead_at: string;
}

export interface DeadPage {
  items: DeadLetter[];
  next_cursor: string | null;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** A request the hub refused or could not be reached for. */
export declare class SwitchyardError extends Error {
  constructor(status: number, code: string, message: string,
    options?: { body?: unknown; retryAfter?: number; cause?: unknown });
  /** HTTP status; 0 when no response arrived (network error, missing credentials). */
  readonly status: number;
  /** The hub's error code: "unauthorized", "invalid_subscriber", "network_error", ... */
  readonly code: string;
  /** The decoded error body, if any. */
  readonly body: unknown;
  /** Retry-After in seconds, if the hub sent it. */
  readonly retryAfter: number | undefined;
}
/** 400, 413, 415. */
export declare class ValidationError extends SwitchyardError {}
/** 401, 403. */
export declare class AuthError extends SwitchyardError {}
/** 404. */
export declare class NotFoundError extends SwitchyardError {}
/** 409. */
export declare class ConflictError extends SwitchyardError {}
/** 429. */
export declare class RateLimitError extends SwitchyardError {}
/** 502, 503, 504, or no answer (status 0, code "network_error"). */
export declare class UnavailableError extends SwitchyardError {}

export declare class WebhookVerificationError extends Error {
  constructor(reason: string);
  readonly reason: string;
}

// ---------------------------------------------------------------------------------------------
// Tokens and webhooks

export interface SignTokenOptions {
  /** Topic patterns the token may publish to. */
  topics?: string | string[];
  /** Lifetime in seconds (default 3600); null for no exp. */
  ttlSec?: number | null;
  sub?: string;
  claims?: Record<string, unknown>;
  /** Date or milliseconds since the epoch; default now. */
  now?: Date | number;
}

/** An HS256 publisher JWT signed with the hub's SWITCHYARD_JWT_SECRET. */
export declare function signToken(secret: string | Uint8Array, options?: SignTokenOptions): string;

export type HeadersLike =
  | Record<string, string | string[] | undefined>
  | Headers
  | Map<string, string | string[]>
  | Iterable<[string, string]>;

export type RawBody = string | Uint8Array | ArrayBuffer;

export interface VerifyOptions {
  /** Seconds a timestamp may be off either way (default 300). */
  toleranceSec?: number;
  /** Date or milliseconds since the epoch; default now. */
  now?: Date | number;
}

/** Verifies a delivery's Standard Webhooks signature; returns the parsed JSON body. */
export declare function verifyWebhook<T = any>(
  secret: string | Uint8Array, headers: HeadersLike, body: RawBody, options?: VerifyOptions): T;

/** The `v1,<base64>` signature the worker would send (to test receivers). */
export declare function signWebhook(
  secret: string | Uint8Array, msgId: string, timestamp: number | string, body: RawBody): string;

// ---------------------------------------------------------------------------------------------
// Client

export interface ClientOptions {
  /** The hub's base URL, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  hubUrl: string;
  /** A publisher JWT, sent as is. */
  token?: string;
  /** The hub's SWITCHYARD_JWT_SECRET: the client mints short-lived tokens itself. */
  jwtSecret?: string;
  /** The hub's SWITCHYARD_ADMIN_TOKEN, for admin calls. */
  adminToken?: string;
  /** Per attempt (default 10000). */
  timeoutMs?: number;
  /** Times a request is sent again after a network error, 429 or 503 (default 3). */
  retries?: number;
  /** topics claim of minted tokens. */
  topics?: string[];
  /** First retry delay, doubled each time, with jitter (default 500). */
  backoffMs?: number;
  /** Longest retry delay, Retry-After included (default 10000). */
  maxBackoffMs?: number;
  /** Lifetime of minted tokens (default 300). */
  tokenTtlSec?: number;
  /** A fetch implementation (default globalThis.fetch). */
  fetch?: typeof fetch;
}

export declare class Client {
  constructor(options: ClientOptions);
  readonly hubUrl: string;

  publish(topic: string, data?: EventData | Record<string, unknown>, options?: PublishOptions): Promise<PublishResult>;

  createSubscriber(fields: SubscriberFields & { topic: string; target_url: string }): Promise<Subscriber>;
  listSubscribers(options?: { topic?: string }): Promise<Subscriber[]>;
  getSubscriber(idOrName: string): Promise<Subscriber>;
  updateSubscriber(idOrName: string, fields: SubscriberFields): Promise<Subscriber>;
  putSubscriber(name: string, fields: SubscriberFields & { topic: string; target_url: string }): Promise<Subscriber>;
  deleteSubscriber(idOrName: string): Promise<void>;
  rotateSecret(idOrName: string): Promise<Subscriber & { secret: string }>;

  testFilter(filter: string, data?: Record<string, unknown>): Promise<FilterTestResult>;
  match(topic: string, data?: Record<string, unknown>): Promise<MatchEntry[]>;

  getEvent(id: string): Promise<EventRecord>;
  listDead(options?: { subscriber?: string; limit?: number; cursor?: string }): Promise<DeadPage>;
  iterDead(options?: { subscriber?: string; pageSize?: number }): AsyncGenerator<DeadLetter, void, undefined>;
  replayDead(jobId: string): Promise<number>;
  replayDeadRange(options?: { subscriberId?: string; since?: Date | number | string; until?: Date | number | string }): Promise<number>;
  deleteDead(jobId: string): Promise<void>;
}
