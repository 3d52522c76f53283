# kiln code-interpreter runner for Python: one persistent process per code context, driven by kiln-envd.
#
# Channel (see src/envd/include/kiln/envd/code_context.h): fd 3 carries requests from envd, fd 4 events
# to envd; each frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
#   request  {"type":"execute","code":str,"env_vars":{str:str},"token":str}
#   events   {"type":"stdout"|"stderr","text":str}
#            {"type":"result","is_main_result":bool,"extra":{},<format>:...}
#            {"type":"error","name":str,"value":str,"traceback":str}
#            {"type":"done"}   (after writing the token marker to fds 1 and 2)
#            stdout/stderr text usually goes as raw frames instead: a byte 1 (stdout) or 2 (stderr) + UTF-8
# Runs as `python3 -c <this source> <python_charts.py source>`; fds 0-2 are /dev/null and envd's raw output
# pipes.
import _thread, ast, base64, builtins, io, json, linecache, math, os, signal, struct, sys, textwrap, time
import traceback

_CHARTS_SOURCE = sys.argv[1] if len(sys.argv) > 1 else ""

_REQ = os.fdopen(3, "rb", buffering=0)
_EVT = 4
_MAIN_NS = {"__name__": "__main__", "__builtins__": builtins}
_cell = [0]


_FRAME_LOCK = _thread.RLock()  # frames from threads must not interleave (re-entrant: signal handlers print)
_OUT_CHUNK = 256 << 10  # bigger output goes in frames of this size, so envd forwards it as it comes


def _write_frame(head, body):
    with _FRAME_LOCK:
        if len(head) + len(body) <= 4096:  # a pipe write of <= PIPE_BUF bytes is atomic
            os.write(_EVT, head + body)
            return
        # A signal can stop a longer write part-way, and its handler (KeyboardInterrupt) would then leave a
        # torn frame that desynchronises envd: signals wait until the frame is whole.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            parts = [memoryview(head), memoryview(body)]
            while parts:
                n = os.writev(_EVT, parts)
                while parts and n >= len(parts[0]):
                    n -= len(parts.pop(0))
                if parts:
                    parts[0] = parts[0][n:]
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


def _send(obj):
    try:
        data = json.dumps(obj, default=str, allow_nan=False)
    except ValueError:  # NaN or infinity (a DataFrame, a chart): not JSON, and envd would drop the item
        data = json.dumps(_finite(obj), default=str)
    data = data.encode("utf-8", "replace")
    _write_frame(struct.pack(">I", len(data)), data)


