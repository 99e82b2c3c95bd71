"""Build and run the served app: MLflow's scoring app inside :class:`ClarityMiddleware`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mlflow_clarity.serving.capture import CaptureWriter
from mlflow_clarity.serving.middleware import (
    EXPLAIN_TIMEOUT_S,
    MAX_BODY_BYTES,
    ClarityMiddleware,
    ServingOptions,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeConfig:
    """What ``mlflow-clarity serve`` was asked for.

    Attributes:
        model_uri: Any URI MLflow loads (``models:/...`` for ``--explain``).
        capture_dir: The capture folder, or None for no capture.
        capture_percent: Share of invocations captured (0-100).
        explain: Whether to answer explanation requests.
        explain_timeout_s: Time limit of one request's explanation.
        max_body_bytes: Larger request bodies are refused (413).
        capture_artifacts: Upload closed hour files to a run of ``capture_experiment``.
        capture_experiment: The monitoring experiment of those runs.
    """

    model_uri: str
    capture_dir: str | Path | None = None
    capture_percent: float = 100.0
    explain: bool = False
    explain_timeout_s: float = EXPLAIN_TIMEOUT_S
    max_body_bytes: int = MAX_BODY_BYTES
    capture_artifacts: bool = False
    capture_experiment: str = "clarity-monitoring"


def build_app(config: ServeConfig) -> ClarityMiddleware:
    """Load the model, build MLflow's scoring app and wrap it.

    Raises:
        ValueError: ``capture_artifacts`` without a capture folder.
        Exception: MLflow cannot load the model; with ``explain``, the model has no
            stored explainer (:func:`~mlflow_clarity.serving.explain.load_explainer`).
    """
    from mlflow.pyfunc import scoring_server

    if config.capture_artifacts and config.capture_dir is None:
        raise ValueError("--capture-artifacts uploads the --capture folder's files: give both")

    model = scoring_server.load_model_with_mlflow_config(config.model_uri)
    explainer = None
    if config.explain:
        from mlflow_clarity.serving.explain import load_explainer

        explainer = load_explainer(config.model_uri)
        logger.info("explanations: %s (%s)", explainer.algorithm, explainer.source)
    capture = (
        CaptureWriter(config.capture_dir, config.capture_percent)
        if config.capture_dir is not None
        else None
    )
    uploader = None
    if capture is not None and config.capture_artifacts:
        from mlflow_clarity.serving.upload import HourUploader

        folder = capture.folder
        uploader = HourUploader(config.model_uri, folder, config.capture_experiment, capture.stats)
        capture.on_closed = uploader.closed
    options = ServingOptions(
        capture=capture,
        uploader=uploader,
        explainer=explainer,
        schema=model.metadata.get_input_schema(),
        max_body_bytes=config.max_body_bytes,
        explain_timeout_s=config.explain_timeout_s,
    )
    return ClarityMiddleware(scoring_server.init(model), options)


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 5000) -> None:
    """Serve with uvicorn (as ``mlflow models serve`` does) until SIGINT / SIGTERM; at
    shutdown every queued capture record is written and the counters printed."""
    import uvicorn

    app = build_app(config)
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port)).run()
    finally:
        app.close()  # done at lifespan shutdown already, unless the server never started
