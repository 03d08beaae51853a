"""The HTTP server: /health for readiness, / for a greeting, /metrics for Prometheus,
/fail to show how a failure is logged; JSON logs, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import structlog

log = structlog.get_logger("app")
REQUESTS: dict[int, int] = {}  # HTTP status -> requests answered with it
_COUNT = threading.Lock()


def metrics() -> str:
    """The request counter in Prometheus' text exposition format."""
    lines = ["# HELP app_requests_total Requests answered, by status.",
             "# TYPE app_requests_total counter"]
    with _COUNT:
        lines += [f'app_requests_total{{status="{status}"}} {count}'
                  for status, count in sorted(REQUESTS.items())]
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    server_version = "shipready-example/1.0"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/":
            self._send(200, {"message": "hello from the example service"})
        elif self.path == "/metrics":
            self._send_text(200, metrics())
        elif self.path == "/fail":
            try:
                raise RuntimeError("the example fails on purpose")
            except RuntimeError:
                # One event at error level, the exception as data (dict_tracebacks).
                log.exception("request_failed", path=self.path)
                self._send(500, {"error": "internal error"})
        elif self.path == "/fail-unlogged":
            self._send(500, {"error": "internal error"})  # what not to do: nothing logged
        else:
            log.warning("not_found", path=self.path)
            self._send(404, {"error": "not found", "path": self.path})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        self._send_text(status, json.dumps(body), "application/json")

    def _send_text(self, status: int, text: str,
                   content_type: str = "text/plain; version=0.0.4") -> None:
        data = text.encode()
        with _COUNT:
            REQUESTS[status] = REQUESTS.get(status, 0) + 1
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        # http.server writes plain text to stderr; log each request as an event instead.
        log.info("request", client=self.client_address[0], line=self.requestline,
                 status=args[1] if len(args) > 1 else None)


def make_server(host: str = "0.0.0.0", port: int = 8000) -> ThreadingHTTPServer:
    return Server((host, port), Handler)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away before its answer (a health probe that timed out):
        # one structured event, not socketserver's plain-text traceback on stderr.
        log.warning("request_aborted", client=client_address[0], exc_info=True)


def serve(host: str = "0.0.0.0", port: int | None = None) -> None:
    port = int(os.environ.get("PORT", "8000")) if port is None else port
    server = make_server(host, port)

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return: call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening", host=host, port=server.server_address[1])
    server.serve_forever(poll_interval=0.1)  # shutdown() returns within 0.1 s
    server.server_close()
    log.info("stopped")
