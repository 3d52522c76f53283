// The MCP tools/call round trip for run_python print(1), measured with the official MCP SDK client over
// both of Kiln's transports in one run: `kiln mcp` over stdio (its own sandbox from the runtime) and
// `kiln serve`'s /mcp over streamable HTTP (a control-plane sandbox per MCP session). The first call of
// each makes the session's sandbox and is reported apart; the p50/p90 are of the CALLS calls after it.
// Run by mcp_roundtrip.sh (KILN_BINARY, E2B_API_URL, E2B_API_KEY, CALLS).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const calls = Number(process.env.CALLS ?? 50);
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function measure(name, transport) {
  const client = new Client({ name: "kiln-mcp-bench", version: "1.0.0" });
  await client.connect(transport);
  const call = () => client.callTool({ name: "run_python", arguments: { code: "print(1)" } }, undefined,
    { timeout: 120_000 });
  let t0 = process.hrtime.bigint();
  await call();
  const first = ms(t0);
  const times = [];
  for (let i = 0; i < calls; i++) {
    t0 = process.hrtime.bigint();
    const r = await call();
    times.push(ms(t0));
    if (r.isError || !JSON.stringify(r.content).includes("1")) throw new Error(`${name}: ${JSON.stringify(r)}`);
  }
  times.sort((a, b) => a - b);
  if (transport.terminateSession) await transport.terminateSession();
  await client.close();
  return { name, first, p50: quantile(times, 0.5), p90: quantile(times, 0.9), min: times[0] };
}

const rows = [];
rows.push(await measure("stdio (kiln mcp)", new StdioClientTransport({
  command: process.env.KILN_BINARY, args: ["mcp"], env: process.env, stderr: "inherit",
})));
rows.push(await measure("streamable HTTP (kiln serve /mcp)", new StreamableHTTPClientTransport(
  new URL("/mcp", process.env.E2B_API_URL), { requestInit: { headers: { "X-API-Key": process.env.E2B_API_KEY } } })));
console.log(`MCP tools/call run_python print(1), ${calls} calls each after the first:`);
for (const r of rows) {
  console.log(`  ${r.name.padEnd(34)} p50 ${r.p50.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  ` +
    `min ${r.min.toFixed(2)} ms  (first call, with the sandbox start: ${r.first.toFixed(0)} ms)`);
}