def _send_output(kind, text):
    """Sends text as raw output frames of `kind` (1 stdout, 2 stderr), cut at UTF-8 character boundaries."""
    data = text.encode("utf-8", "replace")
    view, start = memoryview(data), 0
    while start < len(data):
        end = min(start + _OUT_CHUNK, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        _write_frame(struct.pack(">I", end - start + 1) + kind, view[start:end])
        start = end


def _read_exact(n):
    out = b""
    while len(out) < n:
        chunk = _REQ.read(n - len(out))
        if not chunk:
            sys.exit(0)
        out += chunk
    return out


def _recv():
    (n,) = struct.unpack(">I", _read_exact(4))
    return json.loads(_read_exact(n))


class _Output:
    """What sys.stdout and sys.stderr were given, in order, on its way to envd. A write that ends a line goes
    out at once when nothing went out in the last GAP seconds, so a lone print() is one item and arrives at
    once; lines that follow sooner are gathered and sent GAP later by a helper thread (or by a flush(), 64
    KiB, the end of the cell), which turns a loop of prints into a few large frames while output keeps
    flowing."""

    GAP = 0.002
    LIMIT = 1 << 16

    def __init__(self):
        self.runs = []  # [kind, [text, ...]]: consecutive writes to one stream
        self.size = 0
        self.last = 0.0
        self.scheduled = False
        self.wake = None  # released to wake the helper thread, started on first need

    def write(self, kind, text):
        with _FRAME_LOCK:
            if self.runs and self.runs[-1][0] == kind:
                self.runs[-1][1].append(text)
            else:
                self.runs.append([kind, [text]])
            self.size += len(text)
            if self.size >= self.LIMIT:
                self.flush()
            elif text.endswith("\n") and not self.scheduled:
                if time.monotonic() - self.last >= self.GAP:
                    self.flush()
                else:
                    self._schedule()

    def flush(self):
        with _FRAME_LOCK:
            runs, self.runs, self.size, self.last = self.runs, [], 0, time.monotonic()
            for kind, texts in runs:
                _send_output(kind, "".join(texts))

    def _schedule(self):
        self.scheduled = True
        if self.wake is None:
            self.wake = _thread.allocate_lock()
            self.wake.acquire()
            _thread.start_new_thread(self._flush_later, ())
        self.wake.release()

    def _flush_later(self):
        while True:
            self.wake.acquire()
            time.sleep(self.GAP)
            with _FRAME_LOCK:
                self.scheduled = False
                self.flush()


_OUT = _Output()


def _after_fork_in_child():
    # The helper thread and a lock another thread held are gone; what is pending is the parent's to send.
    global _FRAME_LOCK
    _FRAME_LOCK = _thread.RLock()
    _OUT.__init__()


os.register_at_fork(after_in_child=_after_fork_in_child)
_RUNNER_PID = os.getpid()


def _leave_if_forked_copy(status):
    # A cell that forked (os.fork, a fork bomb) and let the child run on: the copy must not report errors,
    # answer for the cell or read the next request; its output so far is still delivered.
    if os.getpid() != _RUNNER_PID:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


class _Stream(io.TextIOBase):
    """sys.stdout/sys.stderr, writing through _OUT."""

    def __init__(self, name):
        self._name = name
        self._kind = b"\x01" if name == "stdout" else b"\x02"

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        if s:
            _OUT.write(self._kind, s)
        return len(s)

    def flush(self):
        if _OUT.runs:
            _OUT.flush()

    @property
    def encoding(self):
        return "utf-8"

    def isatty(self):
        return False

    def fileno(self):
        return 1 if self._name == "stdout" else 2


def _no_input(prompt=""):
    raise RuntimeError("input() is not supported in the code interpreter: there is no stdin")


# ---- rich representations -------------------------------------------------------------------------

_MIME = {
    "text/plain": "text", "text/html": "html", "text/markdown": "markdown", "image/svg+xml": "svg",
    "image/png": "png", "image/jpeg": "jpeg", "application/pdf": "pdf", "text/latex": "latex",
    "application/json": "json", "application/javascript": "javascript", "e2b/data": "data",
    "e2b/chart": "chart",
}
_REPRS = ["html", "markdown", "svg", "png", "jpeg", "pdf", "latex", "json", "javascript"]


def _encode(fmt, value):
    if fmt in ("png", "jpeg", "pdf") and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if fmt == "json" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, tuple) and len(value) == 2:  # (data, metadata)
        return _encode(fmt, value[0])
    return value


def _plain_text(obj):
    text = repr(obj)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text


def _figure_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _dataframe_data(obj):
    try:
        data = obj.to_dict(orient="list")
        json.dumps(data, default=str)
        return json.loads(json.dumps(data, default=str))
    except Exception:
        return None


def _formats(obj):
    out = {}
    mb = getattr(obj, "_repr_mimebundle_", None)
    if callable(mb) and not isinstance(obj, type):
        try:
            bundle = mb()
            if isinstance(bundle, tuple):
                bundle = bundle[0]
            for mime, value in (bundle or {}).items():
                if mime in _MIME:
                    out[_MIME[mime]] = _encode(_MIME[mime], value)
        except Exception:
            pass
    for fmt in _REPRS:
        meth = getattr(obj, "_repr_%s_" % fmt, None)
        if fmt in out or not callable(meth) or isinstance(obj, type):
            continue
        try:
            value = meth()
        except Exception:
            continue
        if value is not None:
            out[fmt] = _encode(fmt, value)
    mod = type(obj).__module__ or ""
    if mod.startswith("matplotlib.figure") and "png" not in out:
        _add_figure(out, obj)
    if mod.startswith("pandas.") and type(obj).__name__ == "DataFrame":
        data = _dataframe_data(obj)
        if data is not None:
            out["data"] = data
    if "text" not in out:
        out["text"] = _plain_text(obj)
    return out


def _emit_result(obj, is_main):
    sys.stdout.flush()
    item = {"type": "result"}
    item.update(_formats(obj))
    item["is_main_result"] = is_main
    item["extra"] = {}
    _send(item)


def display(*objs, **kwargs):
    for obj in objs:
        _emit_result(obj, False)


# ---- matplotlib: an in-memory backend whose show() emits the open figures -------------------------


_CHARTS = {}


def _figure_chart(fig):
    """The E2B chart object of a rendered figure (python_charts.py, compiled on first use), or None."""
    try:
        if not _CHARTS:
            exec(compile(_CHARTS_SOURCE, "<kiln-charts>", "exec"), _CHARTS)
        return _CHARTS["figure_chart"](fig)
    except Exception:  # never the user's problem: the PNG still goes out
        return None


