"""Plots: Fig. 4 from a raster file, learning, angle and comparison charts, `spikefa plot`.

Each figure is checked for its panels and for content (images with spikes in them,
lines with the recorded number of points, a PNG that is not blank).
"""

import h5py
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from spikefa import cli, plots
from spikefa.recording import RasterFile
from clihelp import mnist_dir, run_cli
from test_recording import STEPS, record


@pytest.fixture(scope="module")
def raster(tmp_path_factory):
    path = tmp_path_factory.mktemp("plots") / "rasters.h5"
    record(path)
    return path


def assert_png_has_content(path, min_kb=10):
    assert path.is_file() and path.stat().st_size > min_kb * 1024
    img = matplotlib.image.imread(path)[..., :3]
    ink = (img.mean(axis=2) < 0.9).mean()           # fraction of pixels that are not near-white
    assert ink > 0.03, ink
    return img


def test_fig4_panels_and_content(raster):
    fig = plots.fig4(raster, windows=["early", "w10", "late"])
    # per window: images, hidden1, hidden2, output, then V beside phi(U)
    assert len(fig.axes) == 3 * 6
    with RasterFile(raster) as rf:
        rows = {w: len(rf.steps(w)) for w in ("early", "w10", "late")}
        n_img = {w: len(rf.images(w)["step"]) for w in ("early", "w10", "late")}
    titles = [ax.get_title() for ax in fig.axes]
    for w in rows:
        assert any(t.startswith(f"{w}:") for t in titles), titles
    image_axes = [ax for ax in fig.axes if ax.get_title().split(":")[0] in rows]
    assert [len(ax.images) for ax in image_axes] == [n_img["early"], n_img["w10"], n_img["late"]] == [4, 6, 4]
    rasters = [ax for ax in fig.axes if ax.collections]      # one tick (a LineCollection segment) per spike
    assert len(rasters) == 3 * 3
    with RasterFile(raster) as rf:
        expected = [rf.raster(layer, w) for w in ("early", "w10", "late") for layer in rf.layers]
    for ax, (steps, spikes) in zip(rasters, expected):
        segs = ax.collections[0].get_segments()
        col, row = np.nonzero(spikes)
        assert 0 < len(segs) == spikes.sum() < spikes.size     # spikes and silences, not a blank panel
        np.testing.assert_allclose([sg[0][0] for sg in segs], steps[col] + 0.5)
        np.testing.assert_allclose([sg[0][1] for sg in segs], row + 0.1)
        assert ax.get_ylim() == (spikes.shape[1], 0)
    out_axes = [ax for ax in rasters if ax.get_ylim()[0] == 20]
    assert len(out_axes) == 3 and all(len(ax.patches) > 0 for ax in out_axes)   # label groups marked
    assert [t.get_text() for t in out_axes[0].get_yticklabels()] == ["0", "1"]
    traces = [ax for ax in fig.axes if ax.lines and ax.get_title() in ("PSP V", "modulatory signal φ(U)")]
    assert len(traces) == 6
    for ax in traces:
        y = ax.lines[0].get_ydata()
        assert len(y) in rows.values() and np.ptp(y) > 0


def test_fig4_png(raster, tmp_path):
    fig = plots.fig4(raster)
    assert len(fig.axes) == 4 * 6                    # every window of the file by default
    fig.savefig(tmp_path / "f.png")
    assert_png_has_content(tmp_path / "f.png")


def test_building_blocks_take_an_axes_and_return_it(raster):
    fig = Figure()
    axes = fig.subplots(2, 3).ravel()
    with RasterFile(raster) as rf:
        s, spikes = rf.raster("output", "late")
        img = rf.images("late")
        tr = rf.traces("late")
        assert plots.plot_raster(axes[0], s, spikes, units=rf.units("output"), group=rf.group, labels=img["label"],
                                 image_steps=img["step"], steps_per_image=STEPS) is axes[0]
        assert plots.plot_images(axes[1], img["pixels"], img["step"], STEPS, labels=img["label"]) is axes[1]
        assert plots.plot_trace(axes[2], tr["steps"], tr["V"][:, 0]) is axes[2]
    assert len(axes[0].patches) == 4 and len(axes[1].images) == 4
    np.testing.assert_array_equal(axes[2].lines[0].get_xdata(), s)
    assert plots.plot_raster(axes[3], np.zeros(0, int), np.zeros((0, 5), bool)) is axes[3]   # an empty window
    assert axes[3].texts[0].get_text() == "no recorded steps (yet)"


