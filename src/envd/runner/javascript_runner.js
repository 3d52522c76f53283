// kiln code-interpreter runner for JavaScript (see src/envd/include/kiln/envd/code_context.h and
// runner/python_runner.py for the frame protocol). Runs as `node -e <this>`. Cells run in one vm context
// (state persists); the completion value of the cell is the main result; a cell using top-level `await`
// is wrapped in an async function (its last line, if an expression, is returned).
'use strict';
const fs = require('fs');
const vm = require('vm');
const util = require('util');
const { Writable } = require('stream');

function writeAll(fd, buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e;
    }
  }
}

function send(obj) {
  const data = Buffer.from(JSON.stringify(obj), 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  writeAll(4, Buffer.concat([head, data]));
}

function stream(type) {
  return new Writable({
    write(chunk, enc, cb) {
      send({ type, text: chunk.toString() });
      cb();
    },
  });
}

const cellConsole = new console.Console({ stdout: stream('stdout'), stderr: stream('stderr') });
const sandbox = {
  require, process, Buffer, URL, URLSearchParams, TextEncoder, TextDecoder, console: cellConsole,
  setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, queueMicrotask,
  module: { exports: {} }, fetch: globalThis.fetch,
};
sandbox.globalThis = sandbox;
const context = vm.createContext(sandbox);

function wrapAsync(code) {
  const lines = code.replace(/\s+$/, '').split('\n');
  const last = lines.pop() || '';
  const isExpr = last.trim() && !/^\s*(const|let|var|function|class|if|for|while|return|}|\/\/)/.test(last);
  const body = isExpr ? lines.join('\n') + '\nreturn (' + last.replace(/;\s*$/, '') + ');' : code;
  return '(async () => {\n' + body + '\n})()';
}

async function run(code) {
  let script;
  try {
    script = new vm.Script(code, { filename: 'cell.js' });
  } catch (e) {
    if (!(e instanceof SyntaxError) || !/await/.test(code)) throw e;
    script = new vm.Script(wrapAsync(code), { filename: 'cell.js' });
    return await script.runInContext(context);
  }
  return script.runInContext(context);
}

function textOf(value) {
  return typeof value === 'string' ? value : util.inspect(value);
}

async function execute(req) {
  const env = req.env_vars || {};
  const saved = {};
  for (const k of Object.keys(env)) {
    saved[k] = process.env[k];
    process.env[k] = env[k];
  }
  try {
    const value = await run(req.code || '');
    if (value !== undefined) send({ type: 'result', text: textOf(value), is_main_result: true, extra: {} });
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    send({ type: 'error', name: err.name, value: err.message, traceback: err.stack || '' });
  }
  for (const k of Object.keys(saved)) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  const marker = Buffer.from('\x1eKILN:' + (req.token || '') + '\x1e');
  writeAll(1, marker);
  writeAll(2, marker);
  send({ type: 'done' });
}

let pending = Buffer.alloc(0);
let queue = Promise.resolve();
fs.createReadStream(null, { fd: 3 }).on('data', (chunk) => {
  pending = Buffer.concat([pending, chunk]);
  while (pending.length >= 4) {
    const n = pending.readUInt32BE(0);
    if (pending.length < 4 + n) break;
    const req = JSON.parse(pending.subarray(4, 4 + n).toString('utf8'));
    pending = pending.subarray(4 + n);
    queue = queue.then(() => execute(req));
  }
}).on('end', () => process.exit(0));
