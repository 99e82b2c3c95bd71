"""Real scoring servers on 127.0.0.1 for the serving tests: ours and MLflow's own."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Reply:
    """A response: status, content type and body."""

    def __init__(self, status: int, content_type: str | None, body: bytes) -> None:
        self.status, self.content_type, self.body = status, content_type, body

    def json(self) -> Any:
        return json.loads(self.body)


class ScoringServer:
    """A scoring server subprocess in its own process group, stopped with SIGTERM."""

    def __init__(self, args: list[str], root: Path, name: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log_path = root / f"{name}.log"
        self.log = self.log_path.open("w")
        # "{port}" in an argument places the port; otherwise "--port N" is added
        placed = [arg.format(port=self.port) for arg in args]
        if placed == args:
            placed += ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            placed,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=root,
            # the same set order in both servers' messages
            env={**os.environ, "PYTHONHASHSEED": "0", **env},
        )
        self.name = name

    def wait_ready(self) -> ScoringServer:
        """Wait until ``/ping`` answers (raises with the log when the server died)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if self.request("GET", "/ping").status == 200:
                    return self
            except OSError:
                time.sleep(0.3)
        log = self.stop()
        raise RuntimeError(f"{self.name} did not start:\n{log[-3000:]}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Reply:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            if content_type:
                sent["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            return Reply(response.status, response.getheader("content-type"), response.read())
        finally:
            conn.close()

    def invoke(self, body: bytes | str, content_type: str, **headers: str) -> Reply:
        return self.request("POST", "/invocations", body, content_type, headers)

    def stop(self) -> str:
        """SIGTERM (graceful shutdown), wait, and return the server's log."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.log_path.read_text()


def clarity_server(
    root: Path,
    uri: str,
    tracking_uri: str,
    *options: str,
    name: str = "clarity",
    env: dict[str, str] | None = None,
) -> ScoringServer:
    """``mlflow-clarity serve URI [options]`` (started; call ``wait_ready``)."""
    script = str(Path(sys.executable).parent / "mlflow-clarity")
    env = {"MLFLOW_TRACKING_URI": tracking_uri, **(env or {})}
    return ScoringServer([script, "serve", uri, *options], root, name, env)


def mlflow_server(root: Path, uri: str, tracking_uri: str) -> ScoringServer:
    """MLflow's own ``mlflow models serve --env-manager local`` (call ``wait_ready``)."""
    args = [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager"]
    env = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_CLARITY_DISABLE": "1",
        # it runs `uvicorn` from PATH: the one next to this interpreter
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return ScoringServer([*args, "local", "-h", "127.0.0.1"], root, "mlflow", env)


class Store:
    """A sqlite tracking store for one test module (set as MLflow's while it lives)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = f"sqlite:///{root / 'mlflow.db'}"
        self._patch = pytest.MonkeyPatch()
        self._patch.chdir(root)
        self._patch.setenv("MLFLOW_CLARITY_STRICT", "1")
        self._patch.setenv("MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT", "1")
        self.activate()

    def activate(self) -> None:
        mlflow.set_tracking_uri(self.uri)
        mlflow.set_registry_uri(self.uri)
        mlflow.set_experiment(experiment_id="0")

    def close(self) -> None:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
        self._patch.undo()