RESULTS = {"config": {"run": {"train_images": 60000}},
           "heldout": np.array([[10000, 0.3], [20000, 0.2], [30000, 0.15]]),
           "epoch": np.array([[1, 0.12, 0.2, 1.0, 1.0, 0.5], [2, 0.08, 0.1, 1.0, 1.0, 0.5]])}


def test_learning_curve():
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_learning(ax, RESULTS) is ax
    held, ep = ax.lines
    np.testing.assert_array_equal(held.get_xdata(), [10000, 20000, 30000])
    np.testing.assert_allclose(held.get_ydata(), [30, 20, 15])
    np.testing.assert_array_equal(ep.get_xdata(), [60000, 120000])
    np.testing.assert_allclose(ep.get_ydata(), [12, 8])
    assert ax.get_xlabel() == "training images seen" and ax.get_ylabel() == "test error (%)"
    with pytest.raises(plots.SpikefaError, match="no learning curve"):
        plots.plot_learning(ax, {"config": {}})


def test_angle_curves():
    x = np.arange(50)
    data_ = {"fa": (x, 90 - 40 * (1 - np.exp(-x[:, None] / np.array([5, 10, 20]))) ),
             "bp": (x, np.zeros((50, 3))), "kp": (x, np.linspace(60, 5, 50))}
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_angles(ax, data_) is ax
    assert len(ax.lines) == 3 + 3 + 1 + 1            # fa, bp per layer, kp one curve, the 90° line
    colors = {ln.get_label().split(",")[0]: ln.get_color() for ln in ax.lines if ln.get_label()[0] != "_"}
    assert colors["fa"] != colors["bp"] != colors["kp"]
    ax2 = Figure().add_subplot()
    plots.plot_angles(ax2, {k: v for k, v in data_.items() if k != "kp"}, layer=2)
    np.testing.assert_allclose(ax2.lines[0].get_ydata(), data_["fa"][1][:, 2])
    fig = plots.angle_figure({k: v for k, v in data_.items() if k != "kp"})
    assert len(fig.axes) == 3 and all(len(a.lines) == 3 for a in fig.axes)


def test_comparison_bars(tmp_path):
    stats = {"bp": (2.4, 0.1), "fa": (2.1, 0.15), "dfa": (2.6, 0.3)}
    fig = plots.single(plots.plot_comparison, stats)
    ax = fig.axes[0]
    bars = [p for p in ax.patches]
    assert len(bars) == 3
    np.testing.assert_allclose([b.get_height() for b in bars], [2.4, 2.1, 2.6])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["bp", "fa", "dfa"]
    fig.savefig(tmp_path / "bars.png")
    assert_png_has_content(tmp_path / "bars.png", min_kb=5)


