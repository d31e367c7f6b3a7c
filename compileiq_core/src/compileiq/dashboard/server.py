"""The dashboard's HTTP server: a static page plus read-only JSON endpoints (standard library only).

Routes (GET and HEAD only; anything else is 405):

- `/` the page; `/static/<name>` its script and style sheet (a fixed list, nothing else is served);
- `/api/runs` every run of the cache folder with its summary;
- `/api/runs/<run_id>/meta` configuration, engine, worker, versions, sessions, status, logs;
- `/api/runs/<run_id>/scores?after=SEQ` the rows newer than SEQ (incremental polling);
- `/api/runs/<run_id>/logs/<param_id>` the captured output of one evaluation, as text.

Every response carries a strict Content-Security-Policy (no inline script, same origin only).
Requests whose Host header is not the address served are refused (DNS rebinding), so a web page
elsewhere cannot read the runs through the user's browser.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from compileiq.dashboard.reader import RunNotFound, RunsReader

__all__ = ["DashboardServer", "is_loopback", "make_server", "serve"]

STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _static(name: str) -> bytes:
    return resources.files("compileiq.dashboard").joinpath("static", name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"
    server_version = "compileiq-dashboard"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if self.server.verbose:
            super().log_message(format, *args)

    # -- responses -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, cache: str = "no-store") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for key, value in HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = 200) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str, allow_nan=False)
        self._send(status, text.encode("utf-8"), "application/json; charset=utf-8")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json({"error": message, "status": int(status)}, int(status))

    # -- methods ---------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        try:
            self._route()
        except RunNotFound as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - a bad journal must not stop the server
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    do_HEAD = do_GET

    def _refuse(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "the dashboard is read-only: GET and HEAD only")

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    def _host_allowed(self) -> bool:
        if not self.server.check_host:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        if host.startswith("["):
            name = host[1:host.find("]")] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0] if ":" in host else host
        return is_loopback(name)

    def _route(self) -> None:
        if not self._host_allowed():
            self._error(HTTPStatus.FORBIDDEN, "this server answers requests for its loopback address only")
            return
        raw_path = urlsplit(self.path).path
        query = parse_qs(urlsplit(self.path).query)
        # Decode once and split; any '..', empty or backslash segment is refused, encoded or not.
        parts = [unquote(p) for p in raw_path.split("/")[1:]]
        if any(p in (".", "..") or "/" in p or "\\" in p or "\x00" in p for p in parts):
            self._error(HTTPStatus.BAD_REQUEST, "path traversal refused")
            return
        if raw_path in ("/", "/index.html"):
            self._send(200, _static("index.html"), STATIC["index.html"])
        elif len(parts) == 2 and parts[0] == "static" and parts[1] in STATIC and parts[1] != "index.html":
            self._send(200, _static(parts[1]), STATIC[parts[1]], cache="no-cache")
        elif parts == ["favicon.ico"]:
            self._send(204, b"", "image/x-icon")
        elif parts == ["api", "runs"]:
            self._json({"folder": str(self.server.reader.folder), "runs": self.server.reader.list_runs()})
        elif len(parts) == 4 and parts[:2] == ["api", "runs"] and parts[3] == "meta":
            self._json(self.server.reader.meta(parts[2]))
        elif len(parts) == 4 and parts[:2] == ["api", "runs"] and parts[3] == "scores":
            try:
                after = int(query.get("after", ["0"])[0])
            except ValueError:
                self._error(HTTPStatus.BAD_REQUEST, "after must be an integer sequence number")
                return
            self._json(self.server.reader.scores_after(parts[2], after))
        elif len(parts) == 5 and parts[:2] == ["api", "runs"] and parts[3] == "logs":
            text = self.server.reader.log_text(parts[2], parts[4])
            self._send(200, text.encode("utf-8"), "text/plain; charset=utf-8")
        else:
            self._error(HTTPStatus.NOT_FOUND, f"nothing at {raw_path!r}")


class DashboardServer(ThreadingHTTPServer):
    """A threaded HTTP server over one cache folder; `url` is where to point a browser."""

    daemon_threads = True

    def __init__(self, folder: str | Path, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        self.reader = RunsReader(folder)
        self.verbose = verbose
        self.check_host = is_loopback(host)
        if ":" in host:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}/"

    def start_background(self) -> threading.Thread:
        """Serve from a daemon thread (tests, notebooks); stop with `shutdown()` then `server_close()`."""
        thread = threading.Thread(target=self.serve_forever, name="compileiq-dashboard", daemon=True)
        thread.start()
        return thread


def make_server(folder: str | Path, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> DashboardServer:
    """A DashboardServer bound to `host:port` (port 0: a free one); warns when not on loopback."""
    if not is_loopback(host):
        print(
            f"compileiq dashboard: WARNING: listening on {host!r}, not on loopback: anyone who can reach this "
            "machine can read your runs (configurations, failure output). Use --host 127.0.0.1 unless you mean it.",
            file=sys.stderr,
        )
    return DashboardServer(folder, host, port, verbose)


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8765, verbose: bool = False) -> None:
    """Run the dashboard until interrupted (Ctrl-C), printing its URL."""
    server = make_server(folder, host, port, verbose)
    print(f"compileiq dashboard: serving the runs in {server.reader.folder} at {server.url} (Ctrl-C stops)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
