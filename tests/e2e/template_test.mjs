// The official E2B JS SDK against `kiln serve` on a template built with `kiln template build` (run by run.sh,
// which passes the server's home and the kiln binary): Sandbox.create('NAME') answers once the template's
// ready command passes, with its start command serving, and with the template's USER and WORKDIR as the
// defaults of commands and files. Template builds need root: skipped (77) otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sandbox } from 'e2b';

if (process.getuid() !== 0) {
  console.log('skipped: template builds need root');
  process.exit(77);
}
const steps = [];
async function step(name, fn) {
  const started = Date.now();
  await fn();
  steps.push(name);
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}

const context = mkdtempSync(join(tmpdir(), 'kiln-e2e-template-'));
const fetchPage = "python3 -c \"import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/page', timeout=2).read().decode(), end='')\"";
writeFileSync(join(context, 'Dockerfile'), [
  'FROM host',
  'USER root',
  'WORKDIR /srv/app',
  'RUN echo served > /srv/app/page',
  '# kiln: start-cmd sleep 0.5; exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/app',
  `# kiln: ready-cmd ${fetchPage}`,
  '',
].join('\n'));

await step('kiln template build web', async () => {
  execFileSync(process.env.KILN_E2E_BINARY, ['template', 'build', 'web', '-f', join(context, 'Dockerfile'), '-q'], {
    env: { ...process.env, KILN_HOME: process.env.KILN_E2E_HOME },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
});

await step('GET /templates lists it after the built-in ones', async () => {
  const r = await fetch(`${process.env.E2B_API_URL}/templates`, { headers: { 'X-API-Key': process.env.E2B_API_KEY } });
  assert.equal(r.status, 200);
  const list = await r.json();
  assert.deepEqual(list.map((t) => t.templateID), ['base', 'code-interpreter-v1', 'web']);
  assert.equal(list[2].public, false);
  assert.equal(list[2].buildStatus, 'ready');
});

let sbx;
await step("Sandbox.create('web') returns with the start command serving", async () => {
  sbx = await Sandbox.create('web', { timeoutMs: 120_000 });
  assert.equal((await sbx.commands.run(fetchPage)).stdout, 'served\n');
});

await step("the template's USER and WORKDIR are the defaults", async () => {
  assert.equal((await sbx.commands.run('id -un; pwd')).stdout, 'root\n/srv/app\n');
  await sbx.files.write('/srv/app/written', 'by the default user');
  assert.equal((await sbx.commands.run('stat -c %U /srv/app/written')).stdout, 'root\n');
  assert.equal((await sbx.commands.run('id -un', { user: 'user' })).stdout, 'user\n');
});

await sbx.kill();
rmSync(context, { recursive: true, force: true });
console.log(`all ${steps.length} steps passed`);