def test_nothing_calls_show(raster, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    def no_show(*a, **k):
        raise AssertionError("plt.show() called")

    monkeypatch.setattr(plt, "show", no_show)
    plots.fig4(raster)
    plots.plot_file(raster, "raster", out=tmp_path / "t.png")


# ----- spikefa plot -----
@pytest.mark.parametrize("kind,panels", [("fig4", 6), ("raster", 3), ("traces", 12)])
def test_cli_plot_raster_file(raster, tmp_path, capsys, kind, panels, monkeypatch):
    seen = {}
    real = Figure.savefig

    def spy(self, *a, **k):
        seen["axes"] = len(self.axes)
        return real(self, *a, **k)

    monkeypatch.setattr(Figure, "savefig", spy)
    out = tmp_path / f"{kind}.png"
    rc, stdout, err = run_cli(capsys, "plot", raster, "--kind", kind, "--out", out, "--window", "late")
    assert rc == 0 and err == "" and stdout.strip() == f"wrote {out}"
    assert seen["axes"] == panels
    assert_png_has_content(out)


def test_cli_plot_errors(raster, tmp_path, capsys):
    (tmp_path / "x.txt").write_text("hello")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["format"] = "someone-else"
    cases = [
        ((tmp_path / "x.txt",), "not an HDF5 file, so not a spikefa result or raster file"),
        ((tmp_path / "other.h5",), "not a spikefa result or raster file (format attribute 'someone-else')"),
        ((tmp_path / "none.h5",), "no such file"),
        ((raster, "--kind", "learning"), "--kind learning needs a result file (results.h5)"),
        ((raster, "--window", "nope"), "no window 'nope'"),
        ((raster, "--kind", "raster", "--out", tmp_path / "no" / "dir" / "f.png"), "cannot write the figure"),
    ]
    for argv, needle in cases:
        rc, out, err = run_cli(capsys, "plot", *argv)
        assert rc == 2 and err.count("\n") == 1 and err.startswith("spikefa: error: ") and needle in err, err


def test_run_record_then_plot_end_to_end(tmp_path, capsys):
    # a real run on MNIST with --record, then `spikefa plot` of both of its files
    out = tmp_path / "run"
    rc, stdout, err = run_cli(capsys, "run", "lillicrap2016-spiking", "--record", "--data-dir", mnist_dir(),
                              "--set", "network.sizes=[784,30,30,100]", "--train-images", "60", "--test-images", "20",
                              "--epochs", "1", "--set", "run.eval_every=20", "--set", "record.window_images=5", "--out", out, "--quiet")
    assert rc == 0, err
    with RasterFile(out / "rasters.h5") as rf:
        assert rf.complete and rf.layers == ["hidden1", "hidden2", "output"]
        assert [len(rf.units(k)) for k in rf.layers] == [30, 30, 100]   # small layers are recorded whole
        assert [(w["name"], w["start_step"]) for w in rf.windows] == [("early", 0), ("middle", 135), ("late", 275)]
        assert rf.n_rows == 3 * 5 * 5 and len(rf.images()["step"]) == 15
        assert rf.config["record"]["enabled"] and rf.seeds
    rc, stdout, err = run_cli(capsys, "plot", out / "rasters.h5")
    assert rc == 0 and (out / "rasters-fig4.png").is_file()
    assert_png_has_content(out / "rasters-fig4.png")
    rc, stdout, err = run_cli(capsys, "plot", out / "results.h5", "--out", tmp_path / "learning.png")
    assert rc == 0, err
    assert_png_has_content(tmp_path / "learning.png")


def _texts_fit_and_read(fig):
    """Everything drawn on ``fig`` lies inside the saved figure (its tight bounding box,
    which covers every drawn text: tick labels, titles, annotations), and every text is at
    least 8 pt."""
    import matplotlib.text
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    tight = fig.get_tightbbox(r)                     # inches
    w, h = fig.get_size_inches()
    tol = 1 / fig.dpi
    assert tight.x0 >= -tol and tight.y0 >= -tol and tight.x1 <= w + tol and tight.y1 <= h + tol, \
        f"drawn content {tight} reaches outside the {w}x{h} in figure"
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]
    assert texts
    for t in texts:
        assert t.get_fontsize() >= 8, f"{t.get_text()!r} is {t.get_fontsize()} pt"


@pytest.mark.parametrize("mode", ["fig4", "fig4-one-window", "raster", "traces", "learning"])
def test_every_plot_mode_keeps_its_text_inside_and_readable(raster, tmp_path, mode):
    if mode == "fig4":
        fig = plots.fig4(raster)
    elif mode == "fig4-one-window":
        fig = plots.fig4(raster, windows=["late"])
    elif mode == "raster":
        fig = plots.raster_figure(raster, "late")
    elif mode == "traces":
        fig = plots.traces_figure(raster, "late")
    else:
        fig = plots.single(plots.plot_learning, RESULTS, figsize=(6.5, 4.2))
    _texts_fit_and_read(fig)


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_plot_writes_every_format(capsys, raster, tmp_path, fmt):
    rc = cli.main(["plot", str(raster), "--window", "late", "--format", fmt, "-o", str(tmp_path / f"f.{fmt}")])
    assert rc == 0
    head = (tmp_path / f"f.{fmt}").read_bytes()[:8]
    assert {"png": head.startswith(b"\x89PNG"), "svg": b"<?xml" in head or b"<svg" in head,
            "pdf": head.startswith(b"%PDF")}[fmt]
