"""Everything the report and the model card are made from, read from a ``clarity/`` folder.

Each part is optional: a step that was skipped or failed simply left no file, and its
reason is in ``status.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_FILE = "model.json"
LATEST_CHECK = "monitoring/checks/latest.json"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass
class ReportSources:
    """The parsed files of one model's ``clarity/`` folder, plus facts about its run.

    Attributes:
        folder: The local ``clarity/`` folder.
        status: ``status.json`` (the run report), or None.
        model: ``model.json``: ids, names, flavor and the architecture summary.
        run: Parameters and metrics of the run the model was logged in.
    """

    folder: Path
    status: dict[str, Any] | None = None
    model: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    shap_card: dict[str, Any] | None = None
    shap_global: dict[str, Any] | None = None
    shap_quality: dict[str, Any] | None = None
    lime_rows: list[dict[str, Any]] = field(default_factory=list)
    lime_quality: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    latest_check: dict[str, Any] | None = None

    @classmethod
    def read(cls, folder: Path, run: dict[str, Any] | None = None) -> ReportSources:
        """Read whatever exists in ``folder`` (a local copy of ``clarity/``)."""
        shap = folder / "explanations" / "shap"
        lime = folder / "explanations" / "lime"
        explanations = _json(lime / "explanations.json") or {}
        return cls(
            folder=folder,
            status=_json(folder / "status.json"),
            model=_json(folder / MODEL_FILE) or {},
            run=run or {},
            shap_card=_json(shap / "card.json"),
            shap_global=_json(shap / "global.json"),
            shap_quality=_json(shap / "quality.json"),
            lime_rows=explanations.get("rows", []),
            lime_quality=_json(lime / "quality.json"),
            agreement=_json(folder / "explanations" / "agreement.json"),
            baseline=_json(folder / "monitoring" / "baseline.json"),
            profile=_json(folder / "monitoring" / "profile.json"),
            latest_check=_json(folder / LATEST_CHECK),
        )

    def plot(self, name: str) -> Path | None:
        """A SHAP plot's path, if it was drawn."""
        path = self.folder / "explanations" / "shap" / "plots" / name
        return path if path.is_file() else None

    def plots(self, prefix: str) -> list[Path]:
        """SHAP plots whose names start with ``prefix``, in name order."""
        folder = self.folder / "explanations" / "shap" / "plots"
        return sorted(folder.glob(f"{prefix}*.png")) if folder.is_dir() else []

    def shap_values_of(self, reference_rows: list[int]) -> dict[int, dict[str, float]]:
        """SHAP values (of the output LIME explained) of some reference rows, when stored."""
        path = self.folder / "explanations" / "shap" / "values.parquet"
        if not path.is_file() or not reference_rows or not self.lime_rows:
            return {}
        import pandas as pd

        values = pd.read_parquet(path)
        output = str(self.lime_rows[0].get("explained_output"))
        if "output" in values.columns:
            values = values[values["output"].astype(str) == output]
        rows = values[values["reference_row"].isin(reference_rows)]
        features = (self.shap_global or {}).get("features", [])
        return {
            int(row["reference_row"]): {f: float(row[f]) for f in features if f in row}
            for _, row in rows.iterrows()
        }

    def importance(self) -> dict[str, float]:
        """Mean |SHAP| per feature averaged over outputs, in ranking order (empty if none)."""
        if not self.shap_global:
            return {}
        from .monitors.attribution_drift import overall_importance

        overall = overall_importance(self.shap_global)
        return {f: overall[f] for f in self.shap_global["ranking"]}