def _add_figure(out, fig):
    out["png"] = _figure_png(fig)
    chart = _figure_chart(fig)
    if chart is not None:
        out["chart"] = chart
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def _flush_figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in plt.get_fignums():
        fig = plt.figure(num)
        item = {"type": "result", "text": repr(fig)}
        _add_figure(item, fig)
        item["is_main_result"] = False
        item["extra"] = {}
        _send(item)


class _BackendFinder:
    """Makes `import kiln_mpl_backend` build the backend lazily (only once matplotlib is used)."""

    name = "kiln_mpl_backend"

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        import importlib.util
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        from matplotlib.backends import backend_agg
        for key, value in vars(backend_agg).items():
            if not key.startswith("__"):
                setattr(module, key, value)
        module.FigureCanvas = backend_agg.FigureCanvasAgg
        module.show = lambda *args, **kwargs: _flush_figures()


sys.meta_path.append(_BackendFinder())
_BACKEND = "module://kiln_mpl_backend"
os.environ["MPLBACKEND"] = _BACKEND


# ---- hooks run once a module has been imported ---------------------------------------------------


class _AfterImport:
    """Runs a hook right after the named module is first imported (it is never imported for nothing)."""

    def __init__(self, hooks):
        self.hooks = hooks

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.hooks:
            return None
        import importlib.machinery
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader, hook = spec.loader, self.hooks[fullname]

        class Loader:
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                try:
                    hook(module)
                except Exception:  # a hook that fails leaves the module as it was
                    pass

        spec.loader = Loader()
        return spec


def _hook_ipython_display(module):
    # IPython.display.display() prints a repr unless a shell exists: make one, so rich output is a result.
    original = module.display

    def display(*objs, **kwargs):
        _SHELL._shell()
        return original(*objs, **kwargs)

    display.__doc__ = original.__doc__
    module.display = display


def _hook_pil_show(module):
    # Image.show() opens a viewer program; here it becomes a PNG result, as on E2B.
    class ResultViewer(module.Viewer):
        format = "PNG"

        def show(self, image, **options):
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            sys.stdout.flush()
            _send({"type": "result", "png": base64.b64encode(buf.getvalue()).decode("ascii"),
                   "text": repr(image), "is_main_result": False, "extra": {}})
            return 1

    module.register(ResultViewer, 0)


sys.meta_path.insert(0, _AfterImport({"IPython.core.display_functions": _hook_ipython_display,
                                      "PIL.ImageShow": _hook_pil_show}))


# ---- IPython syntax: !cmd and %magic ------------------------------------------------------------


class _Shell:
    """The get_ipython() seen by transformed cells: shell escapes and a few magics, else a real shell."""

    _real = None

    def system(self, cmd):
        import subprocess
        proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        for line in iter(proc.stdout.readline, b""):
            sys.stdout.write(line.decode("utf-8", "replace"))
        proc.wait()
        _MAIN_NS["_exit_code"] = proc.returncode

    def getoutput(self, cmd, split=True):
        import subprocess
        out = subprocess.run(cmd, shell=True, capture_output=True, stdin=subprocess.DEVNULL).stdout
        text = out.decode("utf-8", "replace")
        return text.splitlines() if split else text

    def run_line_magic(self, name, line, _stack_depth=1):
        if name == "pip":
            return self.system("%s -m pip %s" % (sys.executable, line))
        if name == "matplotlib":
            return _use_inline_backend(line)
        # One frame more than the caller's: magics that read the caller's variables (%time, %timeit, $x)
        # must see the cell's, not this method's.
        return self._shell().run_line_magic(name, line, _stack_depth + 1)

    def run_cell_magic(self, name, line, cell):
        return self._shell().run_cell_magic(name, line, cell)

    def _shell(self):
        if _Shell._real is None:
            from IPython.core.interactiveshell import InteractiveShell

            class KilnShell(InteractiveShell):
                # The base class raises NotImplementedError; figures here always go out as PNG results
                # (ipykernel's inline backend does the same), so there is no GUI event loop to start.
                def enable_gui(self, gui=None):
                    pass

                def enable_matplotlib(self, gui=None):
                    _use_inline_backend("inline")
                    return "inline", _BACKEND

            _Shell._real = KilnShell.instance(user_ns=_MAIN_NS)
            # The shell installs its own get_ipython() and display() as builtins: cells keep kiln's.
            # It puts them in the cell namespace too (hidden from %who).
            builtins.get_ipython = _MAIN_NS["get_ipython"] = lambda: _SHELL
            builtins.display = display
            _Shell._real.display_pub.publish = _publish_bundle
        return _Shell._real


