"""The files of the ``shap`` step: global and per-row values, background, quality, card."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.shap.quality import importance
from mlflow_clarity.layout import SHAP_FILES
from mlflow_clarity.store import write_json

if TYPE_CHECKING:
    import pandas as pd

    from mlflow_clarity.explainers.shap.algorithms import Attribution

CSV_ROWS = 200


def global_summary(attribution: Attribution, columns: list[str]) -> dict[str, Any]:
    """Per output: mean_abs, median and mean_sq of the attributions per feature.

    The three aggregations SageMaker Clarify offers (``median`` is of the signed values).
    """
    import numpy as np

    values = attribution.values
    outputs = {}
    for k, name in enumerate(attribution.output_names):
        v = values[:, :, k]
        outputs[name] = {
            "mean_abs": dict(zip(columns, np.abs(v).mean(axis=0).tolist(), strict=True)),
            "median": dict(zip(columns, np.median(v, axis=0).tolist(), strict=True)),
            "mean_sq": dict(zip(columns, (v**2).mean(axis=0).tolist(), strict=True)),
        }
    overall = importance(values)
    return {
        "output_space": attribution.output_space,
        "rows_explained": len(values),
        "features": columns,
        "outputs": outputs,
        "ranking": [columns[i] for i in np.argsort(-overall, kind="stable")],
    }


def clarify_analysis(attribution: Attribution, summary: dict[str, Any]) -> dict[str, Any]:
    """SageMaker Clarify's ``analysis.json`` explanation section, from :func:`global_summary`.

    Per output (Clarify's label): mean |SHAP| per feature as ``global_shap_values`` and the
    mean base value as ``expected_value``, under Clarify's ``kernel_shap`` key (which
    Clarify's readers look for, whatever SHAP algorithm computed the values).
    """
    labels = {
        str(name): {
            "global_shap_values": summary["outputs"][name]["mean_abs"],
            "expected_value": float(attribution.base[:, k].mean()),
        }
        for k, name in enumerate(attribution.output_names)
    }
    return {"version": "1.0", "explanations": {"kernel_shap": labels}}


def values_table(
    attribution: Attribution, columns: list[str], reference_rows: Any, rows: int | None = None
) -> Any:
    """Per-row values in long form: one row per explained row and output.

    ``row`` numbers the explained rows; ``reference_row`` is the row's 0-based position
    in the reference data the user gave.
    """
    import pandas as pd

    n = len(attribution.values) if rows is None else min(rows, len(attribution.values))
    frames = []
    for k, name in enumerate(attribution.output_names):
        frame = pd.DataFrame(attribution.values[:n, :, k], columns=columns)
        frame.insert(0, "row", range(n))
        frame.insert(1, "reference_row", reference_rows[:n])
        frame.insert(2, "output", str(name))
        frame.insert(3, "base_value", attribution.base[:n, k])
        if attribution.output is not None:
            frame.insert(4, "model_output", attribution.output[:n, k])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_all(
    out_dir: Path,
    attribution: Attribution,
    columns: list[str],
    reference_rows: Any,
    background: pd.DataFrame,
    quality: dict[str, Any],
    card: dict[str, Any],
) -> dict[str, Any]:
    """Write every file (``analysis.json`` in SageMaker Clarify's layout next to
    ``global.json``); return what was written, in memory, by role (keys of
    :data:`~mlflow_clarity.layout.SHAP_FILES`: ``global``, ``quality``, ``card``, ``values``)."""
    summary = global_summary(attribution, columns)
    write_json(out_dir / SHAP_FILES["global"], summary)
    write_json(out_dir / SHAP_FILES["analysis"], clarify_analysis(attribution, summary))
    write_json(out_dir / SHAP_FILES["quality"], quality)
    write_json(out_dir / SHAP_FILES["card"], card)
    head = values_table(attribution, columns, reference_rows, CSV_ROWS)
    head.to_csv(out_dir / SHAP_FILES["values_csv"], index=False)
    table = values_table(attribution, columns, reference_rows)
    table.to_parquet(out_dir / SHAP_FILES["values"], index=False)
    background.to_parquet(out_dir / SHAP_FILES["background"], index=False)
    return {"global": summary, "quality": quality, "card": card, "values": table}


def representative_rows(attribution: Attribution, count: int = 3) -> list[int]:
    """Rows at the lowest, middle and highest output (the last output: a positive class)."""
    import numpy as np

    output = attribution.values.sum(axis=1)[:, -1] + attribution.base[:, -1]
    order = np.argsort(output, kind="stable")
    picks = [order[round(q * (len(order) - 1))] for q in np.linspace(0, 1, count)]
    return list(dict.fromkeys(int(i) for i in picks))
