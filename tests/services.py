"""Helpers for tests that run real servers (ours, Alertmanager, Prometheus) as child processes on
loopback ports."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Poll `url` until it answers 200; fail with the child's log if the child exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        assert process.poll() is None, f"{process.args[0]} exited ({process.returncode}):\n{log.read_text()}"
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{url} not ready within {seconds:g} s:\n{log.read_text()}")
        time.sleep(0.1)
