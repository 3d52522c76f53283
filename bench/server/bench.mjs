// kiln serve figures, side by side in one run (issue 13's benchmark table, first part):
//  1. SDK Sandbox.create() -> commands.run('true') resolved, from the warm pool and cold, p50/p99 (cold: on a
//     second server without a pool, KILN_COLD_API_URL and KILN_COLD_API_KEY)
//  2. /health and a 1 KiB read through the server vs straight to the sandbox's envd socket, p50/p99
//  3. 100 MB upload + download through the server vs straight, MB/s (median of TRANSFERS rounds)
// Run by run.sh, which starts the server and sets E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY and KILN_SOCKET_DIR.
import http from 'node:http';
import { Sandbox } from 'e2b';

const cycles = Number(process.env.CYCLES || 50);
const requests = Number(process.env.REQUESTS || 2000);
const megabytes = Number(process.env.MEGABYTES || 100);
const transfers = Number(process.env.TRANSFERS || 5);
const server = new URL(process.env.E2B_SANDBOX_URL);

function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const ms = (ns) => Number(ns) / 1e6;
const fmt = (samples) => `p50 ${percentile(samples, 50).toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms`;

// One keep-alive connection per route, as the SDK's agents keep theirs.
function client(viaServer, sandbox) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const base = viaServer
    ? { host: server.hostname, port: server.port, headers: { 'E2b-Sandbox-Id': sandbox.sandboxId, 'E2b-Sandbox-Port': '49983' } }
    : { socketPath: `${process.env.KILN_SOCKET_DIR}/${sandbox.sandboxId}.sock`, headers: {} };
  return (method, path, body, contentType) =>
    new Promise((resolve, reject) => {
      const headers = { ...base.headers, 'X-Access-Token': sandbox.envdAccessToken };
      if (contentType) headers['Content-Type'] = contentType;
      if (body) headers['Content-Length'] = body.length;
      const req = http.request({ ...base, agent, method, path, headers }, (res) => {
        let bytes = 0;
        res.on('data', (chunk) => (bytes += chunk.length));
        res.on('end', () => resolve({ status: res.statusCode, bytes }));
      });
      req.on('error', reject);
      req.end(body);
    });
}

async function latency(call, path) {
  for (let i = 0; i < 100; ++i) await call('GET', path);
  const samples = [];
  for (let i = 0; i < requests; ++i) {
    const t = process.hrtime.bigint();
    const r = await call('GET', path);
    samples.push(ms(process.hrtime.bigint() - t));
    if (r.status >= 300) throw new Error(`${path}: ${r.status}`);
  }
  return samples;
}

// One upload then one download of `megabytes` MB, MB/s each.
async function transfer(call, data) {
  let t = process.hrtime.bigint();
  const up = await call('POST', '/files?path=/tmp/big.bin', data, 'application/octet-stream');
  const upSeconds = ms(process.hrtime.bigint() - t) / 1000;
  t = process.hrtime.bigint();
  const down = await call('GET', '/files?path=/tmp/big.bin');
  const downSeconds = ms(process.hrtime.bigint() - t) / 1000;
  if (up.status !== 200 || down.bytes !== data.length) throw new Error(`transfer failed: ${up.status} ${down.bytes}`);
  return { up: megabytes / upSeconds, down: megabytes / downSeconds };
}

// TRANSFERS rounds, direct and via the server in turn (one transfer swings by 2x on a busy 2-core machine):
// the median of each.
async function throughput(direct, via) {
  const data = Buffer.alloc(megabytes << 20, 'k');
  const rounds = { direct: [], via: [] };
  for (let i = 0; i < transfers; ++i) {
    rounds.direct.push(await transfer(direct, data));
    rounds.via.push(await transfer(via, data));
  }
  const median = (list, key) => percentile(list.map((r) => r[key]), 50);
  return [
    { up: median(rounds.direct, 'up'), down: median(rounds.direct, 'down') },
    { up: median(rounds.via, 'up'), down: median(rounds.via, 'down') },
  ];
}

// The warm pool's ready count from GET /metrics.
async function poolSize() {
  const res = await fetch(`${process.env.E2B_API_URL}/metrics`, { headers: { 'X-API-Key': process.env.E2B_API_KEY } });
  const match = /kiln_pool_size\{template="base"\} (\d+)/.exec(await res.text());
  return match ? Number(match[1]) : 0;
}

// Samples of the whole cycle, with its two parts (the create call, then the first command) kept apart.
async function createCycles(options, waitForPool) {
  const samples = [];
  samples.create = [];
  samples.run = [];
  // One untimed cycle first: the process's first create and command pay for loading and compiling the
  // SDK's code and opening its connections (about 130 ms, which was every run's pooled p99).
  for (let i = -1; i < cycles; ++i) {
    // Not timed: a pooled create is measured with a sandbox ready, as a pool sized for its load has.
    while (waitForPool && (await poolSize()) < 1) await new Promise((r) => setTimeout(r, 20));
    const t = process.hrtime.bigint();
    const sbx = await Sandbox.create(options);
    const created = process.hrtime.bigint();
    await sbx.commands.run('true');
    const ran = process.hrtime.bigint();
    await sbx.kill();
    if (i < 0) continue;
    samples.push(ms(ran - t));
    samples.create.push(ms(created - t));
    samples.run.push(ms(ran - created));
  }
  return samples;
}
const parts = (s) => `(create p50 ${percentile(s.create, 50).toFixed(2)} ms + run p50 ${percentile(s.run, 50).toFixed(2)} ms)`;
const pooled = await createCycles(process.env.POOLED_ENVS ? { envs: { POOLED: '1' } } : {}, true);
const coldServer = { apiUrl: process.env.KILN_COLD_API_URL, sandboxUrl: process.env.KILN_COLD_API_URL, apiKey: process.env.KILN_COLD_API_KEY };
const cold = await createCycles({ ...coldServer, envs: { COLD: '1' } }, false);
console.log(
  `create -> commands.run('true'), ${cycles} cycles: pooled ${fmt(pooled)} ${parts(pooled)}; cold ${fmt(cold)} ${parts(cold)}`,
);

const sbx = await Sandbox.create({ timeoutMs: 600_000 });
await sbx.files.write('/home/user/1k.txt', 'k'.repeat(1024));
const via = client(true, sbx), direct = client(false, sbx);
for (const [name, path] of [['/health', '/health'], ['1 KiB read', '/files?path=/home/user/1k.txt']]) {
  const d = await latency(direct, path), v = await latency(via, path);
  const extra = percentile(v, 50) - percentile(d, 50);
  console.log(`${name} x${requests}: direct ${fmt(d)}; via server ${fmt(v)}; +${extra.toFixed(3)} ms p50`);
}
const [td, tv] = await throughput(direct, via);
console.log(
  `${megabytes} MB upload (median of ${transfers}): direct ${td.up.toFixed(0)} MB/s, via server ${tv.up.toFixed(0)} MB/s (${((100 * tv.up) / td.up).toFixed(0)}%); ` +
    `download: direct ${td.down.toFixed(0)} MB/s, via server ${tv.down.toFixed(0)} MB/s (${((100 * tv.down) / td.down).toFixed(0)}%)`,
);
await sbx.kill();
