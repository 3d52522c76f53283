// An older 2.x `e2b` SDK (2.45.0, installed as the npm alias e2b-legacy and pinned in package-lock.json)
// against a running `kiln serve`: it creates through the legacy POST /sandboxes and connects through the
// legacy POST /sandboxes/{id}/connect, which the server's access log (KILN_SERVE_LOG, from run.sh) shows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

let Sandbox;
try {
  ({ Sandbox } = await import('e2b-legacy'));
} catch {
  console.log('skipped: e2b-legacy is not installed (run scripts/setup.sh --with-test-deps)');
  process.exit(77);
}

const steps = [];
async function step(name, fn) {
  const started = Date.now();
  await fn();
  steps.push(name);
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

// The access-log lines of requests to `path` with `method`.
function logged(method, path) {
  return readFileSync(process.env.KILN_SERVE_LOG, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line))
    .filter((entry) => entry.method === method && entry.path === path);
}

let sbx;
await step('Sandbox.create goes through the legacy POST /sandboxes', async () => {
  sbx = await Sandbox.create({ metadata: { sdk: 'legacy' }, envs: { LEGACY: 'yes' } });
  assert.match(sbx.sandboxId, /^[a-z0-9]+$/);
  assert.equal(logged('POST', '/sandboxes').filter((e) => e.status === 201).length, 1);
  assert.equal(logged('POST', '/v2/sandboxes').length, 0);
});

await step('commands.run through the data plane', async () => {
  const r = await sbx.commands.run('echo "legacy $LEGACY"');
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'legacy yes\n');
});

// This SDK sends allow_internet_access true unless told false, so true there is the server's default (off).
await step('the legacy default allow_internet_access true leaves the network off', async () => {
  assert.match(await sbx.files.read('/etc/resolv.conf'), /no network/);
});

await step('Sandbox.connect goes through the legacy connect path', async () => {
  const again = await Sandbox.connect(sbx.sandboxId);
  assert.equal((await again.commands.run('echo again')).stdout, 'again\n');
  assert.ok(logged('POST', `/sandboxes/${sbx.sandboxId}/connect`).some((e) => e.status === 200));
});

await step('kill, then isRunning is false and a second kill returns false', async () => {
  await sbx.kill();
  assert.equal(await sbx.isRunning(), false);
  assert.equal(await Sandbox.kill(sbx.sandboxId), false);
});

console.log(`all ${steps.length} steps passed`);
