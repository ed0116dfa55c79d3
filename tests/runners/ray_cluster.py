"""A real Ray cluster on this machine for tests: a head node and worker nodes, each its own
set of processes (own process group and temp dir), started with ``ray start`` and killed
by the test."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RAY = Path(sys.executable).parent / "ray"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalRayCluster:
    """Nodes of one CPU each; every node's processes share a process group we can kill."""

    def __init__(self, python_path: list[Path] | None = None):
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Worker processes must import the test units by name.
        paths = [str(p) for p in [HERE, *(python_path or [])]]
        inherited = os.environ.get("PYTHONPATH")
        # Token authentication off: a token left in ~/.ray by an earlier local ray.init()
        # would otherwise switch the head to token mode while the other nodes stay out.
        self.env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(paths + ([inherited] if inherited else [])),
            RAY_USAGE_STATS_ENABLED="0",
            RAY_AUTH_MODE="disabled",
        )
        self.nodes: dict[str, subprocess.Popen] = {}
        self.temp_dirs: list[str] = []

    def _launch(self, name: str, args: list[str]) -> subprocess.Popen:
        # Unix socket paths are limited to ~107 characters: keep the temp dir short.
        temp_dir = tempfile.mkdtemp(prefix=f"ouro-ray-{name}-", dir="/tmp")
        self.temp_dirs.append(temp_dir)
        process = subprocess.Popen(
            [str(RAY), "start", *args, "--num-cpus=1", "--disable-usage-stats"]
            + [f"--temp-dir={temp_dir}"],
            env=dict(self.env, OURO_TEST_NODE=name),
            # Its own process group, to kill the node at once, but the caller's session:
            # with autogrouped scheduling a new session would get its own CPU share,
            # which would flatter Ray against local processes on a busy machine.
            preexec_fn=os.setpgrp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.nodes[name] = process
        return process

    def _wait(self, name: str) -> None:
        process = self.nodes[name]
        output, _ = process.communicate(timeout=120)
        if process.returncode != 0:
            raise RuntimeError(f"`ray start` for node {name} failed:\n{output[-3000:]}")

    def start(self, workers: list[str]) -> None:
        """Start the head node, then the named worker nodes side by side."""
        # Fast failure detection, so that a killed node is declared dead in seconds.
        config = (
            '{"health_check_period_ms": 1000, "health_check_timeout_ms": 1000, '
            '"health_check_failure_threshold": 3}'
        )
        self._launch(
            "head",
            ["--head", f"--port={self.port}", "--include-dashboard=false"]
            + [f"--system-config={config}"],
        )
        self._wait("head")
        for name in workers:
            self._launch(name, [f"--address={self.address}"])
        for name in workers:
            self._wait(name)

    def kill(self, name: str) -> None:
        """SIGKILL every process of node ``name`` (raylet, agents, workers) at once."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.nodes[name].pid, signal.SIGKILL)

    def stop(self) -> None:
        for name in list(self.nodes):
            self.kill(name)
        for temp_dir in self.temp_dirs:
            shutil.rmtree(temp_dir, ignore_errors=True)
