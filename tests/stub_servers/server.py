"""A threaded `http.server` on a free loopback port that records requests."""

import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit


class StubServer:
    """Serves `handler_class` on 127.0.0.1 in a daemon thread.

    `requests` lists `(method, path, host)` for every request received;
    handlers reach the stub's state through `self.server.stub`.
    """

    def __init__(self, handler_class):
        self.requests = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
        self._httpd.daemon_threads = True
        self._httpd.stub = self
        self.port = self._httpd.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self.running = True

    def paths(self, method=None):
        return [path for m, path, _ in self.requests if method in (None, m)]

    def stop(self):
        """Stop serving; later connections are refused."""
        if self.running:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self.running = False


class StubHandler(BaseHTTPRequestHandler):
    """Records each request, then dispatches to `respond(method, path)`."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    @property
    def stub(self):
        return self.server.stub

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def _dispatch(self):
        # Requests sent through a proxy carry the whole URL as their target.
        path = urlsplit(self.path).path
        self.stub.requests.append((self.command, path, self.headers.get("Host")))
        self.body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.respond(self.command, path)

    def send(self, status, body=b"", headers=(), cut_at=None):
        """Answer with `body`; with `cut_at`, announce the full length but
        close the connection after `cut_at` bytes (a broken transfer)."""
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        self.wfile.write(body if cut_at is None else body[:cut_at])
        if cut_at is not None:
            self.close_connection = True
