"""A real HTTP server on 127.0.0.1 in a thread, serving test-made bytes, with the misbehaviours
downloads meet: a connection cut half-way, Range ignored, 404, an HTML page, a stall."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    body: bytes = b""
    status: int = 200
    content_type: str = "application/octet-stream"
    cut_after: int | None = None  # close the connection after this many body bytes, once
    honour_range: bool = True
    stall_s: float = 0.0  # sleep after the headers, before the body
    chunk_delay_s: float = 0.0  # sleep between 64 KiB chunks (makes fetches overlap)
    requests: list[dict[str, str]] = field(default_factory=list)  # every request's headers


class _Handler(http.server.BaseHTTPRequestHandler):
    behaviour: Behaviour

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        b = self.server.behaviour  # type: ignore[attr-defined]
        b.requests.append({"path": self.path, **dict(self.headers.items())})
        if b.status != 200:
            self.send_error(b.status)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and b.honour_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
        body = b.body[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", b.content_type)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(b.body) - 1}/{len(b.body)}")
        self.end_headers()
        if b.stall_s:
            time.sleep(b.stall_s)
        if b.cut_after is not None:
            cut, b.cut_after = b.cut_after, None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        for i in range(0, len(body), 1 << 16):
            self.wfile.write(body[i : i + (1 << 16)])
            if b.chunk_delay_s:
                time.sleep(b.chunk_delay_s)


@contextmanager
def serve(behaviour: Behaviour) -> Iterator[str]:
    """Serve `behaviour` on a free loopback port; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.behaviour = behaviour  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
