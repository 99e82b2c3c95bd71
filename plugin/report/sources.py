"""Everything the report and the model card are made from.

At log time the pipeline hands over its results in memory (:meth:`ReportSources.from_run`);
later (after a check, or for ``mlflow-clarity report``) they are read back from a local
copy of ``clarity/`` (:meth:`ReportSources.read`). Each part is optional: a step that was
skipped or failed left nothing, and its reason is in the run's status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity import layout
from mlflow_clarity.explainers.shap.quality import overall_importance
from mlflow_clarity.monitors.content.report import with_latest_check
from mlflow_clarity.monitors.estimation.report import check_sections
from mlflow_clarity.types import RunReport

if TYPE_CHECKING:
    import pandas as pd


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


@dataclass
class ReportSources:
    """The results of one model's steps, plus facts about its model and run.

    Attributes:
        folder: The local ``clarity/`` folder (SHAP plots are embedded from it).
        status: The run report as in ``status.json``, or None.
        model: ``model.json``: ids, names, flavor and the architecture summary.
        run: Parameters and metrics of the run the model was logged in.
        sections: Sections added by plugins (``report_sections.json``).
    """

    folder: Path
    status: dict[str, Any] | None = None
    model: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    shap_card: dict[str, Any] | None = None
    shap_global: dict[str, Any] | None = None
    shap_quality: dict[str, Any] | None = None
    shap_values: pd.DataFrame | None = None
    lime_rows: list[dict[str, Any]] = field(default_factory=list)
    lime_quality: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    latest_check: dict[str, Any] | None = None
    sections: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def read(cls, folder: Path, run: dict[str, Any] | None = None) -> ReportSources:
        """Read whatever exists in ``folder`` (a local copy of ``clarity/``)."""
        explanations = _json(layout.local(folder, layout.lime_file("explanations"))) or {}
        return cls(
            folder=folder,
            status=_json(layout.local(folder, layout.STATUS)),
            model=_json(layout.local(folder, layout.MODEL)) or {},
            run=run or {},
            shap_card=_json(layout.local(folder, layout.shap_file("card"))),
            shap_global=_json(layout.local(folder, layout.shap_file("global"))),
            shap_quality=_json(layout.local(folder, layout.shap_file("quality"))),
            lime_rows=explanations.get("rows", []),
            lime_quality=_json(layout.local(folder, layout.lime_file("quality"))),
            agreement=_json(layout.local(folder, layout.AGREEMENT)),
            baseline=_json(layout.local(folder, layout.baseline_file("manifest"))),
            profile=_json(layout.local(folder, layout.baseline_file("profile"))),
            latest_check=_json(layout.local(folder, layout.LATEST_CHECK)),
            sections=with_latest_check(  # embedding drift next to the property histograms
                [
                    *(_json(layout.local(folder, layout.REPORT_SECTIONS)) or []),
                    *check_sections(_json(layout.local(folder, layout.LATEST_CHECK))),
                ],
                _json(layout.local(folder, layout.LATEST_CHECK)),
            ),
        )

    @classmethod
    def from_run(
        cls,
        folder: Path,
        report: RunReport,
        model: dict[str, Any],
        run: dict[str, Any],
        sections: list[dict[str, Any]],
    ) -> ReportSources:
        """Take the steps' results from a finished run, in memory.

        Args:
            folder: The run's staging ``clarity/`` folder (for the SHAP plots).
            report: The run's report; each built-in step's ``results`` feed the report.
            model: The ``model.json`` content.
            run: Parameters and metrics of the model's run.
            sections: Plugin sections, as stored in ``report_sections.json``.
        """
        shap, lime = report.results_of("shap"), report.results_of("lime")
        baseline = report.results_of("baseline").get("baseline")
        agreement = report.results_of("agreement").get("agreement")
        return cls(
            folder=folder,
            status=report.to_dict(),
            model=model,
            run=run,
            shap_card=shap.get("card"),
            shap_global=shap.get("global"),
            shap_quality=shap.get("quality"),
            shap_values=shap.get("values"),
            lime_rows=list((lime.get("explanations") or {}).get("rows", [])),
            lime_quality=lime.get("quality"),
            agreement=agreement,
            baseline=None if baseline is None else baseline.manifest,
            profile=None if baseline is None else baseline.profile.to_dict(),
            sections=sections,
        )

    def plot(self, name: str) -> Path | None:
        """A SHAP plot's path, if it was drawn."""
        path = layout.local(self.folder, layout.shap_file("plots")) / name
        return path if path.is_file() else None

    def plots(self, prefix: str) -> list[Path]:
        """SHAP plots whose names start with ``prefix``, in name order."""
        folder = layout.local(self.folder, layout.shap_file("plots"))
        return sorted(folder.glob(f"{prefix}*.png")) if folder.is_dir() else []

    def shap_values_of(self, reference_rows: list[int]) -> dict[int, dict[str, float]]:
        """SHAP values (of the output LIME explained) of some reference rows, when stored."""
        if not reference_rows or not self.lime_rows:
            return {}
        values = self.shap_values
        if values is None:
            path = layout.local(self.folder, layout.shap_file("values"))
            if not path.is_file():
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
        overall = overall_importance(self.shap_global)
        return {f: overall[f] for f in self.shap_global["ranking"]}
