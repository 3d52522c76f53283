// The MCP streamable HTTP transport of `kiln serve` (/mcp) driven by the official MCP TypeScript SDK client:
// initialize, tools/list, run_python with state kept between calls, an image result, an error result, a
// cancelled call, a session ended by DELETE (its id then refused), and requests without the API key or from a
// foreign Origin refused. Run by run.sh (E2B_API_URL, E2B_API_KEY). Exits 77 (ctest: skipped) without the SDK.
import assert from "node:assert/strict";

let Client, StreamableHTTPClientTransport;
try {
  ({ Client } = await import("@modelcontextprotocol/sdk/client/index.js"));
  ({ StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js"));
} catch (e) {
  console.log("skipped: @modelcontextprotocol/sdk is not installed (run scripts/setup.sh --with-test-deps)");
  process.exit(77);
}

const endpoint = new URL("/mcp", process.env.E2B_API_URL);
const key = process.env.E2B_API_KEY;
const textOf = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");
const timeout = { timeout: 120_000 };
const initialize = JSON.stringify({
  jsonrpc: "2.0", id: 1, method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
});
const post = (headers, body = initialize) =>
  fetch(endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream", ...headers },
    body,
  });

// Without the key, or with a wrong one: refused before any session exists.
let res = await post({});
assert.equal(res.status, 401, await res.text());
res = await post({ "X-API-Key": "e2b_" + "0".repeat(40) });
assert.equal(res.status, 401);
// A browser page from elsewhere (DNS rebinding): refused even with the key.
res = await post({ "X-API-Key": key, Origin: "http://evil.example" });
assert.equal(res.status, 403, await res.text());
// A request of a session that does not exist: 404, so a client starts over.
res = await post({ "X-API-Key": key, "Mcp-Session-Id": "nosuchsession" },
  JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }));
assert.equal(res.status, 404);
res = await fetch(endpoint, { method: "GET", headers: { "X-API-Key": key, Accept: "text/event-stream" } });
assert.equal(res.status, 405);

const transport = new StreamableHTTPClientTransport(endpoint, { requestInit: { headers: { "X-API-Key": key } } });
const client = new Client({ name: "kiln-e2e-http", version: "1.0.0" });
await client.connect(transport);
const sessionId = transport.sessionId;
try {
  assert.match(sessionId ?? "", /^[0-9a-f]{32}$/);
  assert.equal(client.getServerVersion().name, "kiln");
  assert.match(client.getInstructions() ?? "", /sandbox/);

  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const name of ["run_python", "run_shell", "read_file", "write_file"])
    assert.ok(names.includes(name), `tools/list has ${name}: ${names}`);

  let r = await client.callTool({ name: "run_python", arguments: { code: "x = 20\nprint('stored')" } }, undefined, timeout);
  assert.equal(r.isError, false, textOf(r));
  r = await client.callTool({ name: "run_python", arguments: { code: "x * 2 + 2" } }, undefined, timeout);
  assert.match(textOf(r), /42/, "state is kept between calls");

  // Another key's client cannot use this session: it is the opener's.
  // (Only one key exists here, so check that the session id alone, without the key, is refused.)
  res = await post({ "Mcp-Session-Id": sessionId }, JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list" }));
  assert.equal(res.status, 401);

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

  r = await client.callTool({ name: "run_python", arguments: { code: "1/0" } });
  assert.equal(r.isError, true);
  assert.match(textOf(r), /ZeroDivisionError/);
  r = await client.callTool({ name: "run_python", arguments: { code: 5 } });
  assert.equal(r.isError, true);
  await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), (e) => e.code === -32602);

  // A call the client gives up on (AbortSignal): the SDK sends notifications/cancelled, the server stops the
  // running process, and the session's next call is served at once rather than after the sleep.
  const abort = new AbortController();
  const aborted = client.callTool({ name: "run_shell", arguments: { command: "sleep 600" } }, undefined,
    { signal: abort.signal, timeout: 120_000 });
  setTimeout(() => abort.abort("changed my mind"), 1000);
  await assert.rejects(aborted);
  const t0 = Date.now();
  r = await client.callTool({ name: "run_shell", arguments: { command: "echo after the cancel" } }, undefined, timeout);
  assert.match(textOf(r), /after the cancel/);
  assert.ok(Date.now() - t0 < 30_000, `the next call waited ${Date.now() - t0} ms for the cancelled one`);

  // The session's sandbox is listed by the control plane (it counts against the key).
  const listed = await (await fetch(new URL("/v2/sandboxes", endpoint), { headers: { "X-API-Key": key } })).json();
  const mine = listed.filter((s) => (s.metadata ?? {})["kiln.mcp"] === "session");
  assert.equal(mine.length, 1, JSON.stringify(listed));

  const times = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    r = await client.callTool({ name: "run_python", arguments: { code: "print(1)" } });
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    assert.equal(textOf(r), "[stdout]\n1\n");
  }
  times.sort((a, b) => a - b);
  console.log(`HTTP tools/call print(1) round trip: p50 ${times[10].toFixed(2)} ms, min ${times[0].toFixed(2)} ms (20 calls)`);

  // DELETE ends the session and kills its sandbox; the id is refused afterwards.
  await transport.terminateSession();
  res = await post({ "X-API-Key": key, "Mcp-Session-Id": sessionId },
    JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" }));
  assert.equal(res.status, 404);
  const after = await (await fetch(new URL("/v2/sandboxes", endpoint), { headers: { "X-API-Key": key } })).json();
  assert.equal(after.filter((s) => (s.metadata ?? {})["kiln.mcp"] === "session").length, 0, JSON.stringify(after));
  console.log("mcp http e2e: all checks passed");
} finally {
  await client.close();
}
