"""Fuzzing of everything a user hands to spikefa: configuration files, ``--set`` strings,
parameter values and IDX data files.

The property: any input either works or raises the package's one-line error
(:class:`~spikefa.errors.ConfigError` for configurations, :class:`~spikefa.errors.DataError`
for data files), never another exception. Hypothesis draws the inputs (its database is
off, so a run is reproducible from the printed seed on failure).
"""

import gzip
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikefa import config, data
from spikefa.engine.params import SpikingParams
from spikefa.errors import ConfigError, DataError, SpikefaError
from spikefa.experiments import lillicrap2016_spiking as l16

# the experiment's defaults with a small network, so that a configuration that passes every
# check can be built quickly (sizes are fuzzed too)
DEFAULTS = config.merge(l16.defaults(), {"network": {"sizes": [784, 30, 30, 100]}})
KEYS = {sec: sorted(vals) for sec, vals in DEFAULTS.items()}
# a RuntimeWarning (an overflow while building weights from an accepted value) is a failure
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def one_line(err: Exception) -> None:
    msg = str(err)
    assert isinstance(err, SpikefaError), repr(err)
    assert msg and "\n" not in msg and "Traceback" not in msg, msg


# TOML's value types, near the edges that matter here: huge and negative integers, inf and
# nan, empty and odd strings, nested and mixed arrays, tables.
scalars = st.one_of(
    st.integers(), st.integers(-3, 3000), st.sampled_from([0, -1, 1, 2**31, 2**32, 2**63, 10**400]),
    st.floats(), st.sampled_from([0.0, -0.0, 1.0, 0.9, 1e-3, -1e-3, 1.5, 1e308, math.inf, -math.inf, math.nan]),
    st.booleans(),
    st.text(max_size=12), st.sampled_from(["fa", "bp", "numba", "mnist", "tanh", "int8", "", " ", "\n", "\x00"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=6),
                                                        st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=12)
sizes_like = st.lists(st.one_of(st.integers(-2, 2000), st.sampled_from([784, 1000, 10, 0, True, 1.5])),
                      max_size=6)


@st.composite
def updates(draw):
    """A TOML-ish dict of sections: mostly known sections and keys, sometimes not."""
    out = {}
    for _ in range(draw(st.integers(0, 3))):
        sec = draw(st.one_of(st.sampled_from(sorted(KEYS)), st.text(max_size=8)))
        table = {}
        for _ in range(draw(st.integers(0, 4))):
            key = draw(st.one_of(st.sampled_from(KEYS.get(sec, ["x"])), st.text(max_size=8)))
            table[key] = draw(sizes_like if key == "sizes" else values)
        out[sec] = draw(st.one_of(st.just(table), st.just(table), values))
    return out


def _build_and_validate(cfg_call):
    """Build a configuration and run every check ``spikefa run`` makes before loading data."""
    try:
        cfg = cfg_call()
        l16.validate(cfg)
        check_record = getattr(getattr(l16, "recording", None), "check", None)
        if check_record is not None:      # the [record] section, where there is one
            check_record(cfg)
        l16.build(cfg)                    # the rule's own checks (allocates a network)
    except ConfigError as e:
        one_line(e)


@FUZZ
@given(upd=updates())
def test_merge_then_validate_fuzz(upd):
    _build_and_validate(lambda: config.merge(DEFAULTS, upd, "fuzz.toml"))


def _toml_value(v) -> str:
    """A value as TOML source (where TOML can write it)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + "}"


@FUZZ
@given(key=st.one_of(st.sampled_from([f"{s}.{k}" for s, ks in KEYS.items() for k in ks]),
                     st.sampled_from([k for ks in KEYS.values() for k in ks]), st.text(max_size=12)),
       value=st.one_of(values.map(_toml_value), st.text(max_size=20)),
       sep=st.sampled_from(["=", " = ", "==", ""]))
def test_override_strings_fuzz(key, value, sep):
    _build_and_validate(lambda: config.build(DEFAULTS, overrides=[f"{key}{sep}{value}"]))


@FUZZ
@given(upd=updates())
def test_toml_file_fuzz(tmp_path, upd):
    """The same dicts written as TOML files (where TOML can express them) through config.build."""
    lines = []
    for sec, table in upd.items():
        if not isinstance(table, dict):
            lines.append(f'"{sec}" = {_toml_value(table)}'.replace("\x00", ""))
            continue
        lines.append(f'["{sec}"]'.replace("\n", "").replace("\x00", ""))
        lines += [f'"{k}" = {_toml_value(v)}'.replace("\n", "\\n") for k, v in table.items()]
    f = tmp_path / "fuzz.toml"
    f.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    _build_and_validate(lambda: config.build(DEFAULTS, f))


@FUZZ
@given(blob=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.sampled_from([b"[network]\ntau = ", b"[run]\n" + b"[" * 3000, b"\xef\xbb\xbf[run]\nepochs=2",
                                       b"[network]\nsizes = [784, 10, 10]\n[network]\n", b"a.b.c = 1"])))
def test_raw_config_file_fuzz(tmp_path, blob):
    f = tmp_path / "raw.toml"
    f.write_bytes(blob)
    _build_and_validate(lambda: config.build(DEFAULTS, f))


field_values = st.one_of(scalars, sizes_like, st.none(), st.just((784, 10)), st.lists(st.text(max_size=3), max_size=3))


@FUZZ
@given(kw=st.dictionaries(st.sampled_from(sorted(KEYS["network"])), field_values, max_size=5))
def test_spiking_params_fuzz(kw):
    """SpikingParams built directly (the Python API) with values of any type."""
    try:
        p = SpikingParams(**kw)
    except ConfigError as e:
        one_line(e)
    else:
        assert all(isinstance(n, int) and n > 0 for n in p.sizes)
        assert 0 < p.tau <= 1 and math.isfinite(p.eta) and p.eta >= 0


def test_accepted_values_are_usable():
    """What passes validation is in range: a sample of accepted overrides builds a network."""
    cfg = config.build(DEFAULTS, overrides=["network.sizes=[784, 20, 10]", "network.tau=1", "network.eta=0",
                                            "run.spike_seed=4294967295", "run.seed=0", "network.phi=sigmoid"])
    p = l16.validate(cfg)
    net, _ = l16.build(cfg)
    assert net.seed_spikes == 2**32 - 1 and p.tau == 1.0


# ----- IDX files -----

_TYPES = [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]


@st.composite
def idx_files(draw):
    """IDX files near the valid ones: right or wrong magic, sizes that fit or not."""
    code = draw(st.one_of(st.sampled_from(_TYPES), st.integers(0, 255)))
    ndim = draw(st.one_of(st.integers(0, 4), st.integers(0, 255)))
    dims = draw(st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1)), min_size=ndim, max_size=ndim))
    head = bytes([draw(st.sampled_from([0, 0, 0, 1])), 0, code, ndim]) + b"".join(struct.pack(">I", d) for d in dims)
    itemsize = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(code, 1)
    n = math.prod(dims) * itemsize
    body = bytes(n) if n <= 4096 and draw(st.booleans()) else draw(st.binary(max_size=64))
    return head + body[:len(body) - draw(st.integers(0, 3))]


@FUZZ
@given(blob=st.one_of(idx_files(), st.binary(max_size=300)),
       wrap=st.sampled_from(["raw", "gz", "gz-cut", "gz-trailing", "gz-flip"]), k=st.integers(0, 10**6))
def test_read_idx_never_crashes(tmp_path, blob, wrap, k):
    if wrap != "raw":
        z = bytearray(gzip.compress(blob))
        if wrap == "gz-cut":
            z = z[:k % len(z)]
        elif wrap == "gz-trailing":
            z += b"\x00garbage"
        elif wrap == "gz-flip":
            z[k % len(z)] ^= 1 << (k % 8)
        blob = bytes(z)
    p = tmp_path / "fuzz-idx"
    p.write_bytes(blob)
    try:
        arr = data.read_idx(p)
    except DataError as e:
        one_line(e)
        assert "fuzz-idx" in str(e)
    else:
        assert isinstance(arr, np.ndarray) and arr.dtype.isnative


def test_deeply_nested_toml_is_one_line(tmp_path):
    """tomllib recurses into nested arrays: 1000 levels raise RecursionError inside it."""
    f = tmp_path / "deep.toml"
    f.write_text("[network]\nsizes = " + "[" * 100000)
    try:
        config.build(DEFAULTS, f)
    except ConfigError as e:
        one_line(e)
        assert "nested too deeply" in str(e)
    for text in ("[" * 100000, "[" * 5000 + "]" * 5000):
        try:
            config.build(DEFAULTS, overrides=[f"network.sizes={text}"])
        except ConfigError as e:
            one_line(e)
            assert "network.sizes" in str(e)
