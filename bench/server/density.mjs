// Idle sandboxes held by one kiln serve (issue 13's density figure): COUNT sandboxes of TEMPLATE created
// through the SDK (base: plain; code-interpreter-v1: its default Python context started and given a
// variable), left idle, then the host memory they cost, per sandbox: the PSS of every process in their
// cgroups (/proc/PID/smaps_rollup), what their memory cgroups are charged (their processes, tmpfs pages,
// kernel memory), and the drop of MemAvailable (everything, other work on the machine included); and the
// server's own RSS. Every sandbox must still answer afterwards. Run by run.sh: `bench/server/run.sh build/bin/kiln density`.
import fs from 'node:fs';
import { Sandbox } from '@e2b/code-interpreter';

const count = Number(process.env.COUNT || 1000);
const template = process.env.TEMPLATE || 'base';
const python = template !== 'base';
const parallel = 4;

function memAvailableKiB() {
  return Number(/MemAvailable:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))[1]);
}
function kib(path, field) {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(fs.readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;  // the process ended meanwhile
  }
}
// The host pids in each of our sandboxes' cgroups (v1 pids controller or v2: the line names /kiln/ID).
function sandboxPids(ids) {
  const pids = new Map();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cgroups;
    try {
      cgroups = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    const m = /\/kiln\/([a-z0-9]+)/.exec(cgroups);
    if (m && ids.has(m[1])) pids.set(pid, m[1]);
  }
  return pids;
}

// What a sandbox's memory cgroup is charged, in KiB (cgroup v1 or v2 layout).
function cgroupKiB(id) {
  for (const file of [`/sys/fs/cgroup/memory/kiln/${id}/memory.usage_in_bytes`, `/sys/fs/cgroup/kiln/${id}/memory.current`]) {
    try {
      return Number(fs.readFileSync(file, 'utf8')) / 1024;
    } catch {}
  }
  return 0;
}

const before = memAvailableKiB();
const sandboxes = [];
const t0 = Date.now();
while (sandboxes.length < count) {
  const batch = Array.from({ length: Math.min(parallel, count - sandboxes.length) }, async () => {
    const sbx = await Sandbox.create(template, { timeoutMs: 3_600_000 });
    if (python) {
      const r = await sbx.runCode('idle = sum(range(10))');
      if (r.error) throw new Error(`runCode: ${r.error.value}`);
    }
    return sbx;
  });
  sandboxes.push(...(await Promise.all(batch)));
}
const createSeconds = (Date.now() - t0) / 1000;
await new Promise((resolve) => setTimeout(resolve, 5_000));  // idle, as held sandboxes are
const ids = new Set(sandboxes.map((s) => s.sandboxId));
const pids = sandboxPids(ids);
let pss = 0;
for (const pid of pids.keys()) pss += kib(`/proc/${pid}/smaps_rollup`, 'Pss');
let charged = 0;
for (const id of ids) charged += cgroupKiB(id);
const used = before - memAvailableKiB();
const serverRss = kib(`/proc/${process.env.KILN_SERVER_PID}/status`, 'VmRSS');
const mib = (k) => (k / 1024).toFixed(2);
console.log(
  `${count} idle ${template} sandboxes created in ${createSeconds.toFixed(1)} s; ${pids.size} processes; ` +
    `PSS per sandbox ${mib(pss / count)} MiB; memory cgroup per sandbox ${mib(charged / count)} MiB; ` +
    `MemAvailable drop per sandbox ${mib(used / count)} MiB ` +
    `(${mib(used)} MiB in all); server RSS ${mib(serverRss)} MiB`,
);
let answered = 0;
for (let i = 0; i < sandboxes.length; i += 50) {
  const slice = sandboxes.slice(i, i + 50);
  const results = await Promise.all(
    slice.map((s) =>
      python
        ? s.runCode('idle').then((r) => r.text === '45')
        : s.commands.run('true').then((r) => r.exitCode === 0),
    ),
  );
  answered += results.filter(Boolean).length;
}
console.log(`${answered} of ${count} answered afterwards (${python ? "runCode('idle') == 45" : "commands.run('true')"})`);
for (let i = 0; i < sandboxes.length; i += 50) await Promise.all(sandboxes.slice(i, i + 50).map((s) => s.kill()));
if (answered !== count) process.exit(1);
