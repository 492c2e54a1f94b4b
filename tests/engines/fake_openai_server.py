"""A scripted OpenAI-compatible server in a thread (real HTTP on 127.0.0.1), for failure and recovery tests.

``respond(index, body)`` decides each POST's answer from its position (0, 1, ...) and JSON body: a
``(status, body)`` or ``(status, body, headers)`` tuple, or ``RESET`` to drop the connection with a TCP reset
instead of answering. ``GET /models`` lists ``models``. ``port`` 0 picks a free port.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RESET = "reset"

Answer = tuple[int, dict] | tuple[int, dict, dict[str, str]] | str


def completion_body(
    text: str = " The answer is \\boxed{1}.", finish_reason: str = "stop", stop_reason: str | None = None
) -> dict[str, Any]:
    """A /completions answer; ``stop_reason`` names the stop string that matched, as vLLM's server does."""
    choice = {"index": 0, "text": text, "finish_reason": finish_reason, "stop_reason": stop_reason}
    return {
        "id": "cmpl-1",
        "object": "text_completion",
        "model": "m",
        "choices": [choice],
        "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12},
    }


def error_body(message: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": "error", "code": code}}


class FakeServer:
    def __init__(
        self, respond: Callable[[int, dict], Answer], *, models: tuple[str, ...] = ("m",), port: int = 0
    ) -> None:
        self.respond = respond
        self.models = models
        self.requests: list[tuple[float, dict]] = []  # (monotonic time, body) of every POST
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._lock:
                    index = len(fake.requests)
                    fake.requests.append((time.monotonic(), body))
                answer = fake.respond(index, body)
                if answer == RESET:
                    # SO_LINGER 0: close() sends a TCP reset, as a crashed or restarting server does
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                status, payload, *rest = answer
                self._send(status, payload, rest[0] if rest else {})

            def do_GET(self) -> None:  # noqa: N802 - the model list OpenAIEngine.start() checks
                models = [{"id": name, "object": "model"} for name in fake.models]
                self._send(200, {"object": "list", "data": models}, {})

            def _send(self, status: int, payload: dict, headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def finish(self) -> None:
                try:
                    super().finish()
                except OSError:
                    pass  # the connection was reset on purpose

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # resets are part of the script

        self._server = Server(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
