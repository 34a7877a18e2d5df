"""Plots: Fig. 4 of [L16] (rasters, input images, PSP and modulatory traces), learning
curves, angle curves and comparison bar charts.

Every ``plot_*`` function draws into a matplotlib ``Axes`` it is given and returns it;
``fig4`` and ``angle_figure`` build a whole :class:`matplotlib.figure.Figure` without
pyplot (no global state, no window; ``fig.savefig("x.png")`` renders with Agg whatever
the session's backend). Nothing here calls ``plt.show()``. Time is the run's integer
step index.

[L16] Lillicrap, Cownden, Tweed, Akerman. Random synaptic feedback weights support error
backpropagation for deep learning. Nature Communications 7:13276 (2016), Fig. 4.
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .errors import SpikefaError

RULE_COLORS = {"bp": "#1f77b4", "fa": "#d62728", "dfa": "#2ca02c", "ss": "#9467bd", "wm": "#ff7f0e",
               "kp": "#8c564b", "shallow": "#7f7f7f", "np": "#e377c2"}
V_COLOR, PHI_COLOR = "#1f5fa8", "#c0392b"


def _rule_color(rule, i):
    return RULE_COLORS.get(str(rule).lower(), f"C{i % 10}")


def _empty(ax):
    """A window with no rows yet (a live or killed run's file): say so, no ticks."""
    ax.text(0.5, 0.5, "no recorded steps (yet)", ha="center", va="center", transform=ax.transAxes, color="0.4",
            fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


# ----- building blocks of Fig. 4 -----
def plot_raster(ax, steps, spikes, *, units=None, group=None, labels=None, image_steps=None,
                steps_per_image=None, ylabel=None):
    """Spike raster: one row per recorded unit, one column per step, black = spike.

    Parameters
    ----------
    ax : matplotlib Axes
    steps : ndarray (n,) int
        Global step of each column (consecutive).
    spikes : ndarray (n, R) bool
    units : ndarray (R,) int, optional
        Unit indices within the layer (for class groups).
    group : int, optional
        Output units per class: marks the class groups (units // group) on the y axis.
    labels, image_steps : ndarray (m,), optional
        Label and first step of each image shown: with ``group``, the label's group is
        shaded red during the image (the units that should fire).
    steps_per_image : int, optional
        Draws faint lines between images.
    """
    steps = np.asarray(steps)
    spikes = np.asarray(spikes, dtype=bool)
    R = spikes.shape[1]
    if len(steps) == 0 or R == 0:
        return _empty(ax)
    x0, x1 = steps[0], steps[-1] + 1
    # one tick per spike, as in the paper's rasters: a vertical line at the step, one unit high
    col, row = np.nonzero(spikes)
    ax.vlines(steps[col] + 0.5, row + 0.1, row + 0.9, colors="k", lw=0.7 if R <= 100 else 0.5)
    if steps_per_image and image_steps is not None:
        for s in np.asarray(image_steps)[1:]:
            ax.axvline(s, color="0.75", lw=0.4, zorder=0.5)
    if group and units is not None:
        cls = np.asarray(units) // group
        edges = np.flatnonzero(np.diff(cls)) + 1
        for e in edges:
            ax.axhline(e, color="#4a90d9", lw=0.6)
        bounds = np.concatenate([[0], edges, [R]])
        centers = (bounds[:-1] + bounds[1:]) / 2
        ax.set_yticks(centers)
        ax.set_yticklabels([str(c) for c in cls[bounds[:-1]]], fontsize=8)
        if labels is not None and image_steps is not None:
            n = steps_per_image or 1
            for lab, s in zip(labels, image_steps):
                rows = np.flatnonzero(cls == lab)
                if rows.size:
                    ax.add_patch(Rectangle((s, rows[0]), n, rows[-1] + 1 - rows[0], facecolor=(0.9, 0.15, 0.15, 0.2),
                                           edgecolor="#e03030", lw=0.9))
    else:
        ax.set_yticks([0, R])
        ax.set_yticklabels(["0", str(R)], fontsize=8)
    ax.set_xlim(x0, x1)
    ax.set_ylim(R, 0)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=9)
    return ax


def plot_images(ax, pixels, image_steps, steps_per_image, labels=None):
    """Input images side by side along the step axis (each spans its ``steps_per_image``)."""
    pixels = np.asarray(pixels)
    if len(pixels) == 0:
        ax.axis("off")
        return ax
    if pixels.ndim == 2:
        side = int(round(np.sqrt(pixels.shape[1])))
        pixels = pixels.reshape(len(pixels), side, -1)
    for img, s in zip(pixels, image_steps):
        ax.imshow(img, cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
                  extent=(s + 0.2, s + steps_per_image - 0.2, 0, 1), aspect="auto")
    if labels is not None and len(pixels) <= 40:
        for lab, s in zip(labels, image_steps):
            ax.text(s + steps_per_image / 2, 1.05, str(lab), ha="center", va="bottom", fontsize=8, color="0.3")
    ax.set_xlim(image_steps[0], image_steps[-1] + steps_per_image)
    ax.set_ylim(0, 1)
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_visible(False)
    return ax


def plot_trace(ax, steps, values, *, color=V_COLOR, ylabel=None, title=None, zero_line=True):
    """One unit's signal over steps (PSP V or modulatory signal phi(U)), as a step curve."""
    steps = np.asarray(steps)
    if len(steps) == 0:
        return _empty(ax)
    ax.step(steps, values, where="post", color=color, lw=1.0)
    if zero_line:
        ax.axhline(0, color="0.6", lw=0.5, zorder=0)
    ax.set_xlim(steps[0], steps[-1] + 1)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=9)
    if title:
        ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=8)
    return ax


