"""Real shippers for the protocol tests: Debian packages installed on demand (rsyslog and syslog-ng
conflict, so each test installs what it needs, and one lock keeps two installs from racing), and a
wait for what they forwarded to arrive."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

APT_LOCK = Path("/tmp/log-analytics-tests-apt.lock")
APT_SECONDS = 600


def apt_install(binary: str, *packages: str) -> str:
    """The path of `binary`, installing `packages` with apt-get when it (or any package) is missing;
    fails the test, naming the packages, when that cannot be done."""
    missing = [p for p in packages if not _installed(p)]
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if path and not missing:
        return path
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with APT_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        install = [*sudo, "apt-get", "install", "-y", "-q", *packages]
        done = subprocess.run(install, env=env, capture_output=True, timeout=APT_SECONDS)
        if done.returncode != 0:  # a fresh machine's package lists may be empty or stale
            subprocess.run(
                [*sudo, "apt-get", "update", "-q"], env=env, capture_output=True, timeout=APT_SECONDS
            )
            done = subprocess.run(install, env=env, capture_output=True, timeout=APT_SECONDS)
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if done.returncode != 0 or path is None:
        pytest.fail(f"cannot install {' '.join(packages)}: {done.stderr.decode(errors='replace')[-2000:]}")
    return path


def _installed(package: str) -> bool:
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return status.returncode == 0 and status.stdout.strip().endswith("installed")


def wait_for(
    check: Callable[[], bool],
    seconds: float,
    what: str,
    log: Path | None = None,
    shipper: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll `check` until it holds; fail naming `what` (with the shipper's log) after `seconds`, or
    at once when the `shipper` process has ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        if shipper is not None and shipper.poll() is not None:
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    ended = "" if shipper is None or shipper.poll() is None else f" (the shipper exited {shipper.returncode})"
    pytest.fail(f"gave up waiting for {what}{ended}\n{tail}")
