"""A PEP 503 simple index on the host for the network tests: builds one tiny wheel, serves it.

Usage: simple_index.py BIND_ADDRESS. Prints the port it listens on, then serves until killed.
"""
import base64
import hashlib
import http.server
import io
import sys
import zipfile

NAME, VERSION = "kiln_tiny", "0.1"
DIST = f"{NAME}-{VERSION}.dist-info"
FILES = {
    f"{NAME}/__init__.py": b"ANSWER = 42\n",
    f"{DIST}/METADATA": f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n".encode(),
    f"{DIST}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kiln-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def wheel():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        record = ""
        for path, data in FILES.items():
            z.writestr(path, data)
            record += record_line(path, data)
        z.writestr(f"{DIST}/RECORD", record + f"{DIST}/RECORD,,\n")
    return out.getvalue()


WHEEL_FILE = f"{NAME}-{VERSION}-py3-none-any.whl"
WHEEL = wheel()
PAGES = {
    "/simple/": f'<a href="/simple/kiln-tiny/">kiln-tiny</a>'.encode(),
    "/simple/kiln-tiny/": f'<a href="/files/{WHEEL_FILE}">{WHEEL_FILE}</a>'.encode(),
    f"/files/{WHEEL_FILE}": WHEEL,
}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGES.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream" if self.path.endswith(".whl") else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer((sys.argv[1], 0), Handler)
# One write, so a reader that has the number may close the pipe without the server dying of a broken one.
sys.stdout.write(f"{server.server_address[1]}\n")
sys.stdout.flush()
server.serve_forever()
