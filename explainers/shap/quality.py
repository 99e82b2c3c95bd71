"""How good a SHAP explanation is: additivity, sampling error, background sensitivity."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from mlflow_clarity.explainers.shap.algorithms import Attribution


def additivity(attribution: Attribution) -> dict[str, float] | None:
    """Max and mean of |sum of attributions + base value - model output|, or None.

    Measured in the explained output space; None when the model output is unknown.
    """
    import numpy as np

    if attribution.output is None or attribution.output.shape != attribution.base.shape:
        return None
    residual = np.abs(attribution.values.sum(axis=1) + attribution.base - attribution.output)
    return {"max": float(residual.max()), "mean": float(residual.mean())}


def sampling_error(attribution: Attribution) -> dict[str, Any] | None:
    """Standard error of sampled attributions (split-half), or None for exact algorithms."""
    import numpy as np

    if attribution.error is None:
        return None
    scale = float(np.abs(attribution.values).mean())
    return {
        "method": "split-half: half the difference of two independent permutation runs",
        "mean": float(attribution.error.mean()),
        "max": float(attribution.error.max()),
        "mean_relative": float(attribution.error.mean()) / scale if scale > 0 else 0.0,
    }


def importance(values: np.ndarray) -> np.ndarray:
    """Global importance per feature: mean |attribution| over rows and outputs."""
    import numpy as np

    return np.abs(values).mean(axis=(0, 2))


def overall_importance(global_summary: dict[str, Any]) -> dict[str, float]:
    """Mean |SHAP| per feature, averaged over the outputs of a ``global.json``."""
    outputs = [o["mean_abs"] for o in global_summary["outputs"].values()]
    features = global_summary["features"]
    return {f: sum(o[f] for o in outputs) / len(outputs) for f in features}


def rank_agreement(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman correlation of two global importance vectors (1.0 when both constant)."""
    import numpy as np
    from scipy.stats import spearmanr

    if np.ptp(first) == 0 or np.ptp(second) == 0:
        return 1.0 if np.ptp(first) == np.ptp(second) else 0.0
    return float(spearmanr(first, second).statistic)
