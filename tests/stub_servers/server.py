"""A threaded `http.server` on free loopback ports that records requests."""

import collections
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs
from urllib.parse import urlsplit

# One request as the stub saw it, and what it answered.
Exchange = collections.namedtuple(
    "Exchange", "method path host query request_headers status response_headers"
)


class StubServer:
    """Serves `handler_class` on 127.0.0.1 in daemon threads.

    `requests` lists `(method, path, host)` for every request received;
    `exchanges` holds the answered requests in full (`Exchange`: query, request
    headers with lower-case names, status, response headers). Handlers reach the stub's state through
    `self.server.stub`. `add_origin()` serves the same handler on one more
    port: a second origin, as the real hubs' storage hosts are.
    """

    def __init__(self, handler_class):
        self.requests = []
        self.exchanges = []
        self._handler_class = handler_class
        self._servers = []
        self.url = self.add_origin()
        self.port = self._servers[0][0].server_port
        self.running = True

    def add_origin(self):
        """Serve on one more free loopback port and return its base URL."""
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class)
        httpd.daemon_threads = True
        httpd.stub = self
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        thread.start()
        self._servers.append((httpd, thread))
        return f"http://127.0.0.1:{httpd.server_port}"

    def paths(self, method=None):
        return [path for m, path, _ in self.requests if method in (None, m)]

    def stop(self):
        """Stop serving; later connections are refused."""
        if self.running:
            for httpd, thread in self._servers:
                httpd.shutdown()
                httpd.server_close()
                thread.join()
            self.running = False


class StubHandler(BaseHTTPRequestHandler):
    """Records each request, then dispatches to `respond(method, path)`.

    The request body is in `self.body` (read by `Content-Length` or, as
    clients streaming a file send it, chunked), its query in `self.query`.
    """

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    @property
    def stub(self):
        return self.server.stub

    @property
    def origin(self):
        """The base URL this request arrived at."""
        return f"http://127.0.0.1:{self.server.server_port}"

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
        target = urlsplit(self.path)
        path = target.path
        self.query = parse_qs(target.query)
        self.stub.requests.append((self.command, path, self.headers.get("Host")))
        self._exchange = Exchange(
            self.command, path, self.headers.get("Host"), self.query,
            {name.lower(): value for name, value in self.headers.items()}, None, None,
        )
        self.body = self._read_body()
        self.respond(self.command, path)

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def send(self, status, body=b"", headers=(), cut_at=None):
        """Answer with `body`; with `cut_at`, announce the full length but
        close the connection after `cut_at` bytes (a broken transfer)."""
        headers = list(headers)
        self.stub.exchanges.append(
            self._exchange._replace(status=status, response_headers=dict(headers))
        )
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