def _open(source):
    from .recording import RasterFile

    return (source, False) if isinstance(source, RasterFile) else (RasterFile(source), True)


def fig4(source, windows=None, trace: int = 0, figsize=None) -> Figure:
    """The Fig. 4 of [L16] from a raster file: early, middle and late side by side.

    Per window (column): the input images along the top; a raster of the recorded units of
    each hidden layer; the output raster with its class groups (the label's group shaded
    red while its image is shown); at the bottom, one forward unit's PSP ``V`` beside its modulatory signal
    ``phi(U)``.

    Parameters
    ----------
    source : path or RasterFile
    windows : list of str, optional
        Window names (default: every window of the file).
    trace : int
        Which traced unit to show (index into the file's ``/traces/units``).
    """
    rf, own = _open(source)
    try:
        wins = [rf.window(w)["name"] for w in windows] if windows else [w["name"] for w in rf.windows]
        layers = rf.layers
        out_name = "output" if "output" in layers else None
        tr_units = rf.traces()["units"]
        if len(tr_units) and not -len(tr_units) <= trace < len(tr_units):
            raise SpikefaError(f"trace {trace}: the file traces {len(tr_units)} units (0..{len(tr_units) - 1})")
        hidden = [k for k in layers if k != out_name]
        spi = rf.steps_per_image
        n_img = max([len(rf.images(w)["step"]) for w in wins] + [1])
        col_w = 5.2                                   # inches of one window's column
        # images (square digits: one image's width tall), hidden rasters, output raster, traces
        ratios = [col_w / n_img / 1.05] + [1.0] * len(hidden) + ([2.6] if out_name else []) + \
                 ([1.3] if len(tr_units) else [])
        nrow = len(ratios)
        fig = Figure(figsize=figsize or (col_w * len(wins) + 1.2, 0.9 + sum(ratios) * 1.05), dpi=120,
                     layout="constrained")
        gs = fig.add_gridspec(nrow, len(wins), height_ratios=ratios)
        for c, w in enumerate(wins):
            img = rf.images(w)
            ax = fig.add_subplot(gs[0, c])
            plot_images(ax, img["pixels"], img["step"], spi, labels=img["label"])
            win = rf.window(w)
            ax.set_title(f"{w}: images {win['start_image']:,}-{win['stop_image'] - 1:,}", fontsize=10, pad=12)
            first = None
            for r, name in enumerate(hidden + ([out_name] if out_name else []), start=1):
                ax = fig.add_subplot(gs[r, c], sharex=first)
                first = first or ax
                s, spikes = rf.raster(name, w)
                is_out = name == out_name
                plot_raster(ax, s, spikes, units=rf.units(name), group=rf.group if is_out else None,
                            labels=img["label"] if is_out else None, image_steps=img["step"], steps_per_image=spi,
                            ylabel=(f"{name}\n({spikes.shape[1]} units)" + ("\nclass" if is_out else "")) if c == 0
                            else None)
                ax.tick_params(labelsize=8, labelbottom=is_out)
                if not is_out and len(s):
                    ax.text(1.0, 1.0, f"rate {spikes.mean():.2f}", transform=ax.transAxes, ha="right", va="bottom",
                            fontsize=8, color="0.35")
                elif is_out and len(s):
                    ax.set_xlabel("step", fontsize=9)
                    ax.locator_params(axis="x", nbins=4)
            if len(tr_units):
                tr = rf.traces(w)
                l, j = tr_units[trace]
                sub = gs[nrow - 1, c].subgridspec(1, 2)
                a1, a2 = fig.add_subplot(sub[0]), fig.add_subplot(sub[1])
                unit = f"{_layer_label(rf, int(l))} unit {j}"
                plot_trace(a1, tr["steps"], tr["V"][:, trace], color=V_COLOR, title="PSP V",
                           ylabel=f"{unit}\nV" if c == 0 else None)
                plot_trace(a2, tr["steps"], tr["phi"][:, trace], color=PHI_COLOR, title="modulatory signal φ(U)")
                for a in (a1, a2):
                    a.set_xlabel("step", fontsize=9)
                    a.locator_params(axis="x", nbins=3)
        fig.suptitle("Spiking network learning with random feedback (after Lillicrap et al. 2016, Fig. 4)",
                     fontsize=11)
        return fig
    finally:
        if own:
            rf.close()