def _use_inline_backend(line):
    """%matplotlib [inline|agg|...]: every backend a notebook asks for becomes kiln's inline one, whose
    figures are results; GUI toolkits cannot open a window in a sandbox anyway."""
    args = line.split()
    if "-l" in args or "--list" in args:
        print("Available matplotlib backends: ['inline']")
        return None
    import matplotlib
    matplotlib.use(_BACKEND)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].switch_backend(_BACKEND)
    if not [a for a in args if not a.startswith("-")]:
        print("Using matplotlib backend: inline")
    return None


def _publish_bundle(data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
    """IPython's display() (from IPython.display, a shell's display_pub) as a kiln result."""
    sys.stdout.flush()
    item = {"type": "result"}
    for mime, value in (data or {}).items():
        if mime in _MIME:
            item[_MIME[mime]] = _encode(_MIME[mime], value)
    item["is_main_result"] = False
    item["extra"] = {}
    _send(item)


_SHELL = _Shell()


def _transform(code):
    if not any(l.lstrip().startswith(("!", "%")) or l.rstrip().endswith("?") for l in code.splitlines()):
        return code
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return code
    return TransformerManager().transform_cell(code)


# ---- running a cell -----------------------------------------------------------------------------


def _compile_cell(code, filename):
    tree = ast.parse(code, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not code.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    body = compile(tree, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    expr = compile(last, filename, "eval", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT) if last else None
    return body, expr


def _run(compiled):
    result = eval(compiled, _MAIN_NS)
    if compiled.co_flags & 0x80:  # CO_COROUTINE: top-level await
        import asyncio
        result = asyncio.get_event_loop_policy().get_event_loop().run_until_complete(result)
    return result


def _reap_exited_children():
    # A cell that ran out of processes (a fork bomb that burnt out) leaves its exited forks as zombies of the
    # runner; each holds one of the sandbox's process slots until it is reaped, so the next cell could not
    # even start a subprocess. Copies still exiting when the error is sent are reaped when the next cell
    # starts. Children still running are left alone.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


_reap_pending = [False]


def _send_error(exc):
    _leave_if_forked_copy(1)
    if isinstance(exc, BlockingIOError):
        _reap_pending[0] = True
        _reap_exited_children()
    sys.stdout.flush()
    sys.stderr.flush()
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell-"):
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    if tb is None and not isinstance(exc, SyntaxError):
        lines = traceback.format_exception_only(type(exc), exc)
    _send({"type": "error", "name": type(exc).__name__, "value": str(exc), "traceback": "".join(lines)})


def _execute(code):
    _cell[0] += 1
    if _reap_pending[0]:
        _reap_pending[0] = False
        _reap_exited_children()
    filename = "<cell-%d>" % _cell[0]
    code = _transform(textwrap.dedent(code))
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        body, expr = _compile_cell(code, filename)
        _run(body)
        value = _run(expr) if expr is not None else None
        _flush_figures()
        if value is not None:
            builtins._ = value
            _emit_result(value, True)
    except BaseException as exc:  # KeyboardInterrupt and SystemExit too: the context survives
        if isinstance(exc, SystemExit) and exc.code in (None, 0):
            return
        _send_error(exc)
        if os.getpid() == _RUNNER_PID:
            _flush_figures_quietly()


def _flush_figures_quietly():
    # ipykernel shows the figures of a cell that raised too (after its traceback).
    try:
        _flush_figures()
    except Exception:
        pass


def _with_env(env_vars, fn):
    saved = {k: os.environ.get(k) for k in env_vars}
    os.environ.update(env_vars)
    try:
        fn()
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _finish(token):
    marker = ("\x1eKILN:%s\x1e" % token).encode()
    for fd in (1, 2):
        try:
            os.write(fd, marker)
        except OSError:
            pass
    _send({"type": "done"})


def main():
    sys.stdout, sys.stderr = _Stream("stdout"), _Stream("stderr")
    sys.stdin = open(os.devnull)
    builtins.input = _no_input
    builtins.display = display
    builtins.get_ipython = lambda: _SHELL
    sys.argv = [""]
    sys.path.insert(0, "")
    while True:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a late interrupt must not hit the idle loop
        request = _recv()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            _with_env(request.get("env_vars") or {}, lambda: _execute(request.get("code", "")))
        except KeyboardInterrupt:
            pass
        _leave_if_forked_copy(0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        sys.stdout.flush()
        sys.stderr.flush()
        _finish(request.get("token", ""))


main()
