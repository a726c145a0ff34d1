"""Figures: pure functions from rows to a matplotlib Figure, one per panel of the report.

They draw on bare ``matplotlib.figure.Figure`` objects, which save to PNG
through the Agg canvas whatever backend is configured, never on pyplot's
global state, so building every section in one
process keeps no figure alive. Every figure has a title and axis labels, and a
legend wherever it shows several series.
"""
import math

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .findings import label
from .queries import scalar

LINE_STYLES = ("-", "--", ":", "-.")
GRADIENT_SMOOTHING = 25  # steps in the moving average of per-step gradient norms drawn (2.4, 2.5)


def style_by(keys_of_runs):
    """Colour by the first key, line style by the second: [(colour key, dash key)] -> [plot kwargs]."""
    colours = {k: f"C{i % 10}" for i, k in enumerate(dict.fromkeys(c for c, _ in keys_of_runs))}
    dashes = {k: LINE_STYLES[i % len(LINE_STYLES)] for i, k in enumerate(dict.fromkeys(d for _, d in keys_of_runs))}
    return [{"color": colours[c], "linestyle": dashes[d]} for c, d in keys_of_runs]


def epoch_series(runs, curves, metric, keys, names=None):
    """One series per run of a per-epoch ``metric`` (``curves`` as queries.curves gives them), named by ``keys``
    of its configuration (or by ``names``): colour by the first key, dash by the last."""
    styles = style_by([(scalar(r["config"][keys[0]]), scalar(r["config"][keys[-1]])) for r in runs])
    names = names or [label(r["config"], keys) for r in runs]
    return [{"label": name, "x": curve["epoch"], "y": curve[metric], "style": style}
            for curve, style, name in zip(curves, styles, names)]


def moving_average(y, window):
    """Mean of each run of ``window`` values (shorter series are returned as they are)."""
    y = np.asarray(y, dtype=float)
    if window <= 1 or len(y) < window:
        return y
    return np.convolve(y, np.ones(window) / window, mode="valid")


def _grid(n, width=4.6, height=3.4):
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.remove()
    return fig, axes[:n]


def lines(panels, title, xlabel, ylabel, log_y=False, smooth=1):
    """panels: [(panel title, [series])]; a series is {label, x, y, style (plot kwargs, optional)}.

    ``log_y`` takes effect where a panel's values span more than a decade; with
    ``smooth`` > 1 each series is a moving average over that many points.
    """
    fig, axes = _grid(len(panels), width=6.4 if len(panels) == 1 else 4.6)
    for ax, (name, series) in zip(axes, panels):
        ys = [moving_average(s["y"], smooth) for s in series]
        for s, y in zip(series, ys):
            ax.plot(np.asarray(s["x"])[len(s["x"]) - len(y):], y, label=s["label"], **s.get("style", {}))
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel)
        positive = np.concatenate(ys)[np.concatenate(ys) > 0]
        if log_y and positive.size and positive.max() > 10 * positive.min():
            ax.set_yscale("log")
        if all(np.allclose(np.asarray(s["x"]) % 1, 0) for s in series):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if len(series) > 4:
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
        elif len(series) > 1:
            ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def bars(categories, series, title, xlabel, ylabel, errors=None):
    """Grouped bars: ``series`` {label: one value per category}; ``errors`` the same shape, optional."""
    fig = Figure(figsize=(max(5.0, 1.1 * len(categories) + 2), 4.2), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(categories))
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name,
               yerr=None if errors is None else errors[name], capsize=3)
    ax.set_xticks(x, categories, rotation=25 if max(map(len, categories)) > 8 else 0, ha="right")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    return fig


def parallel_coordinates(columns, colour, title, colour_label):
    """One vertical axis per hyperparameter, one line per run coloured by ``colour``.

    ``columns`` {name: {codes: position in [0, 1] per run, ticks: [(position, text)]}} (queries.encode).
    """
    names = list(columns)
    fig = Figure(figsize=(1.35 * len(names) + 2.5, 4.8), layout="constrained")
    ax = fig.subplots()
    positions = np.column_stack([columns[n]["codes"] for n in names])
    colour = np.asarray(colour, dtype=float)
    norm, cmap = Normalize(colour.min(), colour.max()), colormaps["viridis"]
    for i in np.argsort(colour):  # the best runs drawn last, on top
        ax.plot(np.arange(len(names)), positions[i], color=cmap(norm(colour[i])), alpha=0.7, linewidth=1)
    for j, name in enumerate(names):
        ax.axvline(j, color="black", linewidth=0.8)
        for position, text in columns[name]["ticks"]:
            ax.text(j + 0.04, position, text, fontsize=7, va="center",
                    bbox={"facecolor": "white", "alpha": 0.7, "linewidth": 0, "pad": 0.5})
    ax.set_xticks(np.arange(len(names)), names, rotation=25, ha="right")
    ax.set_yticks([])
    ax.set(title=title, xlabel="hyperparameter", ylabel="value on each axis (low to high)",
           xlim=(-0.2, len(names) - 0.4), ylim=(-0.05, 1.05))
    fig.colorbar(ScalarMappable(norm, cmap), ax=ax, label=colour_label)
    return fig


def scatter_marked(x, y, marked, title, xlabel, ylabel, marked_label, other_label):
    """Points with the ``marked`` ones drawn apart, and the line y = x: all points on the left, and on the
    right a zoom on the better half by ``x``, where the marked points usually crowd."""
    x, y, marked = np.asarray(x), np.asarray(y), np.asarray(marked, dtype=bool)
    fig = Figure(figsize=(10.5, 4.8), layout="constrained")
    upper = x >= np.median(x)
    for ax, keep, name in zip(fig.subplots(1, 2), (np.ones_like(marked), upper), ("all runs", "better half")):
        ax.scatter(x[keep & ~marked], y[keep & ~marked], s=16, alpha=0.7, label=other_label)
        ax.scatter(x[keep & marked], y[keep & marked], s=40, marker="x", color="red", label=marked_label)
        low, high = min(x[keep].min(), y[keep].min()), max(x[keep].max(), y[keep].max())
        ax.plot([low, high], [low, high], "--", color="grey", linewidth=1, label=f"{ylabel} = {xlabel}")
        ax.set(title=name, xlabel=xlabel, ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(title)
    return fig


def confusion(matrix, class_names, title):
    """A confusion matrix (rows true, columns predicted) with its counts written in."""
    matrix = np.asarray(matrix)
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > matrix.max() / 2 else "black")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45 if max(map(len, class_names)) > 2 else 0, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    fig.colorbar(image, ax=ax, label="test images")
    return fig


def image_grid(images, title, xlabel, ylabel, row_labels=None, captions=None):
    """``images`` (rows, cols, 784) as 28x28 greyscale tiles; optional row labels and per-tile captions."""
    n_rows, n_cols = images.shape[:2]
    fig = Figure(figsize=(1.0 * n_cols + 1.2, 1.05 * n_rows + 0.6), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for (r, c), ax in np.ndenumerate(axes):
        ax.imshow(images[r, c].reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        if captions is not None:
            ax.set_title(captions[r][c], fontsize=7)
        if row_labels is not None and c == 0:
            ax.set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title)
    fig.supxlabel(xlabel)
    fig.supylabel(ylabel)
    return fig
