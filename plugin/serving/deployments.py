"""The ``clarity`` target of ``mlflow.deployments``: predict and explain on a served model.

A deployment is a running ``mlflow-clarity serve`` (or ``mlflow deployments run-local
-t clarity``). The target names its address: ``clarity`` is ``http://127.0.0.1:5000``,
``clarity:/http://HOST:PORT`` (or ``clarity:/HOST:PORT``) another one; a deployment
name that is itself a URL overrides it. ``predict`` posts to ``/invocations`` and
``explain`` to ``/explain`` (Clarify's response shape), so ``mlflow deployments explain
-t clarity --name local --input-path rows.json`` works. Servers are started with
``run_local``; creating, updating and deleting remote deployments is not supported.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException

DEFAULT_URL = "http://127.0.0.1:5000"
TIMEOUT_S = 120


def _base_url(target_uri: str, name: str | None = None) -> str:
    if name and "://" in name:
        return name.rstrip("/")
    suffix = target_uri.partition(":")[2].lstrip("/") if ":" in target_uri else ""
    if not suffix:
        return DEFAULT_URL
    return (suffix if "://" in suffix else f"http://{suffix}").rstrip("/")


def _payload(inputs: Any) -> bytes:
    """A DataFrame as split-orient JSON; a dict (any MLflow JSON format) as it is."""
    import pandas as pd

    if isinstance(inputs, pd.DataFrame):
        return json.dumps({"dataframe_split": json.loads(inputs.to_json(orient="split"))}).encode()
    if isinstance(inputs, dict):
        return json.dumps(inputs).encode()
    raise MlflowException(f"inputs must be a DataFrame or a dict, not {type(inputs).__name__}")


def _not_managed(action: str) -> MlflowException:
    return MlflowException(
        f"the clarity target does not {action} deployments: start a server with "
        "`mlflow deployments run-local -t clarity -m MODEL_URI --name NAME` or "
        "`mlflow-clarity serve MODEL_URI`"
    )


class ClarityDeploymentClient(BaseDeploymentClient):
    """Predictions and explanations from an ``mlflow-clarity serve`` server."""

    def _post(self, deployment_name: str | None, path: str, inputs: Any) -> Any:
        url = _base_url(self.target_uri, deployment_name) + path
        request = urllib.request.Request(
            url, _payload(inputs), {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode()[:2000]
            raise MlflowException(f"{url} answered {exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            raise MlflowException(f"no clarity server at {url}: {exc.reason}") from exc

    def predict(self, deployment_name=None, inputs=None, endpoint=None):
        """Post ``inputs`` (a DataFrame or MLflow's JSON) to ``/invocations``."""
        return PredictionsResponse(self._post(deployment_name, "/invocations", inputs))

    def explain(self, deployment_name=None, df=None, endpoint=None):
        """Predictions and attributions of every row of ``df`` (Clarify's response shape)."""
        return self._post(deployment_name, "/explain", df)

    def create_deployment(self, name, model_uri, flavor=None, config=None, endpoint=None):
        raise _not_managed("create")

    def update_deployment(self, name, model_uri=None, flavor=None, config=None, endpoint=None):
        raise _not_managed("update")

    def delete_deployment(self, name, config=None, endpoint=None):
        raise _not_managed("delete")

    def list_deployments(self, endpoint=None):
        """The server of the target, when it answers ``/ping``."""
        url = _base_url(self.target_uri)
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=5):
                return [{"name": url}]
        except OSError:
            return []

    def get_deployment(self, name, endpoint=None):
        """The server's MLflow version and capture counters."""
        url = _base_url(self.target_uri, name)
        try:
            with urllib.request.urlopen(f"{url}/version", timeout=5) as response:
                version = response.read().decode()
            with urllib.request.urlopen(f"{url}/clarity/capture-stats", timeout=5) as response:
                stats = json.loads(response.read())
        except OSError as exc:
            raise MlflowException(f"no clarity server at {url}: {exc}") from exc
        return {"name": url, "mlflow_version": version, **stats}


def run_local(name, model_uri, flavor=None, config=None):
    """Serve ``model_uri`` in the foreground (``mlflow deployments run-local -t clarity``).

    MLflow calls it without the target (``interface.run_local``), as its own targets
    define it.

    ``config`` (``-C key=value``): ``host``, ``port``, ``capture`` (a folder),
    ``capture_percent``, ``explain`` (true/false), ``explain_timeout``.
    """
    from mlflow_clarity.serving.app import ServeConfig, serve

    config = dict(config or {})
    explain = str(config.get("explain", "false")).lower() in ("1", "true", "yes")
    serve_config = ServeConfig(
        model_uri,
        config.get("capture"),
        float(config.get("capture_percent", 100)),
        explain,
        float(config.get("explain_timeout", 10)),
    )
    serve(serve_config, config.get("host", "127.0.0.1"), int(config.get("port", 5000)))


def target_help():
    """What ``mlflow deployments help -t clarity`` prints."""
    return __doc__
