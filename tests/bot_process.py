"""`stockbot run` as a real process: started on a port, waited for, stopped or SIGKILLed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests import loopback

RUN = [sys.executable, "-m", "bot", "run", "--http", "--host", "127.0.0.1"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """One `stockbot run --http` with the test's environment; its output goes to a file."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.port = free_port()
        self.log = workdir / f"{name}.log"
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [*RUN, "--port", str(self.port)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, "COLUMNS": "200"},
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text()

    def wait_ready(self, timeout: float = 90) -> None:
        """Until /healthz answers; `timeout` bounds a stuck start (a loaded machine takes
        seconds to import the bot), it is no expected duration."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if loopback.get(self.url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"stockbot run did not come up:\n{self.output}")
            time.sleep(0.1)

    def wait_exit(self, timeout: float = 30) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when the machine loses power."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log_file.close()
        return self.process.returncode
