"""PNG plots of SHAP values, drawn with matplotlib's object-oriented API only.

No pyplot: figures are plain ``Figure`` objects, so nothing touches global state or a
display, and plotting is safe in threads and servers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_clarity.explainers.shap.quality import importance
from mlflow_clarity.layout import SHAP_FILES

if TYPE_CHECKING:
    import numpy as np

    from mlflow_clarity.explainers.shap.algorithms import Attribution

TOP_FEATURES = 20
DEPENDENCE_FEATURES = 3
SCATTER_ROWS = 2_000  # rows drawn in scatter plots; the explained rows are already a sample
_DPI = 100


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=_DPI, layout="constrained")


def _order(values: np.ndarray, top: int) -> list[int]:
    import numpy as np

    return list(np.argsort(-importance(values), kind="stable")[:top])


def importance_bar(path: Path, attribution: Attribution, columns: list[str]) -> None:
    """Mean |SHAP| per feature, stacked by output, most important on top."""
    import numpy as np

    order = _order(attribution.values, TOP_FEATURES)[::-1]
    fig = _figure(8, 0.35 * len(order) + 1.5)
    ax = fig.subplots()
    left = np.zeros(len(order))
    for k, name in enumerate(attribution.output_names):
        widths = np.abs(attribution.values[:, order, k]).mean(axis=0)
        ax.barh([columns[i] for i in order], widths, left=left, label=str(name))
        left += widths
    ax.set_xlabel(f"mean |SHAP value| ({attribution.output_space})")
    ax.set_title("Feature importance")
    if len(attribution.output_names) > 1:
        ax.legend(title="output", fontsize="small")
    fig.savefig(path)


def _scaled(column: np.ndarray) -> np.ndarray:
    import numpy as np

    finite = np.isfinite(column)
    out = np.full(len(column), 0.5)
    if finite.any():
        low, high = np.nanpercentile(column[finite], [5, 95])
        span = high - low if high > low else 1.0
        out[finite] = np.clip((column[finite] - low) / span, 0, 1)
    return out


def beeswarm(path: Path, attribution: Attribution, columns: list[str], x: np.ndarray) -> None:
    """One dot per row and feature: SHAP value, coloured by the feature's value."""
    import numpy as np

    k = attribution.values.shape[2] - 1
    order = _order(attribution.values, TOP_FEATURES)[::-1]
    fig = _figure(8, 0.35 * len(order) + 1.5)
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    shap_values = attribution.values[:SCATTER_ROWS, order, k]  # (rows, shown features)
    colours = np.column_stack([_scaled(x[:SCATTER_ROWS, j]) for j in order])
    positions = np.arange(len(order)) + rng.uniform(-0.3, 0.3, size=shap_values.shape)
    points = ax.scatter(
        shap_values.ravel(),
        positions.ravel(),
        c=colours.ravel(),
        cmap="coolwarm",
        s=6,
        vmin=0,
        vmax=1,
        linewidths=0,
        rasterized=True,
    )
    ax.set_yticks(range(len(order)), [columns[j] for j in order])
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_xlabel(f"SHAP value for {attribution.output_names[k]} ({attribution.output_space})")
    bar = fig.colorbar(points, ax=ax, ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    fig.savefig(path)


def waterfall(
    path: Path,
    attribution: Attribution,
    columns: list[str],
    row: int,
    title: str,
    max_features: int = 10,
) -> None:
    """How one row's output is built from the base value, feature by feature."""
    import numpy as np

    k = attribution.values.shape[2] - 1
    values = attribution.values[row, :, k]
    order = list(np.argsort(-np.abs(values), kind="stable"))
    shown, rest = order[:max_features], order[max_features:]
    labels = [columns[j] for j in shown] + ([f"{len(rest)} other features"] if rest else [])
    steps = [values[j] for j in shown] + ([values[rest].sum()] if rest else [])
    base = attribution.base[row, k]
    fig = _figure(8, 0.4 * len(steps) + 1.8)
    ax = fig.subplots()
    start = base
    for position, step in enumerate(steps):
        color = "#d62728" if step > 0 else "#1f77b4"
        ax.barh(len(steps) - 1 - position, step, left=start, color=color)
        ax.text(start + step, len(steps) - 1 - position, f" {step:+.3g}", va="center", fontsize=8)
        start += step
    ax.set_yticks(range(len(steps)), labels[::-1])
    ax.axvline(base, color="grey", linestyle="--", linewidth=0.8)
    ax.margins(x=0.08)  # room for the base line and the value labels
    ax.set_xlabel(
        f"{attribution.output_names[k]} ({attribution.output_space}): "
        f"base {base:.3g} -> {start:.3g}"
    )
    ax.set_title(title)
    fig.savefig(path)


def dependence(
    path: Path,
    attribution: Attribution,
    columns: list[str],
    x: np.ndarray,
    feature: int,
    category_labels: tuple[str, ...] | None,
) -> None:
    """SHAP value of one feature against the feature's value."""
    k = attribution.values.shape[2] - 1
    fig = _figure(6, 4)
    ax = fig.subplots()
    rows = slice(0, SCATTER_ROWS)
    ax.scatter(x[rows, feature], attribution.values[rows, feature, k], s=8, alpha=0.6)
    if category_labels is not None and len(category_labels) <= 20:
        ax.set_xticks(range(len(category_labels)), category_labels, rotation=45, ha="right")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel(columns[feature])
    ax.set_ylabel(f"SHAP value ({attribution.output_space})")
    ax.set_title(f"Dependence: {columns[feature]}")
    fig.savefig(path)


def draw_all(
    out_dir: Path,
    attribution: Attribution,
    columns: list[str],
    x: np.ndarray,
    reference_rows: Any,
    rows: list[int],
    category_labels: dict[str, tuple[str, ...] | None],
) -> list[str]:
    """Draw every plot into ``out_dir/plots``; return the file names written."""
    plots = out_dir / SHAP_FILES["plots"]
    plots.mkdir(parents=True, exist_ok=True)
    importance_bar(plots / "importance.png", attribution, columns)
    beeswarm(plots / "beeswarm.png", attribution, columns, x)
    for row in rows:
        number = int(reference_rows[row])
        title = f"Row {number} of the reference data"
        waterfall(plots / f"waterfall_row{number}.png", attribution, columns, row, title)
    for j in _order(attribution.values, DEPENDENCE_FEATURES):
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in columns[j])[:60]
        dependence(
            plots / f"dependence_{j}_{name}.png",
            attribution,
            columns,
            x,
            j,
            category_labels.get(columns[j]),
        )
    return sorted(p.name for p in plots.iterdir())
