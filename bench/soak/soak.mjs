// Soak through kiln serve (issue 19): CYCLES create -> commands.run -> kill cycles with the E2B SDK, and
// every EVERY cycles one sample of what a leak would grow:
//   server: open fds, threads, RSS (from /proc/KILN_SERVER_PID)
//   host:   mount entries the server sees, and, for the sandboxes this soak made, cgroup directories left
//           in any controller, socket files left in KILN_SOCKET_DIR, processes still in their cgroups
// The first sample (after the first EVERY cycles, once caches and pools are warm) is the baseline. The run
// fails when a later sample exceeds it: fds by more than 8, threads by more than 4, RSS by more than 20 MiB,
// or any leftover cgroup, socket or process at all. Run by run.sh.
import fs from 'node:fs';
import { Sandbox } from 'e2b';

const cycles = Number(process.env.CYCLES || 10000);
const every = Number(process.env.EVERY || 500);
const serverPid = process.env.KILN_SERVER_PID;
const socketDir = process.env.KILN_SOCKET_DIR;
const cgroupRoots = ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'];

function statusField(name) {
  const line = fs.readFileSync(`/proc/${serverPid}/status`, 'utf8').split('\n').find((l) => l.startsWith(name));
  return Number(line.split(/\s+/)[1]);
}

function cgroupDirs() {
  const dirs = [];
  for (const root of cgroupRoots) {
    let entries = [];
    try {
      entries = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const controller of entries) {
      const dir = `${root}/${controller}/kiln`;
      if (fs.existsSync(dir)) dirs.push(dir);
    }
    if (fs.existsSync(`${root}/kiln`)) dirs.push(`${root}/kiln`);
  }
  return dirs;
}

// Processes whose cgroup path names one of the soak's sandboxes.
function strayProcesses(ids) {
  let count = 0;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let cgroups;
    try {
      cgroups = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    } catch {
      continue;
    }
    const match = cgroups.match(/\/kiln\/([^/\n]+)/);
    if (match && ids.has(match[1])) ++count;
  }
  return count;
}

function sample(cycle, ids, elapsedMs) {
  const kilnDirs = cgroupDirs();
  let cgroups = 0, sockets = 0;
  for (const id of ids) {
    for (const dir of kilnDirs) if (fs.existsSync(`${dir}/${id}`)) ++cgroups;
    if (fs.existsSync(`${socketDir}/${id}.sock`)) ++sockets;
  }
  return {
    cycle,
    fds: fs.readdirSync(`/proc/${serverPid}/fd`).length,
    threads: statusField('Threads:'),
    rssKiB: statusField('VmRSS:'),
    mounts: fs.readFileSync(`/proc/${serverPid}/mountinfo`, 'utf8').split('\n').length - 1,
    cgroups,
    sockets,
    processes: strayProcesses(ids),
    cyclesPerSecond: (every / (elapsedMs / 1000)).toFixed(1),
  };
}

const ids = new Set();
const samples = [];
let windowStart = Date.now();
console.log(`soak: ${cycles} create -> commands.run('echo') -> kill cycles, a sample every ${every}`);
console.log('cycle\tfds\tthreads\trss_kib\tmounts\tcgroups\tsockets\tprocs\tcycles/s');
for (let cycle = 1; cycle <= cycles; ++cycle) {
  const sbx = await Sandbox.create();
  ids.add(sbx.sandboxId);
  const result = await sbx.commands.run(`echo ${cycle}`);
  if (result.stdout.trim() !== String(cycle)) throw new Error(`cycle ${cycle}: stdout ${JSON.stringify(result.stdout)}`);
  await sbx.kill();
  if (cycle % every === 0) {
    const s = sample(cycle, ids, Date.now() - windowStart);
    samples.push(s);
    console.log(Object.values(s).join('\t'));
    windowStart = Date.now();
  }
}

const base = samples[0];
const problems = [];
for (const s of samples.slice(1)) {
  if (s.fds > base.fds + 8) problems.push(`cycle ${s.cycle}: fds ${base.fds} -> ${s.fds}`);
  if (s.threads > base.threads + 4) problems.push(`cycle ${s.cycle}: threads ${base.threads} -> ${s.threads}`);
  if (s.rssKiB > base.rssKiB + 20 * 1024) problems.push(`cycle ${s.cycle}: RSS ${base.rssKiB} -> ${s.rssKiB} KiB`);
}
for (const s of samples) {
  for (const what of ['cgroups', 'sockets', 'processes'])
    if (s[what] > 0) problems.push(`cycle ${s.cycle}: ${s[what]} ${what} of killed sandboxes left`);
}
if (samples.length > 1) {
  const last = samples[samples.length - 1];
  console.log(`growth from cycle ${base.cycle} to ${last.cycle}: fds ${last.fds - base.fds}, threads ` +
              `${last.threads - base.threads}, RSS ${last.rssKiB - base.rssKiB} KiB, mounts ${last.mounts - base.mounts}`);
}
if (problems.length) {
  console.log(`soak: FAILED\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('soak: no growth');
