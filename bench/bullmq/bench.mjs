// bench.mjs — scenario 4's other side: BullMQ moving the same jobs to the same receiver.
// A Queue adds --count jobs (64 adds in flight, as many concurrent producers would), each holding
// the body a Switchyard worker delivers for a --size-byte event (bench/bench_util.h); a Worker with
// --concurrency POSTs each job's data as JSON to --url over keep-alive connections. Runs against
// the benchmark's private redis-server. Prints one line:
//   t0_ns=<wall clock when adding starts> added_ns=<when every job is added> done=N failed=N
// and exits 0 once every job is completed (1 on a failure or after 120 s).
// Usage: node bench.mjs --redis-port P --url URL --count N [--concurrency 64] [--queue bench]
//                       [--size 300]
import http from 'node:http';
import { Queue, Worker } from 'bullmq';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const port = Number(arg('--redis-port'));
const url = new URL(arg('--url'));
const count = Number(arg('--count', '1000'));
const concurrency = Number(arg('--concurrency', '64'));
const queueName = arg('--queue', 'bench');
const size = Number(arg('--size', '300'));
const wallNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

// The same body as bench_body() in bench_util.h: the event's data (size bytes in all) minus its
// {"body": ..., "headers": {...}, "http_method": "post"} wrapping.
const HEAD = '{"body":';
const TAIL = ',"headers":{"x-tenant":"acme"},"http_method":"post"}';
function body(seq) {
  const sentUs = String(wallNs() / 1000n);
  const head = `{"id":${seq},"kind":"order","total":120,"currency":"EUR","sent_us":"${sentUs}","pad":"`;
  const pad = Math.max(0, size - (HEAD.length + TAIL.length + head.length + 2));
  return { id: seq, kind: 'order', total: 120, currency: 'EUR', sent_us: sentUs, pad: 'x'.repeat(pad) };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
function post(json) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
    }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode >= 200 && res.statusCode < 300
        ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(json);
  });
}

const connection = { host: '127.0.0.1', port };
const queue = new Queue(queueName, { connection });
let done = 0;
let failed = 0;
let finish;
const finished = new Promise((resolve) => { finish = resolve; });
const worker = new Worker(queueName, async (job) => post(JSON.stringify(job.data)),
  { connection, concurrency });
worker.on('completed', () => { if (++done + failed === count) finish(); });
worker.on('failed', (job, err) => {
  if (!failed) console.error(`job failed: ${err.message}`);
  if (done + ++failed === count) finish();
});
await queue.waitUntilReady();
await worker.waitUntilReady();

const t0 = wallNs();
let next = 0;
const producer = async () => {
  while (next < count) {
    const seq = next++;
    await queue.add('deliver', body(seq));
  }
};
await Promise.all(Array.from({ length: 64 }, producer));
const added = wallNs();
const timer = setTimeout(() => finish('timeout'), 120000);
const why = await finished;
clearTimeout(timer);
console.log(`t0_ns=${t0} added_ns=${added} done=${done} failed=${failed}`);
await worker.close();
await queue.close();
agent.destroy();
process.exit(why === 'timeout' || failed ? 1 : 0);
