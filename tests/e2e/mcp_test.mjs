// kiln mcp driven by the official MCP TypeScript SDK client over stdio: initialize (the SDK's own
// protocol negotiation), tools/list, run_python with state kept between calls, an image result, a call
// with bad arguments (a tool error the model can read) and an unknown tool (a JSON-RPC error).
// Usage: node mcp_test.mjs KILN_BINARY [TOOLS_FILE]. Exits 77 (ctest: skipped) without the SDK.
import assert from "node:assert/strict";

let Client, StdioClientTransport;
try {
  ({ Client } = await import("@modelcontextprotocol/sdk/client/index.js"));
  ({ StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js"));
} catch (e) {
  console.log("skipped: @modelcontextprotocol/sdk is not installed (run scripts/setup.sh --with-test-deps)");
  process.exit(77);
}

const [kiln, toolsFile] = process.argv.slice(2);
const args = ["mcp", ...(toolsFile ? ["--tools", toolsFile] : [])];
const transport = new StdioClientTransport({ command: kiln, args, env: process.env, stderr: "inherit" });
const client = new Client({ name: "kiln-e2e", version: "1.0.0" });

const textOf = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");
const timeout = { timeout: 120_000 };

try {
  await client.connect(transport);
  assert.equal(client.getServerVersion().name, "kiln");
  assert.ok(client.getServerCapabilities().tools, "the server declares tools");
  assert.match(client.getInstructions() ?? "", /sandbox/);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of ["run_python", "run_shell", "read_file", "write_file", "list_files", "install_packages"])
    assert.ok(names.includes(name), `tools/list has ${name}: ${names}`);
  const runPython = tools.find((t) => t.name === "run_python");
  assert.equal(runPython.inputSchema.type, "object");
  assert.deepEqual(runPython.inputSchema.required, ["code"]);

  let r = await client.callTool({ name: "run_python", arguments: { code: "x = 20\nprint('stored')" } }, undefined, timeout);
  assert.equal(r.isError, false, textOf(r));
  assert.match(textOf(r), /stored/);
  r = await client.callTool({ name: "run_python", arguments: { code: "x * 2 + 2" } }, undefined, timeout);
  assert.equal(r.isError, false, textOf(r));
  assert.match(textOf(r), /42/, "state is kept between calls");

  // Files written by one tool are read by another in the same session sandbox.
  r = await client.callTool({ name: "write_file", arguments: { path: "hello.txt", content: "from mcp" } });
  assert.equal(r.isError, false, textOf(r));
  r = await client.callTool({ name: "run_shell", arguments: { command: "cat hello.txt" } });
  assert.match(textOf(r), /from mcp/);

  const png =
    "import struct, zlib\n" +
    "def chunk(k, d): return struct.pack('>I', len(d)) + k + d + struct.pack('>I', zlib.crc32(k + d))\n" +
    "png = b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0)) + " +
    "chunk(b'IDAT', zlib.compress(b'\\x00\\xff\\x00\\x00')) + chunk(b'IEND', b'')\n" +
    "class Dot:\n    def _repr_png_(self): return png\nDot()\n";
  r = await client.callTool({ name: "run_python", arguments: { code: png } }, undefined, timeout);
  const image = r.content.find((c) => c.type === "image");
  assert.ok(image, `an image content item: ${JSON.stringify(r.content).slice(0, 300)}`);
  assert.equal(image.mimeType, "image/png");
  assert.equal(Buffer.from(image.data, "base64").subarray(1, 4).toString(), "PNG");

  r = await client.callTool({ name: "run_python", arguments: { code: 5 } });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /arguments\.code: expected string, got integer/);

  r = await client.callTool({ name: "run_python", arguments: { code: "1/0" } });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /ZeroDivisionError/);

  await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), (e) => {
    assert.equal(e.code, -32602);
    return true;
  });

  // The round trip of a trivial call, for the report (not asserted: the machine may be loaded).
  const times = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    r = await client.callTool({ name: "run_python", arguments: { code: "print(1)" } });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.equal(textOf(r), "[stdout]\n1\n");
  }
  times.sort((a, b) => a - b);
  console.log(`tools/call print(1) round trip: p50 ${times[10].toFixed(2)} ms, min ${times[0].toFixed(2)} ms (20 calls)`);
  console.log("mcp e2e: all checks passed");
} finally {
  await client.close();
}
