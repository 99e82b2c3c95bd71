"""Latency of `mlflow-clarity serve` (capture on) vs `mlflow models serve`; of explanations.

An xgboost regressor (200 trees x 20 features, as in the reference note) is logged to a
temporary sqlite store with its SHAP explanation, then served twice on 127.0.0.1: by
MLflow's own ``mlflow models serve --env-manager local`` and by ``mlflow-clarity serve
--capture DIR --explain`` (100 % capture). A closed-loop load generator (``--clients``
threads, each with a keep-alive connection) sends 1-row split-orient JSON requests to
``/invocations``; the servers are measured in alternating rounds, so both see the same
machine. Printed: p50 / p99 latency and throughput of each, and their ratios (goals:
p50 <= 1.05x, p99 <= 1.1x). Then, on our server, 1-row requests one at a time, alternating
a plain prediction and one with ``X-Clarity-Explain: true`` (exact TreeSHAP from the
booster): their p50 and ratio (goal <= 2x).

Run: ``.venv/bin/python bench/serving_latency.py [--requests 600] [--rounds 3]
[--clients 2] [--load N]``.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from load import bench_parser, cpu_load, load_header, ratios

FEATURES, TREES = 20, 200


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A scoring server subprocess on 127.0.0.1 (its own process group)."""

    def __init__(self, args: list[str], port: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"server on port {self.port} did not start; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)
        self.log.close()


def log_model(root: Path) -> str:
    """Train and log the xgboost model with its SHAP explanation; return its URI."""
    import mlflow
    import xgboost as xgb

    import mlflow_clarity

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(5000, FEATURES)), columns=[f"x{i}" for i in range(FEATURES)])
    y = x["x0"] * 3 - x["x1"] * 2 + x["x2"] * x["x3"] + rng.normal(scale=0.1, size=len(x))
    model = xgb.XGBRegressor(n_estimators=TREES, max_depth=6).fit(x, y)
    mlflow_clarity.autolog(steps=["shap"])
    with mlflow.start_run(), mlflow_clarity.reference_data(x.head(1000), y.head(1000)):
        info = mlflow.xgboost.log_model(model, name="m", input_example=x.head(2))
    return f"models:/{info.model_id}"


def start_servers(root: Path, uri: str) -> dict[str, Server]:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    mlflow_port, ours_port = free_port(), free_port()
    theirs = [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager"]
    theirs += ["local", "-h", "127.0.0.1", "-p", str(mlflow_port)]
    ours = [str(bin_dir / "mlflow-clarity"), "serve", uri, "--port", str(ours_port)]
    ours += ["--capture", str(root / "capture"), "--explain"]
    servers = {
        "mlflow": Server(
            theirs, mlflow_port, {**env, "MLFLOW_CLARITY_DISABLE": "1"}, root / "m.log"
        ),
        "clarity": Server(ours, ours_port, env, root / "c.log"),
    }
    for server in servers.values():
        server.wait_ready()
    return servers


def _post(conn: http.client.HTTPConnection, body: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    conn.request("POST", "/invocations", body, {"Content-Type": "application/json", **headers})
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"status {response.status}")
    return time.perf_counter() - started


def closed_loop(port: int, bodies: list[str], clients: int) -> tuple[list[float], float]:
    """Send every body once from ``clients`` threads; latencies and requests per second."""
    latencies: list[float] = []
    lock = threading.Lock()
    position = iter(range(len(bodies)))

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while True:
            with lock:
                index = next(position, None)
            if index is None:
                break
            mine.append(_post(conn, bodies[index], {}))
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(bodies) / (time.perf_counter() - started)


def explained_vs_plain(port: int, bodies: list[str]) -> tuple[list[float], list[float]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    plain, explained = [], []
    for body in bodies:
        plain.append(_post(conn, body, {}))
        explained.append(_post(conn, body, {"X-Clarity-Explain": "true"}))
    conn.close()
    return plain, explained


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--requests", type=int, default=600, help="requests per server per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2, help="concurrent keep-alive clients")
    parser.add_argument("--explained", type=int, default=200, help="explained requests")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    columns = [f"x{i}" for i in range(FEATURES)]
    bodies = [
        json.dumps(
            {"dataframe_split": {"columns": columns, "data": [rng.normal(size=FEATURES).tolist()]}}
        )
        for _ in range(args.requests)
    ]
    with tempfile.TemporaryDirectory(prefix="clarity-serving-bench-") as tmp:
        root = Path(tmp)
        uri = log_model(root)
        servers = start_servers(root, uri)
        results: dict[str, dict[str, Any]] = {n: {"lat": [], "rps": []} for n in servers}
        try:
            for server in servers.values():  # warm up
                closed_loop(server.port, bodies[:50], args.clients)
            with cpu_load(args.load):
                for round_ in range(args.rounds):
                    order = list(servers) if round_ % 2 == 0 else list(servers)[::-1]
                    for name in order:
                        latencies, rps = closed_loop(servers[name].port, bodies, args.clients)
                        results[name]["lat"] += latencies
                        results[name]["rps"].append(rps)
                plain, explained = explained_vs_plain(
                    servers["clarity"].port, bodies[: args.explained]
                )
        finally:
            for server in servers.values():
                server.stop()
        captured = sum(1 for p in (root / "capture").rglob("*.jsonl") for _ in p.open())
    print(load_header(args.load))
    print(
        f"xgboost {TREES} trees x {FEATURES} features; 1-row JSON requests; {args.clients} "
        f"keep-alive clients; {args.rounds} rounds x {args.requests} requests per server"
    )
    summary: dict[str, Any] = {}
    for name, result in results.items():
        lat = result["lat"]
        summary[name] = {
            "p50_ms": ms(lat, 50),
            "p99_ms": ms(lat, 99),
            "rps": float(np.median(result["rps"])),
        }
        s = summary[name]
        print(
            f"  {name:<8} p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms  {s['rps']:.0f} req/s"
        )
    ours, theirs = summary["clarity"], summary["mlflow"]
    print(f"  p50: {ratios(ours['p50_ms'], theirs['p50_ms'], 'capture', 'mlflow')} (goal <= 1.05)")
    print(f"  p99: {ratios(ours['p99_ms'], theirs['p99_ms'], 'capture', 'mlflow')} (goal <= 1.1)")
    print(f"  throughput: {ratios(ours['rps'], theirs['rps'], 'capture', 'mlflow')}")
    print(f"  capture records written: {captured:,}")
    explain = {"plain_p50_ms": ms(plain, 50), "explained_p50_ms": ms(explained, 50)}
    print(
        f"explained 1-row request p50 {explain['explained_p50_ms']:.2f} ms vs prediction alone "
        f"{explain['plain_p50_ms']:.2f} ms: "
        f"{ratios(explain['explained_p50_ms'], explain['plain_p50_ms'], 'explained', 'plain')}"
        " (goal <= 2)"
    )
    print(json.dumps({**summary, "explain": explain, "captured": captured, "load": args.load}))


if __name__ == "__main__":
    main()
