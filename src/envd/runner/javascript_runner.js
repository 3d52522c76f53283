// kiln code-interpreter runner for JavaScript (see src/envd/include/kiln/envd/code_context.h and
// runner/python_runner.py for the frame protocol). Runs as `node --expose-internals -e <this> [language]`
// on Node 18 or later, with no experimental flag.
//
// Cells run as scripts in node's main realm (so Buffers, Arrays and Errors from modules are the cell's own),
// which keeps top-level let/const/class bindings and var/function globals from one cell to the next; the
// completion value of the cell is the main result. Two rewrites make it feel like a module:
//   * ESM: a top-level static `import ... from 'm'` becomes an assignment of `await import('m')`'s members
//     to globals (`import fs from 'fs'` -> `({ default: globalThis.fs } = await import('fs'))`), so imported
//     names are usable in later cells; `import(...)` calls go through the runner's own import() (a vm
//     script cannot import without an experimental flag); `export` before a declaration is dropped.
//     A small tokenizer that skips strings, comments, template literals and regular expressions finds them.
//   * top-level await: a cell that awaits is transformed by node's own REPL transform (acorn-based,
//     internal/repl/await, hence --expose-internals): its declarations are hoisted to globals (as `var`, so
//     the cell can be run again) and its last expression is returned.
// Limits: a named import that the module does not export is `undefined` instead of a SyntaxError; imports
// are evaluated where they stand, not hoisted; `export { a }` lists and `export default` of declarations are
// not supported. TypeScript contexts run as JavaScript, with types stripped only if node has
// module.stripTypeScriptTypes (22.13+). SIGINT (timeout, client gone) interrupts a synchronous cell
// (breakOnSigint) or abandons an awaiting one; a busy loop after an `await` cannot be interrupted.
'use strict';
(() => {
  const fs = require('fs');
  const vm = require('vm');
  const util = require('util');
  const { Writable } = require('stream');
  const language = process.argv[1] || 'javascript';
  let processTopLevelAwait = null;
  try {
    ({ processTopLevelAwait } = require('internal/repl/await'));
  } catch (e) {
    // Without --expose-internals: the simple wrapper below.
  }

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

  const importer = (specifier, options) => import(specifier, options);
  Object.defineProperty(globalThis, '__kiln_import', { value: importer });
  globalThis.console = new console.Console({ stdout: stream('stdout'), stderr: stream('stderr') });

  // ---- The tokenizer: finds `import` and `export` keywords outside strings, comments and regexps. ----

  const KEYWORDS_BEFORE_EXPR = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void',
    'throw', 'case', 'do', 'else', 'yield', 'await']);
  const isIdStart = (c) => /[A-Za-z_$\u0080-\uffff]/.test(c);
  const isIdPart = (c) => /[\w$\u0080-\uffff]/.test(c);

  // The end of a string literal starting at i (a quote), or of a regexp literal.
  function skipQuoted(code, i) {
    const q = code[i];
    let inClass = false;
    for (i++; i < code.length; i++) {
      const c = code[i];
      if (c === '\\') i++;
      else if (q === '/' && c === '[') inClass = true;
      else if (q === '/' && c === ']') inClass = false;
      else if (c === q && !inClass) return i + 1;
      else if (c === '\n' && q !== '`') return i;
    }
    return i;
  }

  // Calls visit(word, start, end, depth) for each identifier of the code; returns nothing.
  function scan(code, visit) {
    const stack = [];  // '{' for a brace, '`' for a template literal's ${ }
    let prev = '';     // the previous significant token ('' at the start)
    let i = 0;
    const n = code.length;
    const template = () => {  // inside a template literal's text, at i: to its end or a ${
      for (; i < n; i++) {
        if (code[i] === '\\') i++;
        else if (code[i] === '`') { i++; prev = ')'; return; }
        else if (code[i] === '$' && code[i + 1] === '{') { i += 2; stack.push('`'); prev = '{'; return; }
      }
    };
    while (i < n) {
      const c = code[i];
      if (/\s/.test(c)) { i++; continue; }
      if (c === '/' && code[i + 1] === '/') { while (i < n && code[i] !== '\n') i++; continue; }
      if (c === '/' && code[i + 1] === '*') { const e = code.indexOf('*/', i + 2); i = e < 0 ? n : e + 2; continue; }
      if (c === '\'' || c === '"') { i = skipQuoted(code, i); prev = ')'; continue; }
      if (c === '`') { i++; template(); continue; }
      if (c === '/') {
        const regex = prev === '' || (/^[^\w$)\]}]$/.test(prev) && prev.length === 1) || KEYWORDS_BEFORE_EXPR.has(prev);
        if (regex) { i = skipQuoted(code, i); while (i < n && isIdPart(code[i])) i++; prev = ')'; continue; }
      }
      if (isIdStart(c)) {
        let e = i + 1;
        while (e < n && isIdPart(code[e])) e++;
        const word = code.slice(i, e);
        if (prev !== '.') visit(word, i, e, stack.length);
        prev = word;
        i = e;
        continue;
      }
      if (c === '{') stack.push('{');
      if (c === '}' && stack.pop() === '`') { i++; template(); continue; }
      prev = c;
      i++;
    }
  }

  // The index of the next significant character at or after i.
  function skipSpace(code, i) {
    for (;;) {
      while (i < code.length && /\s/.test(code[i])) i++;
      if (code.startsWith('//', i)) { while (i < code.length && code[i] !== '\n') i++; continue; }
      if (code.startsWith('/*', i)) { const e = code.indexOf('*/', i + 2); i = e < 0 ? code.length : e + 2; continue; }
      return i;
    }
  }

  // A static import declaration starting right after `import` at i: {end, text} or null.
  function rewriteImportDecl(code, i) {
    const stringAt = (k) => (code[k] === '\'' || code[k] === '"' ? skipQuoted(code, k) : -1);
    let k = skipSpace(code, i);
    let clause = '';
    let specEnd = stringAt(k);
    if (specEnd < 0) {
      const m = /^([\s\S]*?)\bfrom\s*(?=['"])/.exec(code.slice(k));
      if (!m) return null;
      clause = m[1].trim();
      k += m[0].length;
      specEnd = stringAt(k);
      if (specEnd < 0) return null;
    }
    const spec = code.slice(k, specEnd);
    let end = specEnd;
    let options = '';
    const attrs = /^\s*(with|assert)\s*(\{[^}]*\})/.exec(code.slice(end));
    if (attrs) {
      options = `, { ${attrs[1]}: ${attrs[2]} }`;
      end += attrs[0].length;
    }
    const semi = /^[ \t]*;/.exec(code.slice(end));
    if (semi) end += semi[0].length;
    const call = `await __kiln_import(${spec}${options})`;
    const binds = importBindings(clause);
    if (binds === null) return null;
    const text = binds.length ? `void (${binds.map((b) => `${b} = `).join('')}${call});` : `${call};`;
    const newlines = code.slice(i, end).replace(/[^\n]/g, '');
    return { end, text: text + newlines };
  }

  // `D, * as NS` / `D, { a, b as c }` -> assignment targets such as `globalThis.NS`,
  // `({ default: globalThis.D, a: globalThis.a, b: globalThis.c })`; null if it is not an import clause.
  function importBindings(clause) {
    if (!clause) return [];
    if (/^type\b/.test(clause)) clause = clause.replace(/^type\s+/, '');  // TypeScript `import type`
    const out = [];
    const props = [];
    const g = (name) => `globalThis.${name}`;
    const m = /^(?:([\w$]+)\s*(?:,\s*|$))?(?:\*\s*as\s+([\w$]+)|\{([^}]*)\})?\s*$/.exec(clause);
    if (!m || (!m[1] && !m[2] && m[3] === undefined)) return null;
    if (m[1]) props.push(`default: ${g(m[1])}`);
    if (m[2]) out.push(g(m[2]));
    for (const item of (m[3] || '').split(',').map((s) => s.trim()).filter(Boolean)) {
      const parts = /^(?:type\s+)?([\w$]+|'[^']*'|"[^"]*")(?:\s+as\s+([\w$]+))?$/.exec(item);
      if (!parts) return null;
      props.push(`${parts[1]}: ${g(parts[2] || parts[1])}`);
    }
    if (props.length) out.push(`{ ${props.join(', ')} }`);
    return out;
  }

  // Rewrites static imports, import() calls and `export` before declarations (see the top of this file).
  function rewriteModuleSyntax(code) {
    if (!/\b(import|export)\b/.test(code)) return code;
    const edits = [];
    scan(code, (word, start, end, depth) => {
      if (word === 'import') {
        const next = skipSpace(code, end);
        if (code[next] === '(') edits.push({ start, end, text: '__kiln_import' });
        else if (code[next] !== '.' && depth === 0) {
          const decl = rewriteImportDecl(code, end);
          if (decl) edits.push({ start, end: decl.end, text: decl.text });
        }
      } else if (word === 'export' && depth === 0) {
        const next = skipSpace(code, end);
        if (/^(const|let|var|function|class|async)\b/.test(code.slice(next)))
          edits.push({ start, end: next, text: '' });
      }
    });
    let out = '';
    let at = 0;
    for (const e of edits) {
      if (e.start < at) continue;  // inside an already rewritten declaration
      out += code.slice(at, e.start) + e.text;
      at = e.end;
    }
    return out + code.slice(at);
  }

  // ---- Running a cell. ----

  let cells = 0;
  let interrupt = null;  // while an async cell runs: rejects it
  process.on('SIGINT', () => {
    if (interrupt) interrupt(interruptedError());
  });
  const interruptedError = () => {
    const e = new Error('Script execution was interrupted by `SIGINT`');
    e.name = 'KeyboardInterrupt';
    return e;
  };

  // An async cell: node's REPL transform, else a plain async wrapper returning the last line.
  function asyncSource(code) {
    if (processTopLevelAwait) {
      let wrapped = null;
      try {
        wrapped = processTopLevelAwait(code);
      } catch (e) {
        // A syntax acorn rejects: let V8 report it below.
      }
      if (wrapped !== null) {
        const body = wrapped.indexOf('(async () => {');
        const hoisted = wrapped.slice(0, body).replace(/\b(let|const)\b/g, 'var');
        return { source: hoisted + wrapped.slice(body), boxed: /return \{ value: \(/.test(wrapped) };
      }
    }
    const lines = code.replace(/\s+$/, '').split('\n');
    const last = lines.pop() || '';
    const isExpr = last.trim() && !/^\s*(const|let|var|function|class|if|for|while|return|}|\/\/)/.test(last);
    const body = isExpr ? lines.join('\n') + '\nreturn (' + last.replace(/;\s*$/, '') + ');' : code;
    return { source: '(async () => {\n' + body + '\n})()', boxed: false };
  }

  // {script, isAsync, boxed} for the (rewritten) code of a cell; throws the cell's SyntaxError.
  function compile(code, filename) {
    // As in node's REPL, `{ a: 1 }` is an object literal, not a block.
    if (/^\s*\{/.test(code) && !/;\s*$/.test(code)) {
      try {
        return { script: new vm.Script(`(${code.trim()})\n`, { filename }), isAsync: false };
      } catch (e) {
        // A block after all.
      }
    }
    try {
      return { script: new vm.Script(code, { filename }), isAsync: false };
    } catch (e) {
      if (!(e instanceof SyntaxError) || !/\bawait\b/.test(code)) throw e;
      const a = asyncSource(code);
      try {
        return { script: new vm.Script(a.source, { filename }), isAsync: true, boxed: a.boxed };
      } catch (e2) {
        throw e;  // the cell's own syntax error, not the wrapper's
      }
    }
  }

  async function run(code) {
    const filename = `<cell ${++cells}>`;
    if (language === 'typescript') {
      const strip = require('module').stripTypeScriptTypes;
      if (strip) code = strip(code);
    }
    const cell = compile(rewriteModuleSyntax(code), filename);
    const value = cell.script.runInThisContext({ breakOnSigint: true, displayErrors: false });
    if (!cell.isAsync) return value;
    const stopped = new Promise((resolve, reject) => { interrupt = reject; });
    try {
      const result = await Promise.race([value, stopped]);
      return cell.boxed ? result && result.value : result;
    } finally {
      interrupt = null;
    }
  }

  function textOf(value) {
    return typeof value === 'string' ? value : util.inspect(value);
  }

  // Stack frames of the runner itself are not the cell's.
  function traceback(err) {
    const stack = typeof err.stack === 'string' ? err.stack : '';
    return stack.split('\n').filter((l) => !/^\s+at (.* \()?(\[eval\]|node:)/.test(l)).join('\n');
  }

  function errorItem(e) {
    if (e !== null && typeof e === 'object' && typeof e.message === 'string') {
      const name = typeof e.name === 'string' ? e.name : 'Error';
      return { type: 'error', name, value: e.message, traceback: traceback(e) };
    }
    return { type: 'error', name: 'Error', value: textOf(e), traceback: '' };
  }

  // A timer or promise of an earlier cell failing must not kill the context: report it on stderr.
  const uncaught = (what) => (e) => {
    const text = e instanceof Error ? traceback(e) : util.inspect(e);
    send({ type: 'stderr', text: `${what} ${text}\n` });
  };
  process.on('uncaughtException', uncaught('Uncaught'));
  process.on('unhandledRejection', uncaught('Uncaught (in promise)'));

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
      if (e && e.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') e.name = 'KeyboardInterrupt';
      send(errorItem(e));
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
})();
