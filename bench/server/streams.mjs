// Many concurrent streaming commands through one kiln serve: N background `sleep` commands (each an open
// Connect-RPC stream through the proxy) spread over a few sandboxes; then the server's CPU while they idle,
// from /proc/KILN_SERVER_PID/stat, and the proxy's open-stream count from /metrics. The SDK shares one connection
// pool per origin, and with E2B_SANDBOX_URL every sandbox is one origin: run.sh lifts its caps for this run.
import fs from 'node:fs';
import { Sandbox } from 'e2b';

const streams = Number(process.env.STREAMS || 1000);
const perSandbox = 50;  // envd serves 64 connections per sandbox (config.h max_connections), one per stream
const serverPid = process.env.KILN_SERVER_PID;
const clockTicks = 100;

function cpuSeconds() {
  const fields = fs.readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;  // utime + stime
}
async function openStreams() {
  const r = await fetch(`${process.env.E2B_API_URL}/metrics`, { headers: { 'X-API-Key': process.env.E2B_API_KEY } });
  return Number((await r.text()).match(/kiln_proxy_open_streams (\d+)/)[1]);
}

const sandboxes = [];
const handles = [];
const t0 = Date.now();
for (let i = 0; i < streams; i += perSandbox) {
  const sbx = await Sandbox.create({ timeoutMs: 600_000 });
  sandboxes.push(sbx);
  const batch = Array.from({ length: Math.min(perSandbox, streams - i) }, () =>
    sbx.commands.run('sleep 600', { background: true, timeoutMs: 0 }),
  );
  handles.push(...(await Promise.all(batch)));
}
console.log(`${handles.length} streams open over ${sandboxes.length} sandboxes in ${Date.now() - t0} ms; ` +
            `server reports ${await openStreams()} open`);
const before = cpuSeconds();
await new Promise((resolve) => setTimeout(resolve, 10_000));
const used = cpuSeconds() - before;
console.log(`server CPU while they idle: ${used.toFixed(2)} s over 10 s (${(10 * used).toFixed(1)}% of one core); ` +
            `still open: ${await openStreams()}`);
const ended = handles.map((h) => h.wait().then(() => 'clean', () => 'error'));
await Promise.all(sandboxes.map((s) => s.kill()));
const outcomes = await Promise.all(ended);
console.log(`after killing the sandboxes: ${outcomes.filter((o) => o === 'error').length} streams ended with an ` +
            `error, ${outcomes.filter((o) => o === 'clean').length} cleanly; open now: ${await openStreams()}`);
