"""``--capture-artifacts``: closed capture hour files uploaded to a monitoring run.

One run of the monitoring experiment per server process, tagged with the served model,
holds the capture files under ``capture/YYYY/MM/DD/HH/``, so a capture is kept where the
model's checks are. Uploads run on their own thread: a failed upload is counted
(``upload_errors``) and the file stays on disk; serving and capture go on.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import datetime, timezone
from pathlib import Path

from mlflow.exceptions import MlflowException

from mlflow_clarity.serving.capture import CaptureStats

logger = logging.getLogger(__name__)

CAPTURE_TAG = "clarity.capture"
MODEL_URI_TAG = "clarity.model_uri"


class HourUploader:
    """Uploads each closed hour file of ``folder`` to a new run of ``experiment``.

    Args:
        model_uri: The served model (a run tag).
        folder: The capture folder (paths under it are kept in the run).
        experiment: The monitoring experiment (created when missing).
        stats: The capture counters to add ``uploaded_files`` / ``upload_errors`` to.

    Raises:
        MlflowException: The run cannot be created.
    """

    def __init__(self, model_uri: str, folder: Path, experiment: str, stats: CaptureStats):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient()
        self.folder = Path(folder)
        self.stats = stats
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else self.client.create_experiment(experiment)
        started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        run = self.client.create_run(
            experiment_id,
            run_name=f"capture {started}",
            tags={CAPTURE_TAG: "true", MODEL_URI_TAG: model_uri},
        )
        self.run_id = run.info.run_id
        self._queue: queue.Queue[Path | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="clarity-upload", daemon=True)
        self._thread.start()

    def closed(self, path: Path) -> None:
        """Queue a closed hour file for upload."""
        self._queue.put(path)

    def close(self, timeout: float = 120.0) -> None:
        """Upload what is queued and end the run."""
        self._queue.put(None)
        self._thread.join(timeout)
        self.client.set_terminated(self.run_id)

    def _loop(self) -> None:
        while (path := self._queue.get()) is not None:
            relative = path.parent.relative_to(self.folder).as_posix()
            try:
                self.client.log_artifact(self.run_id, str(path), f"capture/{relative}")
            except (MlflowException, OSError) as exc:  # counted; the file stays on disk
                self.stats.add(upload_errors=1)
                logger.warning("clarity capture: cannot upload %s: %r", path, exc)
                continue
            self.stats.add(uploaded_files=1)
