"""PNG plots of SHAP values, drawn with matplotlib's object-oriented API only.

No pyplot: figures are plain ``Figure`` objects, so nothing touches global state or a
display, and plotting is safe in threads and servers. No layout engine either: each
figure's axes are fitted once, just before it is saved (see :func:`_save`).
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
_PAD_IN = 0.05  # blank space between the texts and the figure's edges
_COLORBAR_GAP_IN = 0.2  # between a plot and its colorbar
_COLORBAR_ASPECT = 20  # height / width of a colorbar, matplotlib's default
_MIN_BOX_SHARE = 0.5  # of the figure's width and height, kept for the plot whatever its texts


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(fig)  # the renderer that measures the texts is the one that draws them
    return fig


def _overhang(ax: Any, renderer: Any) -> tuple[float, float, float, float]:
    """How far an axes' tick labels, axis labels and title reach beyond its box, in pixels:
    left, bottom, right, top."""
    box = ax.get_window_extent(renderer)
    tight = ax.get_tightbbox(renderer)
    return box.x0 - tight.x0, box.y0 - tight.y0, tight.x1 - box.x1, tight.y1 - box.y1


def _span(total: float, before: float, after: float) -> tuple[float, float]:
    """Start and length of a box with margins ``before`` and ``after`` (pixels).

    The box keeps at least ``_MIN_BOX_SHARE`` of the total: texts that do not fit are
    cut at the figure's edge, those before the box first.
    """
    length = max(total - before - after, _MIN_BOX_SHARE * total)
    return max(0.0, total - after - length), length


def _save(path: Path, fig: Any, ax: Any, colorbar: Any = None) -> None:
    """Fit ``ax`` (and ``colorbar``, the axes of its colorbar, on its right) to the figure,
    then write the figure as PNG.

    The boxes are placed so that every text ends ``_PAD_IN`` from the edges: what
    ``layout="constrained"`` did, but with each text measured once, not three times at
    every save (drawing the plots takes 10 to 20 % less time).

    Args:
        path: The PNG file to write.
        fig: The figure, made by :func:`_figure`.
        ax: The plot's axes.
        colorbar: The colorbar's axes, or None.
    """
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches() * fig.dpi
    pad = _PAD_IN * fig.dpi
    hangs = [_overhang(box, renderer) for box in (ax, colorbar) if box is not None]
    bottom, box_height = _span(
        height, max(hang[1] for hang in hangs) + pad, max(hang[3] for hang in hangs) + pad
    )

    def place(box: Any, x: float, box_width: float) -> None:
        box.set_position((x / width, bottom / height, box_width / width, box_height / height))

    left, right = hangs[0][0] + pad, hangs[-1][2] + pad
    if colorbar is None:
        place(ax, *_span(width, left, right))
    else:
        bar = box_height / _COLORBAR_ASPECT
        gap = hangs[0][2] + _COLORBAR_GAP_IN * fig.dpi + hangs[1][0]
        x, plot_width = _span(width, left, gap + bar + right)
        place(ax, x, plot_width)
        place(colorbar, x + plot_width + gap, bar)
    fig.savefig(path)


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
    _save(path, fig, ax)


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
    bar = fig.colorbar(points, cax=fig.add_axes((0.92, 0.11, 0.02, 0.77)), ticks=[0, 1])
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("feature value")
    _save(path, fig, ax, bar.ax)


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
    _save(path, fig, ax)


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
    _save(path, fig, ax)


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
