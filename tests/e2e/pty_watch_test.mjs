// Terminals and directory watching through the official E2B JS SDK (e2b 2.51.0, pinned) against a running
// `kiln serve`: sandbox.pty.create/sendInput/resize/connect/kill and sandbox.files.watchDir. Run by run.sh
// (ctest: kiln_envd_e2e_pty_watch); each step prints its name, and the first failed assertion exits non-zero.
import assert from 'node:assert/strict';
import { Sandbox } from 'e2b';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function step(name, fn) {
  const started = Date.now();
  await fn();
  console.log(`ok   ${name} (${Date.now() - started} ms)`);
}
// Polls `cond` every 10 ms until it holds or `ms` passed; fails the step with `what` otherwise.
async function until(cond, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
const p50 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const enc = new TextEncoder();
const dec = new TextDecoder();

const sbx = await Sandbox.create({ timeoutMs: 120_000 });
try {
  await step('pty.create runs bash on a terminal of the asked size; sendInput and resize', async () => {
    let out = '';
    const term = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => (out += dec.decode(d)), timeoutMs: 60_000 });
    assert.ok(term.pid > 0);
    await sbx.pty.sendInput(term.pid, enc.encode('stty size; tty\n'));
    await until(() => out.includes('24 80\r\n') && out.includes('/dev/pts/'), `"24 80" and a /dev/pts name in ${JSON.stringify(out)}`);
    await sbx.pty.resize(term.pid, { cols: 132, rows: 40 });
    await sbx.pty.sendInput(term.pid, enc.encode('stty size; echo $((6*7))x\n'));
    await until(() => out.includes('40 132\r\n') && out.includes('42x\r\n'), `the new size in ${JSON.stringify(out)}`);

    let attached = '';
    const second = await sbx.pty.connect(term.pid, { onData: (d) => (attached += dec.decode(d)) });
    await sbx.pty.sendInput(term.pid, enc.encode('echo seen-by-both\n'));
    await until(() => attached.includes('seen-by-both\r\n'), 'output on the connected handle');
    await sbx.pty.sendInput(term.pid, enc.encode('exit 3\n'));
    await assert.rejects(term.wait(), (e) => e.exitCode === 3);
    await assert.rejects(second.wait(), (e) => e.exitCode === 3);
  });

  await step('PTY echo round trip (keystroke in -> echo out), 50 samples', async () => {
    let out = '';
    let onEcho = null;  // resolves the sample in progress as soon as its echo arrives (no polling delay)
    const term = await sbx.pty.create({
      cols: 80, rows: 24, timeoutMs: 60_000,
      onData: (d) => {
        out += dec.decode(d);
        if (onEcho && out.endsWith('k')) onEcho();
      },
    });
    await sbx.pty.sendInput(term.pid, enc.encode('stty -icanon; cat >/dev/null\n'));  // the terminal echoes keys
    await sleep(300);
    const samples = [];
    for (let i = 0; i < 50; i++) {
      const echoed = new Promise((resolve) => (onEcho = resolve));
      const t0 = performance.now();
      await sbx.pty.sendInput(term.pid, enc.encode('k'));
      await Promise.race([echoed, sleep(5_000).then(() => assert.fail('no echo of k within 5 s'))]);
      samples.push(performance.now() - t0);
      onEcho = null;
    }
    console.log(`     pty echo round trip p50 ${p50(samples).toFixed(2)} ms, max ${Math.max(...samples).toFixed(2)} ms`);
    assert.equal(await sbx.pty.kill(term.pid), true);
    await assert.rejects(term.wait());
  });

  await step('bad PTY sizes are refused', async () => {
    for (const [cols, rows] of [[0, 24], [80, 100000]]) {
      await assert.rejects(sbx.pty.create({ cols, rows, onData: () => {}, timeoutMs: 10_000 }), (e) => /between 1 and/.test(e.message));
    }
  });

  await step('files.watchDir reports creates and writes, recursively, with relative names', async () => {
    await sbx.files.makeDir('/home/user/watched');
    const events = [];
    let waiter = null;  // [event, resolve]: resolved when that event arrives
    const handle = await sbx.files.watchDir('/home/user/watched', (e) => {
      events.push(`${e.type} ${e.name}`);
      if (waiter && waiter[0] === `${e.type} ${e.name}`) waiter[1]();
    }, { recursive: true });
    await sbx.files.write('/home/user/watched/a.txt', 'x');
    await sbx.files.makeDir('/home/user/watched/sub');
    await until(() => events.includes('create sub'), `create sub in ${events}`);
    await sbx.files.write('/home/user/watched/sub/b.txt', 'y');
    await until(() => events.includes('create sub/b.txt'), `create sub/b.txt in ${events}`);
    assert.ok(events.includes('create a.txt') && events.includes('write a.txt'), events.join(', '));
    await sbx.files.remove('/home/user/watched/a.txt');
    await until(() => events.includes('remove a.txt'), `remove a.txt in ${events}`);

    // From the start of files.write (an upper bound: it includes the upload) to the create event.
    const samples = [];
    for (let i = 0; i < 20; i++) {
      const name = `lat${i}`;
      const seen = new Promise((resolve) => (waiter = [`create ${name}`, resolve]));
      const t0 = performance.now();
      await sbx.files.write(`/home/user/watched/${name}`, 'z');
      await Promise.race([seen, sleep(5_000).then(() => assert.fail(`no create event for ${name}`))]);
      samples.push(performance.now() - t0);
    }
    console.log(`     files.write start -> watch event: p50 ${p50(samples).toFixed(2)} ms`);
    await handle.stop();
  });

  await step('files.write and files.read with gzip', async () => {
    const text = 'compressible line\n'.repeat(50_000);
    await sbx.files.write('/home/user/gz.txt', text, { gzip: true });
    assert.equal((await sbx.commands.run('wc -c < /home/user/gz.txt')).stdout.trim(), String(text.length));
    assert.equal(await sbx.files.read('/home/user/gz.txt', { gzip: true }), text);
  });

  await step('files.write of several files at once', async () => {
    const written = await sbx.files.write([
      { path: '/home/user/many/one.txt', data: '1' },
      { path: 'many/two.txt', data: '22' },
    ]);
    assert.deepEqual(written.map((w) => w.path), ['/home/user/many/one.txt', '/home/user/many/two.txt']);
    assert.equal(await sbx.files.read('/home/user/many/two.txt'), '22');
  });

  await step('watchDir of /proc is refused with the reason', async () => {
    await assert.rejects(sbx.files.watchDir('/proc', () => {}), (e) => /pseudo filesystem/.test(e.message));
  });

  await step('watchDir of a missing directory fails', async () => {
    await assert.rejects(sbx.files.watchDir('/home/user/no-such-dir', () => {}), (e) => /does not exist/.test(e.message));
  });
} finally {
  await sbx.kill();
}