def _layer_label(rf, l: int) -> str:
    for k in rf.layers:
        if int(rf.f[f"layers/{k}"].attrs["layer"]) == l:
            return k
    L = len(rf.attrs["sizes"]) - 1
    return "output" if l == L else f"hidden{l}"


# ----- learning, angles, comparisons -----
def learning_curves(results) -> dict:
    """``{"epoch": (images_seen, error), "heldout": (images_seen, error)}`` from a result file.

    ``results`` is a path or the dict of :func:`spikefa.results.read_results`. Epoch rows
    are placed at ``epoch * run.train_images`` images seen.
    """
    from .results import read_results

    res = results if isinstance(results, dict) else read_results(results)
    out = {}
    if "heldout" in res and len(res["heldout"]):
        h = np.asarray(res["heldout"])
        out["heldout"] = (h[:, 0], h[:, 1])
    if "epoch" in res and len(res["epoch"]):
        e = np.asarray(res["epoch"])
        n = res.get("config", {}).get("run", {}).get("train_images", 1)
        out["epoch"] = (e[:, 0] * n, e[:, 1])
    return out


def plot_learning(ax, results, label=None, color=None, percent: bool = True, logy: bool = False):
    """Test error vs images seen: held-out checks (line) and end-of-epoch tests (dots)."""
    curves = learning_curves(results)
    if not curves:
        raise SpikefaError("no learning curve: the result file has no 'epoch' or 'heldout' rows yet")
    k = 100.0 if percent else 1.0
    color = color or "C0"
    if "heldout" in curves:
        x, e = curves["heldout"]
        ax.plot(x, k * e, ".-", color=color, lw=1.3, label=f"{label + ': ' if label else ''}held-out subset")
    if "epoch" in curves:
        x, e = curves["epoch"]
        ax.plot(x, k * e, "o", color=color, ms=5, mec="k", mew=0.6,
                label=f"{label + ': ' if label else ''}test set, end of epoch")
    ax.set_xlim(left=0)
    ax.set_xlabel("training images seen")
    ax.set_ylabel("test error (%)" if percent else "test error")
    if logy:
        ax.set_yscale("log")
    ax.set_ylim(bottom=0 if not logy else None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def plot_angles(ax, data: dict, layer=None, ylabel="angle (°)", reference=90.0):
    """Angle curves per rule: ``data = {rule: (x, angles)}``, angles (n,) or (n, n_layers).

    One colour per rule; with ``layer=None`` every layer is drawn (line style per layer),
    otherwise only column ``layer``. A dotted line marks ``reference`` (90°: orthogonal).
    """
    styles = ["-", "--", ":", "-."]
    for i, (rule, (x, a)) in enumerate(data.items()):
        a = np.asarray(a, dtype=float)
        a = a[:, None] if a.ndim == 1 else a
        cols = range(a.shape[1]) if layer is None else [layer]
        for k in cols:
            lab = str(rule) if layer is not None or a.shape[1] == 1 else f"{rule}, layer {k + 1}"
            ax.plot(x, a[:, k], styles[k % len(styles)] if layer is None else "-", color=_rule_color(rule, i),
                    lw=1.3, label=lab)
    if reference is not None:
        ax.axhline(reference, color="0.5", lw=0.7, ls=":")
    ax.set_ylabel(ylabel)
    ax.set_xlabel("training examples")
    ax.set_ylim(bottom=-3)   # a curve at 0° (weight transport) stays visible above the axis
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax


def angle_figure(data: dict, title="angle per layer", ylabel="angle (°)") -> Figure:
    """One panel per layer of :func:`plot_angles`."""
    n = max(np.atleast_2d(np.asarray(a).T).shape[0] for _, a in data.values())
    fig = Figure(figsize=(3.6 * n + 0.6, 3.4), dpi=110, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False, sharey=True)[0]
    for k, ax in enumerate(axes):
        plot_angles(ax, data, layer=k, ylabel=ylabel if k == 0 else "")
        ax.set_title(f"layer {k + 1}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def plot_comparison(ax, data: dict, ylabel="test error (%)", annotate: bool = True):
    """Bar chart of ``{rule: (mean, sd)}`` with ±sd error bars."""
    names = list(data)
    mean = np.array([float(data[k][0]) for k in names])
    sd = np.array([float(data[k][1]) for k in names])
    x = np.arange(len(names))
    ax.bar(x, mean, yerr=sd, capsize=4, color=[_rule_color(k, i) for i, k in enumerate(names)],
           edgecolor="k", lw=0.6, error_kw={"lw": 1})
    if annotate:
        for xi, m, s in zip(x, mean, sd):
            ax.annotate(f"{m:.3g}", (xi, m + s), xytext=(0, 3), textcoords="offset points", ha="center",
                        va="bottom", fontsize=8)
    ax.set_xticks(x)
    ax.set_xticklabels(names)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(1e-12, float(np.max(mean + sd))) * 1.15)
    ax.grid(axis="y", alpha=0.3)
    return ax


def single(plot_fn, *args, figsize=(6, 4), **kw) -> Figure:
    """A one-panel Figure drawn by ``plot_fn(ax, *args, **kw)``."""
    fig = Figure(figsize=figsize, dpi=110, layout="constrained")
    plot_fn(fig.add_subplot(), *args, **kw)
    return fig


# ----- whole figures of one raster file, and the file dispatch of `spikefa plot` -----
def raster_figure(source, window=-1) -> Figure:
    """Rasters of every recorded layer in one window (default: the last), one panel each."""
    rf, own = _open(source)
    try:
        w = rf.window(window)["name"]
        layers = rf.layers
        ratios = [2.4 if k == "output" else 1.0 for k in layers]
        fig = Figure(figsize=(9, 1.2 + 1.3 * sum(ratios)), dpi=110, layout="constrained")
        axes = fig.subplots(len(layers), 1, sharex=True, squeeze=False, height_ratios=ratios)[:, 0]
        img = rf.images(w)
        for ax, name in zip(axes, layers):
            s, spikes = rf.raster(name, w)
            out = name == "output"
            plot_raster(ax, s, spikes, units=rf.units(name), group=rf.group if out else None,
                        labels=img["label"] if out else None, image_steps=img["step"],
                        steps_per_image=rf.steps_per_image, ylabel=f"{name}\n({spikes.shape[1]} units)")
        axes[-1].set_xlabel("step")
        fig.suptitle(f"{rf.path.name}: window {w}", fontsize=10)
        return fig
    finally:
        if own:
            rf.close()


def traces_figure(source, window=-1) -> Figure:
    """V (left) and phi(U) (right) of every traced unit in one window, one row per unit."""
    rf, own = _open(source)
    try:
        w = rf.window(window)["name"]
        tr = rf.traces(w)
        T = len(tr["units"])
        if T == 0:
            raise SpikefaError(f"{rf.path}: no traces were recorded (record.traces = 0)")
        fig = Figure(figsize=(9, 0.8 + 1.4 * T), dpi=110, layout="constrained")
        axes = fig.subplots(T, 2, sharex=True, squeeze=False)
        for k, (l, j) in enumerate(tr["units"]):
            unit = f"{_layer_label(rf, int(l))} unit {j}"
            plot_trace(axes[k, 0], tr["steps"], tr["V"][:, k], color=V_COLOR, ylabel=f"{unit}\nV",
                       title="PSP V" if k == 0 else None)
            plot_trace(axes[k, 1], tr["steps"], tr["phi"][:, k], color=PHI_COLOR, ylabel="φ(U)",
                       title="modulatory signal φ(U)" if k == 0 else None)
        for ax in axes[-1]:
            ax.set_xlabel("step")
        fig.suptitle(f"{rf.path.name}: window {w}", fontsize=10)
        return fig
    finally:
        if own:
            rf.close()


KINDS = {"fig4": "raster", "raster": "raster", "traces": "raster", "learning": "results"}


def file_format(path) -> str:
    """``"raster"`` or ``"results"``: which spikefa file ``path`` is (SpikefaError otherwise)."""
    import h5py

    from .recording import FORMAT as RASTER
    from .results import FORMAT as RESULTS

    path = Path(path)
    if not path.is_file():
        raise SpikefaError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r", swmr=True)
    except OSError:
        try:
            # a file held open by a running writer (older versions kept results.h5 open)
            f = h5py.File(path, "r", locking=False)
        except OSError:
            raise SpikefaError(f"{path}: not an HDF5 file, so not a spikefa result or raster file") from None
    with f:
        fmt = f.attrs.get("format")
    if fmt == RASTER:
        return "raster"
    if fmt == RESULTS:
        return "results"
    raise SpikefaError(f"{path}: not a spikefa result or raster file (format attribute {fmt!r})")


FORMATS = ("png", "svg", "pdf")


def plot_file(path, kind: str | None = None, out=None, window=None, trace: int = 0, fmt: str | None = None):
    """Draw a saved file and write it as PNG, SVG or PDF; return the figure's path (what
    `spikefa plot` does).

    ``kind``: ``fig4`` (default for raster files), ``raster``, ``traces`` or
    ``learning`` (default for result files). ``fmt``: the file format (default: ``out``'s
    suffix, else PNG). ``out`` defaults to ``FILE-KIND.FORMAT`` beside the file.
    """
    suffix = Path(out).suffix.lstrip(".").lower() if out else ""
    fmt = fmt or (suffix if suffix in FORMATS else "png")
    if fmt not in FORMATS:
        raise SpikefaError(f"--format: unknown {fmt!r}, choose one of {', '.join(FORMATS)}")
    path = Path(path)
    source = file_format(path)
    kind = kind or ("fig4" if source == "raster" else "learning")
    if kind not in KINDS:
        raise SpikefaError(f"--kind: unknown {kind!r}, choose one of {', '.join(KINDS)}")
    if KINDS[kind] != source:
        need = "a raster file (rasters.h5, written by `spikefa run ... --record`)" if KINDS[kind] == "raster" \
            else "a result file (results.h5)"
        raise SpikefaError(f"--kind {kind} needs {need}; {path} is a {source} file")
    if kind == "fig4":
        fig = fig4(path, windows=[window] if window is not None else None, trace=trace)
    elif kind == "raster":
        fig = raster_figure(path, -1 if window is None else window)
    elif kind == "traces":
        fig = traces_figure(path, -1 if window is None else window)
    else:
        fig = single(plot_learning, path, figsize=(6.5, 4.2))
        fig.axes[0].set_title(path.parent.name or str(path), fontsize=10)
    out = Path(out) if out else path.with_name(f"{path.stem}-{kind}.{fmt}")
    try:
        fig.savefig(out, format=fmt)
    except OSError as e:
        raise SpikefaError(f"--out {out}: cannot write the figure ({e.strerror or e})") from None
    return out
