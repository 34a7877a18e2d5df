"""Spike rasters and traces: selection, HDF5 round trips, both backends, killed writers, NWB.

Small networks (30-40-30-20, 2 classes) and short runs; every random draw is seeded.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from spikefa import cli, config, recording
from spikefa.engine.network import SpikingNetwork
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError, SpikefaError
from spikefa.recording import RasterFile, RasterWriter, Window, open_recorder, plan_windows, select

SIZES = (30, 40, 30, 20)
STEPS = 5
N_IMG = 40
PAPER = (784, 1500, 1500, 1500, 1000)
REC_DEFAULTS = config.load_toml(config.MODELS_DIR / "lillicrap2016.toml")["record"]


def rec_cfg(**kw):
    return dict(REC_DEFAULTS, enabled=True, **kw)


def make_net(seed=3):
    p = SpikingParams(sizes=SIZES, n_classes=2, eta=0.05, steps_per_image=STEPS)
    return SpikingNetwork(p, "fa", seed=seed)


def make_data(n=N_IMG, seed=1):
    rng = np.random.default_rng(seed)
    # pixels on the 1/255 grid, as MNIST's are, so the stored uint8 images are exact
    X = (rng.integers(0, 256, (n, SIZES[0])) / 255).astype(np.float32)
    return X, rng.integers(0, 2, n)


# the windows cut across the chunks of 7 images below, and two of them touch
WINDOWS = [Window("early", 0, 4), Window("w10", 10, 16), Window("w16", 16, 19), Window("late", 36, 40)]


def record(path, backend="numba", net=None, chunk=7, windows=WINDOWS, sel=None, **writer_kw):
    """Train on the test images in chunks while recording; return (net, copies of the captures)."""
    net = net or make_net()
    X, y = make_data()
    sel = sel or select(rec_cfg(hidden_units=12, traces=2), net.sizes, 0)
    sim = Simulator(net, backend)
    caps = []
    with RasterWriter(path, net, sel, windows, {"experiment": "test", "config": {"a": 1}, "seeds": {"s": 2}},
                      **writer_kw) as w:
        for start in range(0, N_IMG, chunk):
            sl = slice(start, start + chunk)
            cap = w.capture(net.t, start, X[sl], y[sl], np.arange(start, start + chunk) + 1000)
            sim.train(X[sl], y[sl], capture=cap)
            if cap is not None:
                w.write(cap)
                caps.append(cap)
    return net, caps


# ----- what is recorded -----
def test_default_selection_is_the_papers():
    sel = select(rec_cfg(), PAPER, seed=0)
    assert sel.layers == (1, 2, 3, 4) and sel.names == ("hidden1", "hidden2", "hidden3", "output")
    assert [len(u) for u in sel.units] == [50, 50, 50, 1000]
    for l, u in zip(sel.layers, sel.units):
        assert np.all(np.diff(u) > 0) and 0 <= u[0] and u[-1] < PAPER[l]
    assert len(sel.traces) == 8                       # 2 per recorded layer
    for l, j in sel.traces:
        assert j in sel.units[sel.layers.index(l)]
    assert select(rec_cfg(), PAPER, seed=0).same_as(sel)
    assert not select(rec_cfg(), PAPER, seed=1).same_as(sel)
    flat = sel.flat_units(np.cumsum((0,) + PAPER))
    assert flat.size == 1150 and flat[0] >= 784


def test_explicit_units_layers_and_traces():
    sel = select(rec_cfg(layers=["hidden2", 0], units=["1:3", "1:7-9", "output:0-4"], trace_units=["3:19", "1:0"],
                         hidden_units=5), SIZES, seed=0)
    assert sel.layers == (0, 1, 2, 3)
    np.testing.assert_array_equal(sel.units[1], [3, 7, 8, 9])
    np.testing.assert_array_equal(sel.units[3], [0, 1, 2, 3, 4])
    assert len(sel.units[0]) == len(sel.units[2]) == 5
    np.testing.assert_array_equal(sel.traces, [[1, 0], [3, 19]])
    # a layer smaller than asked for is recorded whole
    assert len(select(rec_cfg(hidden_units=1000), SIZES, 0).units[0]) == 40


def test_windows_of_the_paper_run():
    w = plan_windows([], 20, 60000)
    assert [(x.name, x.start_image, x.stop_image) for x in w] == [
        ("early", 0, 20), ("middle", 29990, 30010), ("late", 59980, 60000)]
    w = plan_windows(["late", "30000", 12], 20, 60000)
    assert [(x.name, x.start_image) for x in w] == [("late", 59980), ("at30000", 30000), ("at12", 12)]
    w = plan_windows([], 20, 30)                # a short run: windows overlap, clipped to the run
    assert [(x.start_image, x.stop_image) for x in w] == [(0, 20), (5, 25), (10, 30)]


@pytest.mark.parametrize("kw,needle", [
    ({"layers": [7]}, "record.layers: layer 7 does not exist; this network has layers 0..3"),
    ({"layers": ["hiden1"]}, "layer 'hiden1' does not exist"),
    ({"layers": [1.0]}, "layer 1.0 does not exist"),
    ({"units": ["1:40"]}, "record.units: unit 40 of layer hidden1 does not exist (it has units 0..39)"),
    ({"units": ["9:0"]}, "record.units: layer '9' does not exist"),
    ({"units": ["17"]}, "is not LAYER:UNIT"),
    ({"units": ["1:a"]}, "unit must be a whole number"),
    ({"units": ["1:5-2"]}, "empty range"),
    ({"trace_units": ["0:1"]}, "record.trace_units: input units have no potential"),
    ({"trace_units": ["output:20"]}, "unit 20 of layer output does not exist"),
    ({"windows": ["erly"]}, "record.windows: unknown window 'erly'"),
    ({"windows": ["999"]}, "window at image 999 is outside the run (images 0..39)"),
    ({"windows": ["late", "late"]}, "given twice"),
    ({"window_images": 0}, "record.window_images: must be >= 1"),
    ({"hidden_units": 0}, "record.hidden_units: must be >= 1, or -1"),
    ({"traces": -1}, "record.traces: must be >= 0"),
    ({"file": "../x.h5"}, "record.file: must be a plain file name"),
])
def test_bad_record_config_names_the_problem(kw, needle):
    cfg = {"record": rec_cfg(**kw), "network": {"sizes": list(SIZES)},
           "run": {"seed": 0, "epochs": 1, "train_images": N_IMG}}
    with pytest.raises(ConfigError) as e:
        recording.check(cfg)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_cli_bad_record_layer_is_one_line_before_any_data(capsys):
    # the data folder does not exist: the record section is checked before data are looked for
    rc = cli.main(["run", "lillicrap2016-spiking", "--record", "--set", "record.layers=[9]",
                   "--data-dir", "/nonexistent", "--out", "/nonexistent/out"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith("spikefa: error: record.layers: layer 9 does not exist")


# ----- the engine fills the buffers -----
def test_write_read_round_trip(tmp_path):
    path = tmp_path / "r.h5"
    net, caps = record(path)
    sel = select(rec_cfg(hidden_units=12, traces=2), net.sizes, 0)
    X, y = make_data()
    spikes = np.concatenate([c.spikes for c in caps])
    steps = np.concatenate([c.step for c in caps])
    recorded_images = [i for i in range(N_IMG) if any(w.start_image <= i < w.stop_image for w in WINDOWS)]
    assert len(steps) == len(recorded_images) * STEPS == 85
    with RasterFile(path) as rf:
        assert rf.complete and rf.n_rows == 85 and rf.layers == ["hidden1", "hidden2", "output"]
        np.testing.assert_array_equal(rf.steps(), steps)
        np.testing.assert_array_equal(rf.steps(), [i * STEPS + k for i in recorded_images for k in range(STEPS)])
        col = 0
        for name, units in zip(sel.names, sel.units):
            np.testing.assert_array_equal(rf.units(name), units)
            s, r = rf.raster(name)
            np.testing.assert_array_equal(r, spikes[:, col:col + len(units)].astype(bool))
            col += len(units)
            times = rf.spike_times(name)
            assert len(times) == len(units)
            for q, t in enumerate(times):
                np.testing.assert_array_equal(t, s[r[:, q]])
        assert 0.2 < spikes.mean() < 0.8                      # a live network, not silence
        tr = rf.traces()
        np.testing.assert_array_equal(tr["V"], np.concatenate([c.V for c in caps]))
        np.testing.assert_array_equal(tr["phi"], np.concatenate([c.phi for c in caps]))
        np.testing.assert_array_equal(tr["units"], sel.traces)
        assert np.abs(tr["phi"]).max() > 0 and np.abs(tr["V"]).max() > 0
        # windows select their rows; "w10" and "w16" touch, "early" is one image of 5 steps each
        for w in WINDOWS:
            s, r = rf.raster("output", w.name)
            np.testing.assert_array_equal(s, np.arange(w.start_image * STEPS, w.stop_image * STEPS))
        img = rf.images("w10")
        np.testing.assert_array_equal(img["index"], np.arange(10, 16) + 1000)
        np.testing.assert_array_equal(img["label"], y[10:16])
        np.testing.assert_array_equal(img["step"], np.arange(10, 16) * STEPS)
        np.testing.assert_array_equal(img["pixels"].reshape(6, -1), X[10:16])
        assert rf.config == {"a": 1} and rf.seeds == {"s": 2}


def test_recorded_state_matches_the_network(tmp_path):
    # the last recorded step is the network's last step: its spikes, V and phi(U) are what
    # the network holds at the end
    net, caps = record(tmp_path / "r.h5", windows=[Window("late", 36, 40)])
    cap = caps[-1]
    assert cap.step[-1] == net.t - 1
    cur = (net.t - 1) & 1
    np.testing.assert_array_equal(cap.spikes[-1], net.spikes[cur][cap.units])
    np.testing.assert_array_equal(cap.V[-1], net.V[cap.trace_units].astype(np.float32))
    np.testing.assert_array_equal(cap.phi[-1], net.phi[cur][cap.trace_units].astype(np.float32))


def test_numba_and_numpy_record_the_same(tmp_path):
    record(tmp_path / "a.h5", "numba")
    record(tmp_path / "b.h5", "numpy")
    with RasterFile(tmp_path / "a.h5") as a, RasterFile(tmp_path / "b.h5") as b:
        assert a.n_rows == b.n_rows == 85
        for name in a.layers:
            np.testing.assert_array_equal(a.raster(name)[1], b.raster(name)[1])
        # continuous state differs only by rounding (see tests/test_engine_twin.py)
        np.testing.assert_allclose(a.traces()["V"], b.traces()["V"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(a.traces()["phi"], b.traces()["phi"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_recording_does_not_change_training(tmp_path, backend):
    net_a = make_net()
    net_b = net_a.copy()
    record(tmp_path / "r.h5", backend, net=net_a)
    X, y = make_data()
    sim = Simulator(net_b, backend)
    for start in range(0, N_IMG, 7):
        sim.train(X[start:start + 7], y[start:start + 7])
    assert net_a.t == net_b.t == N_IMG * STEPS
    for k in ("W", "b", "c", "B", "V", "U", "sig", "phi", "spikes", "pend_spk", "pend_kg"):
        np.testing.assert_array_equal(getattr(net_a, k), getattr(net_b, k), err_msg=k)


# ----- the file -----
def test_file_layout(tmp_path):
    path = tmp_path / "r.h5"
    record(path)
    with h5py.File(path, "r") as f:
        a = f.attrs
        assert a["format"] == "spikefa-raster" and a["format_version"] == 1 and a["complete"]
        assert json.loads(a["config"]) == {"a": 1} and json.loads(a["seeds"]) == {"s": 2}
        assert a["version"] and list(a["sizes"]) == list(SIZES) and a["steps_per_image"] == STEPS
        assert a["group"] == 10 and a["n_classes"] == 2
        assert f["steps"].dtype == np.int64 and f["steps"].compression == "gzip"
        for name, width in (("hidden1", 2), ("hidden2", 2), ("output", 3)):   # 12, 12, 20 units -> bytes
            d = f[f"layers/{name}/spikes"]
            assert d.dtype == np.uint8 and d.shape == (85, width) and d.compression == "gzip"
            assert d.chunks == (6 * STEPS, width)      # one chunk = the longest window
            assert d.maxshape == (None, width)
            assert f[f"layers/{name}"].attrs["bitorder"] == "little"
        assert f["traces/V"].dtype == np.float32 and f["traces/V"].shape == (85, 6)
        assert list(f["windows/name"].asstr()[()]) == ["early", "w10", "w16", "late"]
        np.testing.assert_array_equal(f["windows/start_step"][()], [0, 50, 80, 180])
        assert f["images/pixels"].dtype == np.uint8 and f["images/pixels"].shape == (17, SIZES[0])


def test_rows_are_buffered_until_a_chunk_or_window_is_complete(tmp_path):
    # chunk_rows = 10 steps (2 images), a window of 13 images taken in chunks of 3 images:
    # whole chunks go to the file as they fill, the rest waits; the window's end writes all
    net = make_net()
    X, y = make_data()
    sel = select(rec_cfg(hidden_units=4, traces=1), net.sizes, 0)
    sim = Simulator(net)
    w = RasterWriter(tmp_path / "r.h5", net, sel, [Window("a", 0, 13)], {}, chunk_rows=10)
    seen = []
    for start in range(0, 15, 3):
        cap = w.capture(net.t, start, X[start:start + 3], y[start:start + 3])
        sim.train(X[start:start + 3], y[start:start + 3], capture=cap)
        w.write(cap)
        seen.append((w.rows, w.pending_rows))
    assert seen == [(10, 5), (30, 0), (40, 5), (60, 0), (65, 0)]
    w.close()


def test_file_of_a_killed_run_reads_up_to_its_last_chunk(tmp_path):
    # a writer in another process appends one chunk (2 images = 10 rows) per line it
    # prints; it is read while it writes, then killed with SIGKILL in the middle of its run
    path = tmp_path / "r.h5"
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from spikefa.engine.network import SpikingNetwork
        from spikefa.engine.params import SpikingParams
        from spikefa.recording import RasterWriter, Window, select
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_recording import rec_cfg, synthetic_fill
        net = SpikingNetwork(SpikingParams(sizes={SIZES}, n_classes=2, steps_per_image={STEPS}), "fa", seed=0)
        sel = select(rec_cfg(hidden_units=12), net.sizes, 0)
        w = RasterWriter({str(path)!r}, net, sel, [Window("all", 0, 10**6)], {{}}, chunk_rows=10)
        for i in range(10**6):
            cap = w.capture(10 * i, 2 * i, np.zeros((2, {SIZES[0]})), np.array([i % 2, 1]))
            synthetic_fill(cap, i)
            w.write(cap)
            print(w.rows, flush=True)
            time.sleep(0.02)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        rows = [int(proc.stdout.readline()) for _ in range(3)]
        assert rows == [10, 20, 30], proc.stderr.read() if proc.poll() is not None else rows
        with RasterFile(path) as rf:                      # live: the writer is still going
            assert not rf.complete and rf.n_rows >= 30
            seen = rf.n_rows
            for _ in range(3):
                proc.stdout.readline()
            rf.refresh()
            assert rf.n_rows >= seen + 30
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with RasterFile(path) as rf:
        n = rf.n_rows
        assert not rf.complete and n >= 60 and n % 10 == 0
        assert rf.n_images == n // STEPS
        expected = [synthetic_rows(i) for i in range(n // 10)]
        np.testing.assert_array_equal(rf.steps(), np.arange(n))
        np.testing.assert_array_equal(rf.raster("hidden1")[1], np.concatenate([e[:, :12] for e in expected]))
        np.testing.assert_array_equal(rf.raster("output")[1], np.concatenate([e[:, 24:] for e in expected]))
        np.testing.assert_array_equal(rf.images()["label"][1::2], np.ones(n // 10))


def synthetic_rows(i, width=44):
    return np.random.default_rng(i).random((10, width)) < 0.3


def synthetic_fill(cap, i):
    cap.spikes[:] = synthetic_rows(i, cap.spikes.shape[1])
    cap.V[:] = i


def test_resume_keeps_the_rows_before_the_checkpoint(tmp_path):
    net, _ = record(tmp_path / "rasters.h5", windows=[Window("early", 0, 4), Window("late", 36, 40)])
    # resume from a checkpoint at image 38 (step 190), with a longer run planned
    net.t = 190
    cfg = {"record": rec_cfg(hidden_units=12, traces=2, window_images=4), "run": {"seed": 0, "dataset": "x"}}
    w = open_recorder(cfg, net, tmp_path, "test", {}, total_images=80, images_done=38, resume=True)
    w.close()
    with RasterFile(tmp_path / "rasters.h5") as rf:
        np.testing.assert_array_equal(rf.steps(), np.concatenate([np.arange(0, 20), np.arange(180, 190)]))
        assert [(x["name"], x["start_image"]) for x in rf.windows] == [
            ("early", 0), ("late@36", 36), ("middle", 38), ("late", 76)]
    # a different selection cannot continue the old file: it starts afresh
    cfg["record"]["hidden_units"] = 5
    open_recorder(cfg, net, tmp_path, "test", {}, total_images=80, images_done=38, resume=True).close()
    with RasterFile(tmp_path / "rasters.h5") as rf:
        assert rf.n_rows == 0 and len(rf.units("hidden1")) == 5


def test_recorder_is_off_by_default(tmp_path):
    cfg = {"record": dict(REC_DEFAULTS), "run": {"seed": 0}}
    assert open_recorder(cfg, make_net(), tmp_path, "x", {}, total_images=10) is None
    assert not list(tmp_path.iterdir())


def test_reader_rejects_other_files(tmp_path):
    with h5py.File(tmp_path / "results.h5", "w") as f:
        f.attrs["format"] = "spikefa-results"
    with pytest.raises(SpikefaError, match="not a spikefa raster file"):
        RasterFile(tmp_path / "results.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(SpikefaError, match="not a readable HDF5 file"):
        RasterFile(tmp_path / "junk.h5")
    with pytest.raises(SpikefaError, match="no such file"):
        RasterFile(tmp_path / "missing.h5")
    record(tmp_path / "r.h5")
    with RasterFile(tmp_path / "r.h5") as rf:
        with pytest.raises(SpikefaError, match="layer 'hidden3' was not recorded"):
            rf.raster("hidden3")
        with pytest.raises(SpikefaError, match="no window 'middle'"):
            rf.raster("output", "middle")


# ----- NWB -----
def test_nwb_export(tmp_path):
    pytest.importorskip("pynwb")
    from pynwb import NWBHDF5IO

    record(tmp_path / "r.h5")
    out = tmp_path / "r.nwb"      # through the command line, as users export
    assert cli.main(["export", "nwb", str(tmp_path / "r.h5"), str(out), "--step-seconds", "0.002"]) == 0
    with RasterFile(tmp_path / "r.h5") as rf, NWBHDF5IO(str(out), "r") as io:
        nwb = io.read()
        units = nwb.units.to_dataframe()
        assert len(units) == 12 + 12 + 20
        k = 0
        for name in rf.layers:
            for j, times in zip(rf.units(name), rf.spike_times(name)):
                row = units.iloc[k]
                assert row["layer_name"] == name and row["unit_index"] == j
                np.testing.assert_allclose(row["spike_times"], times * 0.002)
                k += 1
        n_spikes = sum(len(t) for n in rf.layers for t in rf.spike_times(n))
        assert len(nwb.epochs) == 4 and len(nwb.trials) == 17
        np.testing.assert_allclose(nwb.processing["traces"]["V"].data[()], rf.traces()["V"])
    with h5py.File(out, "r") as f:      # the ragged column: flat spike_times + spike_times_index
        assert f["units/spike_times"].shape == (n_spikes,) and f["units/spike_times_index"].shape == (44,)
        assert f["units/spike_times_index"][-1] == n_spikes


def test_nwb_missing_is_one_clear_line(tmp_path, monkeypatch):
    record(tmp_path / "r.h5")
    monkeypatch.setitem(sys.modules, "pynwb", None)       # import pynwb -> ImportError
    with pytest.raises(SpikefaError) as e:
        recording.export_nwb(tmp_path / "r.h5", tmp_path / "r.nwb")
    assert str(e.value) == "NWB export needs pynwb: pip install 'spikefa[nwb]' (or pip install pynwb)"
