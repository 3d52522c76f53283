// The official E2B JS SDKs (e2b 2.51.0, @e2b/code-interpreter 2.8.0, pinned in package-lock.json) against a
// running `kiln serve`, pointed at it only through E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY.
// Run by run.sh; each step prints its name, and the first failed assertion exits non-zero.
import assert from 'node:assert/strict';
import http from 'node:http';
import { Sandbox } from 'e2b';
import { Sandbox as CodeInterpreter } from '@e2b/code-interpreter';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const steps = [];
async function step(name, fn) {
  const started = Date.now();
  await fn();
  steps.push(name);
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

// GET path from the server with the given Host header (how a browser reaches getHost(port) behind a
// wildcard DNS name for PORT-ID.DOMAIN).
function getThroughServer(host, path) {
  const api = new URL(process.env.E2B_API_URL);
  return new Promise((resolve, reject) => {
    const req = http.get({ hostname: api.hostname, port: api.port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (piece) => (body += piece));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}

const metadata = { suite: 'kiln-e2e', 'a&b': 'c=d w' };
let sbx;

await step('Sandbox.create with metadata, envs and timeout', async () => {
  sbx = await Sandbox.create({ metadata, envs: { GREETING: 'hello from envVars' }, timeoutMs: 120_000 });
  assert.match(sbx.sandboxId, /^[a-z0-9]+$/);
});

await step('commands.run echo hi', async () => {
  const r = await sbx.commands.run('echo hi');
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'hi\n');
});

await step('global envVars reach commands', async () => {
  assert.equal((await sbx.commands.run('echo "$GREETING"')).stdout, 'hello from envVars\n');
});

await step('sudo as E2B scripts use it: root, stdin and the exit code pass through', async () => {
  assert.equal((await sbx.commands.run('sudo id -u')).stdout, '0\n');
  assert.equal((await sbx.commands.run('echo piped | sudo cat')).stdout, 'piped\n');
  assert.equal((await sbx.commands.run('id -u')).stdout, '1000\n');
  await assert.rejects(sbx.commands.run("sudo sh -c 'exit 7'"), (e) => e.exitCode === 7);
});

await step('a failing command raises CommandExitError with stderr', async () => {
  await assert.rejects(sbx.commands.run('echo oops >&2; exit 3'), (e) => e.exitCode === 3 && e.stderr === 'oops\n');
});

await step('background command and kill', async () => {
  const handle = await sbx.commands.run('sleep 60', { background: true });
  assert.ok(handle.pid > 0);
  assert.equal(await handle.kill(), true);
  await assert.rejects(handle.wait());
});

await step('files.write and files.read', async () => {
  const info = await sbx.files.write('/home/user/note.txt', 'kiln e2e\n');
  assert.equal(info.path, '/home/user/note.txt');
  assert.equal(await sbx.files.read('/home/user/note.txt'), 'kiln e2e\n');
  const big = 'x'.repeat(3 << 20);
  await sbx.files.write('big.txt', big);
  assert.equal((await sbx.files.read('big.txt')).length, big.length);
  assert.ok((await sbx.files.list('/home/user')).some((e) => e.name === 'note.txt'));
});

await step('Sandbox.list filters by metadata', async () => {
  const mine = await Sandbox.list({ query: { metadata, state: ['running'] } }).nextItems();
  assert.deepEqual(mine.map((s) => s.sandboxId), [sbx.sandboxId]);
  assert.equal(mine[0].metadata['a&b'], 'c=d w');
  const none = await Sandbox.list({ query: { metadata: { suite: 'other' } } }).nextItems();
  assert.equal(none.length, 0);
});

await step('getInfo', async () => {
  const info = await sbx.getInfo();
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.templateId, 'base');
  assert.equal(info.metadata.suite, 'kiln-e2e');
  assert.ok(info.endAt > info.startedAt);
});

await step('Sandbox.connect reaches the same sandbox', async () => {
  const again = await Sandbox.connect(sbx.sandboxId);
  assert.equal((await again.commands.run('cat /home/user/note.txt')).stdout, 'kiln e2e\n');
});

await step('getHost: a web server started in the sandbox answers through the server', async () => {
  await sbx.files.write('/home/user/www/hello.txt', 'served from the sandbox\n');
  const server = await sbx.commands.run('cd /home/user/www && exec python3 -m http.server 8000', { background: true });
  const host = sbx.getHost(8000);
  assert.ok(host.startsWith(`8000-${sbx.sandboxId}.`), host);
  let page = { status: 0 };
  for (let i = 0; i < 100 && page.status !== 200; i++) {
    page = await getThroughServer(host, '/hello.txt');
    if (page.status !== 200) await sleep(100);
  }
  assert.equal(page.status, 200, page.body);
  assert.equal(page.body, 'served from the sandbox\n');
  const closed = await getThroughServer(`8001-${sbx.sandboxId}.kiln.test`, '/');
  assert.equal(closed.status, 502);
  assert.equal(JSON.parse(closed.body).message, 'The sandbox is running but port is not open');
  await server.kill();
});

await step('kill, then isRunning is false and a second kill returns false', async () => {
  await sbx.kill();
  assert.equal(await sbx.isRunning(), false);
  assert.equal(await Sandbox.kill(sbx.sandboxId), false);
  assert.equal(await Sandbox.kill('nonexistingsandbox'), false);
});

await step('allowInternetAccess: network only when asked (the resolver file tells)', async () => {
  const asked = await Sandbox.create({ allowInternetAccess: true });
  const plain = await Sandbox.create();
  try {
    assert.match(await asked.files.read('/etc/resolv.conf'), /nameserver 10\.0\.2\.3/);
    assert.match(await plain.files.read('/etc/resolv.conf'), /no network/);
  } finally {
    await asked.kill();
    await plain.kill();
  }
});

await step('setTimeout ends a sandbox', async () => {
  const short = await Sandbox.create();
  assert.equal(await short.isRunning(), true);
  await short.setTimeout(2_000);
  await sleep(3_500);
  assert.equal(await short.isRunning(), false);
});

await step('code interpreter: runCode keeps state', async () => {
  const ci = await CodeInterpreter.create();
  try {
    await ci.runCode('x = 41');
    const execution = await ci.runCode('x + 1');
    assert.equal(execution.text, '42');
    const out = [];
    await ci.runCode('print("streamed")', { onStdout: (m) => out.push(m.line) });
    assert.deepEqual(out, ['streamed\n']);
    const failed = await ci.runCode('1/0');
    assert.equal(failed.error.name, 'ZeroDivisionError');
  } finally {
    await ci.kill();
  }
});

await step('code interpreter: contexts are created, used, listed, restarted and removed', async () => {
  const ci = await CodeInterpreter.create();
  try {
    const context = await ci.createCodeContext({ cwd: '/tmp' });
    assert.equal(context.language, 'python');
    assert.equal(context.cwd, '/tmp');
    await ci.runCode('y = 6', { context });
    assert.equal((await ci.runCode('import os; (y * 7, os.getcwd())', { context })).text, "(42, '/tmp')");
    const ids = (await ci.listCodeContexts()).map((c) => c.id);
    assert.ok(ids.includes(context.id), `${context.id} not in ${ids}`);
    await ci.restartCodeContext(context);
    assert.equal((await ci.runCode('y', { context })).error.name, 'NameError');
    await ci.removeCodeContext(context.id);
    assert.ok(!(await ci.listCodeContexts()).some((c) => c.id === context.id));
  } finally {
    await ci.kill();
  }
});

await step('code interpreter with network.allowPublicTraffic false: the SDK sends the traffic token', async () => {
  const ci = await CodeInterpreter.create({ network: { allowPublicTraffic: false } });
  try {
    assert.equal(typeof ci.trafficAccessToken, 'string');
    const execution = await ci.runCode('6 * 7');
    assert.equal(execution.text, '42');
    // The same request without the token is refused.
    const res = await fetch(`${process.env.E2B_SANDBOX_URL}/execute`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'E2b-Sandbox-Id': ci.sandboxId, 'E2b-Sandbox-Port': '49999' },
      body: JSON.stringify({ code: '1' }),
    });
    assert.equal(res.status, 403);
    assert.match((await res.json()).message, /E2B-Traffic-Access-Token/);
  } finally {
    await ci.kill();
  }
});

console.log(`all ${steps.length} steps passed`);
