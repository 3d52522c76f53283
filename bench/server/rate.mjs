// Creates per second with 8 concurrent clients (issue 13's last figure), side by side with `kiln run`'s own
// cycle rate at the same concurrency: CLIENTS loops of SDK Sandbox.create() -> kill() for DURATION seconds against a
// server without a pool, then with its warm pool, then the same number of loops of `kiln run --lang sh -c
// true`. Run by run.sh: `bench/server/run.sh build/bin/kiln rate`.
import { spawn } from 'node:child_process';
import { Sandbox } from 'e2b';

const clients = Number(process.env.CLIENTS || 8);
const seconds = Number(process.env.DURATION || 10);
const coldServer = { apiUrl: process.env.KILN_COLD_API_URL, sandboxUrl: process.env.KILN_COLD_API_URL, apiKey: process.env.KILN_COLD_API_KEY };

async function loops(cycle) {
  const end = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < end) {
        await cycle();
        ++done;
      }
    }),
  );
  return done / seconds;
}
const sdkCycle = (options) => async () => {
  const sbx = await Sandbox.create(options);
  await sbx.kill();
};
const kilnRun = () =>
  new Promise((resolve, reject) => {
    const child = spawn(process.env.KILN_BINARY, ['run', '--lang', 'sh', '-c', 'true'], { stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`kiln run exited ${code}`))));
  });

const cold = await loops(sdkCycle(coldServer));
const pooled = await loops(sdkCycle({}));
const run = await loops(kilnRun);
console.log(
  `${clients} clients, ${seconds} s each: creates/s cold ${cold.toFixed(1)}, pooled ${pooled.toFixed(1)}; ` +
    `kiln run cycles/s ${run.toFixed(1)}; ratio cold/run ${(cold / run).toFixed(2)}, pooled/run ${(pooled / run).toFixed(2)}`,
);
