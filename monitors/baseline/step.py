"""Built-in monitor ``baseline``: a drift baseline stored with every logged model.

Every reference row (read in chunks, not the explainers' sample) is profiled into a
mergeable ``profile.json``; the model's outputs on those rows into
``prediction_profile.json``; SageMaker Model Monitor's ``statistics.json`` and
``constraints.json`` are derived from the profile; ``baseline.json`` is the manifest that
later checks start from (column roles and logical types, row count and fingerprint, the
thresholds checks use, versions). Later checks need only these files.

Options (``autolog(step_options={"baseline": {...}})``): ``reference_sample_rows`` (0:
off) writes that many reference rows to ``reference_sample.parquet``; ``predictions``
(True) profiles the model's outputs.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity import model_access
from mlflow_clarity.data.reference import RawReference, prepare_reference
from mlflow_clarity.errors import logger
from mlflow_clarity.hooks.specs import hookimpl
from mlflow_clarity.layout import BASELINE_FILES, MONITORING
from mlflow_clarity.logged_models import resolve_model_uri
from mlflow_clarity.monitors.baseline import sagemaker_files
from mlflow_clarity.monitors.baseline.column_profiles import NumericProfile
from mlflow_clarity.monitors.baseline.data_profile import SCHEMA_VERSION, DataProfile, build_profile
from mlflow_clarity.monitors.baseline.model_quality import new_quality
from mlflow_clarity.monitors.baseline.spark_profile import distributed_profile
from mlflow_clarity.store import download_clarity, write_json
from mlflow_clarity.types import (
    HEADROOM,
    ModelContext,
    MonitorSpec,
    ReferenceData,
    StepOutput,
    StepWorkspace,
    takes_tables,
)
from mlflow_clarity.versions import library_versions

if TYPE_CHECKING:
    import pandas as pd

CHUNK_ROWS = 100_000
OUTPUT_CHUNK_ROWS = 10_000
"""Rows per model call when profiling outputs: small enough to stop near the deadline."""
NOT_MODEL_INPUTS = "not_model_inputs"
"""Manifest key: reference columns the model does not take (checks ignore them)."""
THRESHOLDS = {
    "min_rows": 100,
    "numeric": {
        "linf_robust_warn": 0.1,
        "c_alpha": 1.8,
        "psi_warn": 0.1,
        "psi_alert": 0.25,
        "tail_share_warn": 0.04,
    },
    "categorical": {
        "linf_robust_warn": 0.0,
        "alpha": 0.003,
        "noise_z": 1.0,
        "c_alpha": 1.8,
        "psi_warn": 0.1,
        "psi_alert": 0.25,
    },
    "unseen_share_increase": 0.1,
    "completeness_drop": 0.05,
    "completeness_missing_ratio": 2.0,
    "datatype_check": 0.1,
    "p_value_fdr": 0.05,
    "dataset_weighted_score_alert": 0.3,
    "quality_score_drop": 0.0,
    "quality_error_increase": 0.0,
    "quality_alpha": 0.01,
    "attribution_ndcg_alert": 0.9,
}


@dataclass
class Baseline:
    """A drift baseline: profiles of the inputs and outputs, and the manifest.

    Attributes:
        profile: Profile of the feature columns over all reference rows.
        predictions: Profile of the model's outputs on those rows, or None.
        manifest: The ``baseline.json`` content.
    """

    profile: DataProfile
    predictions: DataProfile | None
    manifest: dict[str, Any]

    def statistics(self) -> dict[str, Any]:
        """SageMaker ``statistics.json`` content."""
        return sagemaker_files.statistics(self.profile)

    def constraints(self) -> dict[str, Any]:
        """SageMaker ``constraints.json`` content."""
        return sagemaker_files.constraints(self.profile)

    def write(self, folder: Path) -> None:
        """Write the baseline files into ``folder``."""
        write_json(folder / BASELINE_FILES["manifest"], self.manifest)
        write_json(folder / BASELINE_FILES["profile"], self.profile.to_dict())
        write_json(folder / BASELINE_FILES["statistics"], self.statistics())
        write_json(folder / BASELINE_FILES["constraints"], self.constraints())
        if self.predictions is not None:
            write_json(folder / BASELINE_FILES["predictions"], self.predictions.to_dict())

    @classmethod
    def read(cls, source: str | Path) -> Baseline:
        """Read a baseline from a local folder or a model URI (``models:/...``).

        Raises:
            FileNotFoundError: The folder or model has no baseline.
        """
        folder = Path(source) if Path(source).exists() else _download(str(source))
        manifest_path = folder / BASELINE_FILES["manifest"]
        if not manifest_path.exists():
            raise FileNotFoundError(f"no {BASELINE_FILES['manifest']} in {folder}")
        predictions = folder / BASELINE_FILES["predictions"]
        return cls(
            profile=DataProfile.from_dict(
                json.loads((folder / BASELINE_FILES["profile"]).read_text())
            ),
            predictions=(
                DataProfile.from_dict(json.loads(predictions.read_text()))
                if predictions.exists()
                else None
            ),
            manifest=json.loads(manifest_path.read_text()),
        )


def _download(model_uri: str) -> Path:
    model_id = resolve_model_uri(model_uri).model_id
    return download_clarity(
        model_id, Path(tempfile.mkdtemp(prefix="clarity-baseline-")), MONITORING
    )


_FINGERPRINT_KEYS = ("count", "missing", "non_finite", "sum", "min", "max", "bins", "values", "top")


def _fingerprint(profile: DataProfile) -> str:
    """SHA-256 over each column's exact summaries (counts, sum, extremes, bins, values).

    The sketches are left out: KLL compaction is randomised, so its bytes vary between
    runs on the same data.
    """
    digest = hashlib.sha256()
    for name, column in profile.to_dict()["columns"].items():
        parts = [name, *(column.get(key) for key in _FINGERPRINT_KEYS)]
        digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def output_frame(outputs: Any, names: tuple[str, ...], classifier: bool) -> pd.DataFrame:
    """Model outputs as the columns a prediction profile has.

    Classifiers: ``proba_<class>`` per class and ``predicted_label``; other models:
    ``prediction`` (one output) or ``output_<i>``.
    """
    import pandas as pd

    if classifier:
        frame = pd.DataFrame(outputs, columns=[f"proba_{n}" for n in names])
        frame["predicted_label"] = pd.Series([names[i] for i in outputs.argmax(axis=1)])
        return frame
    columns = (
        ["prediction"]
        if outputs.shape[1] == 1
        else [f"output_{i}" for i in range(outputs.shape[1])]
    )
    return pd.DataFrame(outputs, columns=columns)


def _prediction_profile(
    ctx: ModelContext, reference: ReferenceData, deadline: float
) -> tuple[DataProfile | None, dict[str, Any] | None, str | None]:
    """Profile the model's outputs on every reference row, while time allows.

    The model is called on chunks of ``OUTPUT_CHUNK_ROWS``; a chunk starts only if it is
    expected to end by ``deadline`` (its cost estimated from the sample's call, then from
    the rows done so far). When time runs out before every row is done, the outputs (and
    quality) of the explainers' seeded sample (computed first, for the bin edges) are the
    profile: the chunks come in file order, often time order, and a cut-off prefix would
    be an early period, while the sample is drawn from every row.

    Returns:
        The outputs' profile, quality metrics on the labelled rows (or None) and a note
        when time ran out.
    """
    predictor = model_access.predictor(ctx)
    names = predictor.output_names

    def outputs_of(frame: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
        outputs = predictor.fn(frame)
        return outputs, output_frame(outputs, names, predictor.is_classifier)

    tick = time.monotonic()
    sample_outputs, sample_frame = outputs_of(reference.sample)
    per_row = (time.monotonic() - tick) / max(1, len(reference.sample))  # first estimate
    profile = build_profile([], sample=sample_frame)
    labelled = reference.sample_labels is not None
    quality = new_quality(names, sample_outputs.shape[1]) if labelled else None
    started = time.monotonic()
    for chunk, labels in reference.iter_chunks(OUTPUT_CHUNK_ROWS):
        if profile.item_count:  # the rows done so far measure the model's speed
            per_row = (time.monotonic() - started) / profile.item_count
        if time.monotonic() + HEADROOM * per_row * len(chunk) > deadline:
            # chunks come in file order (often time order): the seeded sample, drawn from
            # every row, stands in for all of them, not an early period
            done = profile.item_count
            profile = build_profile([], sample=sample_frame)
            profile.update(sample_frame)
            if labelled:
                quality = new_quality(names, sample_outputs.shape[1])
                quality.update(sample_outputs, reference.sample_labels)
            note = (
                f"time budget: model outputs profiled on the {profile.item_count:,} rows of the "
                f"seeded sample of all {reference.n_rows:,} rows (time ran out after {done:,} "
                "rows in file order)"
            )
            return profile, None if quality is None else quality.metrics(), note
        outputs, frame = outputs_of(chunk)
        profile.update(frame)
        if quality is not None and labels is not None:
            quality.update(outputs, labels)
    return profile, None if quality is None else quality.metrics(), None


def _column_entry(role: str, column: Any) -> dict[str, Any]:
    entry = {"role": role, "logical_type": column.check_type}
    if isinstance(column, NumericProfile):
        entry["inferred_type"] = "Integral" if column.integral else "Fractional"
    else:
        entry["inferred_type"] = "String"
    return entry


def build(
    reference: ReferenceData,
    *,
    ctx: ModelContext | None = None,
    deadline: float | None = None,
) -> Baseline:
    """Build a baseline from reference data (and the model's outputs when ``ctx`` has one).

    Args:
        reference: The reference data; all rows are profiled.
        ctx: The model's context, for the outputs profile and the manifest's ids.
        deadline: ``time.monotonic()`` value by which outputs profiling must stop.

    Returns:
        The baseline.
    """

    chunks = (features for features, _ in reference.iter_chunks(CHUNK_ROWS))
    # a Spark reference is profiled on Spark (same profile, all rows, merged partitions)
    profile = distributed_profile(reference) or build_profile(chunks, sample=reference.sample)
    notes = list(reference.notes) + [
        f"column {name!r} has no value: a String with zero counts in the SageMaker files"
        for name in sagemaker_files.empty_columns(profile)
    ]
    predictions = quality = truncated = None
    if ctx is not None and ctx.options.get("predictions", True):
        try:
            predictions, quality, truncated = _prediction_profile(
                ctx, reference, deadline or float("inf")
            )
            notes += [truncated] if truncated else []
        except Exception as exc:  # recorded in the manifest; the input profile still stands
            logger.info("baseline: model outputs not profiled: %r", exc)
            notes.append(f"model outputs not profiled: {exc!r}"[:300])
    columns = {name: _column_entry("feature", c) for name, c in profile.columns.items()}
    outputs = {}
    if predictions is not None:
        for name, column in predictions.columns.items():
            role = "probability" if name.startswith("proba_") else "prediction"
            outputs[name] = _column_entry(role, column)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model_id": None if ctx is None else ctx.model_id,
        "run_id": None if ctx is None else ctx.run_id,
        "registered_model": None if ctx is None else ctx.registered_model_name,
        "registered_version": None if ctx is None else ctx.registered_model_version,
        "data": {
            "source": reference.source,
            "item_count": profile.item_count,
            "fingerprint_sha256": _fingerprint(profile),
        },
        "columns": columns,
        "outputs": outputs,
        "quality": None
        if quality is None
        else {"metrics": quality, "data": "the reference data (often the training data)"},
        "skipped_columns": profile.skipped,
        NOT_MODEL_INPUTS: list(reference.dropped_columns),
        "matching": "by column name",
        "thresholds": THRESHOLDS,
        "files": {k: v for k, v in BASELINE_FILES.items() if k != "sample"},
        "notes": notes,
        "truncated": truncated,
        "versions": {
            k: v
            for k, v in library_versions().items()
            if k in ("mlflow-clarity", "pandas", "numpy")
        },
    }
    return Baseline(profile, predictions, manifest)


def build_baseline(
    data: Any, labels: Any = None, *, sample_rows: int = 2000, seed: int = 0
) -> Baseline:
    """Build a baseline from data outside of ``log_model`` (no model outputs).

    Args:
        data: A DataFrame, array or dict of columns.
        labels: Labels aligned with the rows, or None.
        sample_rows: Rows that set column types and bin edges.
        seed: Seed of that sample.

    Returns:
        The baseline; ``Baseline.write(folder)`` stores it.
    """
    reference = prepare_reference(
        RawReference(data, labels), None, sample_rows=sample_rows, seed=seed
    )
    return build(reference)


def _run(ctx: ModelContext, workspace: StepWorkspace) -> StepOutput:
    assert ctx.reference is not None  # guaranteed by needs_data
    # the outputs profile stops at this step's share, leaving the explainers their time
    baseline = build(ctx.reference, ctx=ctx, deadline=workspace.work_until())
    baseline.write(workspace.out_dir)
    sample_rows = int(ctx.options.get("reference_sample_rows", 0))
    if sample_rows > 0:
        sample, _ = ctx.reference.draw(sample_rows)
        sample.to_parquet(workspace.out_dir / BASELINE_FILES["sample"], index=False)
    rows = baseline.profile.item_count
    output_rows = 0 if baseline.predictions is None else baseline.predictions.item_count
    return StepOutput(
        metrics={"rows": rows, "columns": len(baseline.profile.columns)},
        summary={
            "rows": rows,
            "columns": len(baseline.profile.columns),
            "output_rows": output_rows,
            "skipped_columns": baseline.profile.skipped,
            "notes": baseline.manifest["notes"],
        },
        results={"baseline": baseline},
        truncated=baseline.manifest["truncated"],
    )


@hookimpl
def clarity_monitors() -> list[MonitorSpec]:
    """Register the built-in ``baseline`` monitor."""
    return [
        MonitorSpec(
            name="baseline",
            run=_run,
            folder=MONITORING,
            supports=takes_tables,
            description="Mergeable profile of all rows and model outputs; SageMaker files",
        )
    ]
