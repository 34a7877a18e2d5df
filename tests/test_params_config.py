"""Tests of parameter validation, configuration files and overrides, the rule registry and
the feedback matrices a network builds from its rule."""

import numpy as np
import pytest

from spikefa import config
from spikefa.engine.network import SpikingNetwork, derive_spike_seed
from spikefa.engine.params import SpikingParams
from spikefa.engine.simulator import Simulator
from spikefa.errors import ConfigError
from spikefa.experiments import lillicrap2016_spiking as l16
from spikefa.rules import get_rule, rule_names

SMALL = dict(sizes=(20, 16, 12, 8), n_classes=2)


# ----- SpikingParams -----

@pytest.mark.parametrize("kw,field", [
    ({"tau": 0.0}, "tau"),
    ({"tau": 1.5}, "tau"),
    ({"tau": -0.1}, "tau"),
    ({"tau": float("nan")}, "tau"),
    ({"eta": -1.0}, "eta"),
    ({"eta": float("nan")}, "eta"),
    ({"gamma": -1e-3}, "gamma"),
    ({"gamma": 1.0}, "gamma"),
    ({"w_init": -0.1}, "w_init"),
    ({"b_init": -0.1}, "b_init"),
    ({"feedback_gain": -1.0}, "feedback_gain"),
    ({"sizes": (784, 0, 10)}, "sizes"),
    ({"sizes": (784, 500, 0)}, "sizes"),
    ({"sizes": (784, -3, 10)}, "sizes"),
    ({"sizes": (784,)}, "sizes"),
    ({"sizes": (784, 2.5, 10)}, "sizes"),
    ({"sizes": (784, 500, 1001)}, "sizes"),        # 1001 output units do not split into 10 groups
    ({"sizes": (784, 500, 15), "n_classes": 10}, "n_classes"),
    ({"n_classes": 0}, "n_classes"),
    ({"steps_per_image": 0}, "steps_per_image"),
    ({"test_steps": 0}, "test_steps"),
    ({"steps_per_image": 2.0}, "steps_per_image"),
    ({"input_max": 0.0}, "input_max"),
    ({"input_max": 1.5}, "input_max"),
    ({"phi": "relu"}, "phi"),
    ({"feedback_dtype": "int4"}, "feedback_dtype"),
])
def test_params_reject_bad_values(kw, field):
    with pytest.raises(ConfigError) as ei:
        SpikingParams(**kw)
    msg = str(ei.value)
    assert field in msg, msg
    assert "\n" not in msg


def test_params_messages_name_choices():
    with pytest.raises(ConfigError, match=r"phi: unknown 'relu'.*sigmoid.*tanh"):
        SpikingParams(phi="relu")
    with pytest.raises(ConfigError, match=r"feedback_dtype: unknown 'int4'.*float32.*int8"):
        SpikingParams(feedback_dtype="int4")
    with pytest.raises(ConfigError, match=r"^tau: must lie in \(0, 1\], got 0"):
        SpikingParams(tau=0.0)


def test_params_accept_edges_and_derived_values():
    p = SpikingParams(tau=1.0, eta=0.0, gamma=0.0, input_max=1.0, sizes=[784, 10, 30], n_classes=3)
    assert p.sizes == (784, 10, 30) and isinstance(p.sizes, tuple)
    assert p.n_layers == 2 and p.group == 10
    d = p.to_dict()
    assert d["sizes"] == [784, 10, 30] and SpikingParams(**d) == p


def test_paper_preset_gives_the_param_defaults():
    # the dataclass defaults are the network of [L16]; the model file is the recipe, and
    # the "paper" preset takes it back to the paper's parameters and a constant rate
    paper = config.build(l16.defaults(), preset=config.preset_path(l16, "paper"))
    assert SpikingParams(**paper["network"]) == SpikingParams()
    assert SpikingParams(**paper["network"]).to_dict() == paper["network"]
    assert paper["run"]["eta_schedule"] == [] and paper["network"]["eta"] == 1e-3
    recipe = l16.defaults()
    assert recipe["network"]["eta"] == 1e-2 and recipe["network"]["feedback_dtype"] == "auto"
    assert recipe["run"]["epochs"] == 30 and recipe["run"]["threads"] == 0


def test_unknown_preset_is_one_line():
    with pytest.raises(ConfigError, match=r"^--preset: experiment lillicrap2016-spiking has no preset 'papr'; "
                                          r"choose one of paper$"):
        config.preset_path(l16, "papr")


# ----- config.build -----

@pytest.fixture
def defaults():
    return l16.defaults()


def test_build_defaults_roundtrip(defaults):
    cfg = config.build(defaults)
    assert cfg == defaults and cfg is not defaults
    cfg["network"]["eta"] = 5.0
    assert defaults["network"]["eta"] == 1e-2        # build copies, never aliases


def test_unknown_key_did_you_mean(defaults):
    with pytest.raises(ConfigError, match=r"unknown field network\.eat \(did you mean 'eta'\?\)"):
        config.build(defaults, overrides=["network.eat=1e-3"])


def test_unknown_bare_key_did_you_mean(defaults):
    with pytest.raises(ConfigError, match=r"did you mean '(network\.)?eta'"):
        config.build(defaults, overrides=["eat=1e-3"])


def test_unknown_bare_key_is_rejected(defaults):
    with pytest.raises(ConfigError, match=r"--set eat: unknown field"):
        config.build(defaults, overrides=["eat=1e-3"])


def test_unknown_section(defaults):
    with pytest.raises(ConfigError, match=r"unknown section \[netwrk\] \(did you mean 'network'\?\)"):
        config.build(defaults, overrides=["netwrk.eta=1e-3"])


def test_file_unknown_key_and_section(defaults, tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[network]\neat = 0.01\n")
    with pytest.raises(ConfigError, match=r"c\.toml: unknown field network\.eat \(did you mean 'eta'\?\)"):
        config.build(defaults, f)
    f.write_text("[runn]\nepochs = 2\n")
    with pytest.raises(ConfigError, match=r"unknown section \[runn\] \(did you mean 'run'\?\)"):
        config.build(defaults, f)
    f.write_text("[network\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.build(defaults, f)
    with pytest.raises(ConfigError, match="config file not found"):
        config.build(defaults, tmp_path / "absent.toml")


def test_file_then_overrides(defaults, tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[network]\neta = 0.01\ntau = 0.5\n[run]\nepochs = 4\n")
    cfg = config.build(defaults, f, ["network.tau=0.25"])
    assert cfg["network"]["eta"] == 0.01
    assert cfg["network"]["tau"] == 0.25               # --set wins over the file
    assert cfg["run"]["epochs"] == 4
    assert cfg["network"]["gamma"] == defaults["network"]["gamma"]


@pytest.mark.parametrize("item,field", [
    ("network.tau=\"fast\"", "network.tau"),
    ("network.n_classes=2.5", "network.n_classes"),
    ("network.delay=1", "network.delay"),
    ("network.sizes=784", "network.sizes"),
    ("network.sizes=[784, 1.5, 10]", "network.sizes"),
    ("run.epochs=true", "run.epochs"),
    ("run.rule=3", "run.rule"),
    ("network.eta=true", "network.eta"),
])
def test_wrong_types(defaults, item, field):
    with pytest.raises(ConfigError, match=rf"^{field}: expected"):
        config.build(defaults, overrides=[item])


def test_types_coerced_where_safe(defaults):
    cfg = config.build(defaults, overrides=["network.eta=1", "network.delay=true", "network.sizes=[784, 50, 10]"])
    assert cfg["network"]["eta"] == 1.0 and isinstance(cfg["network"]["eta"], float)
    assert cfg["network"]["delay"] is True
    assert cfg["network"]["sizes"] == [784, 50, 10]


def test_bare_keys_resolve_to_their_section(defaults):
    cfg = config.build(defaults, overrides=["eta=2e-3", "epochs=3", "rule=bp", "phi=sigmoid"])
    assert cfg["network"]["eta"] == 2e-3
    assert cfg["run"]["epochs"] == 3
    assert cfg["run"]["rule"] == "bp"                  # a bare word is a string
    assert cfg["network"]["phi"] == "sigmoid"
    assert "eta" not in cfg["run"] and "epochs" not in cfg["network"]


def test_ambiguous_bare_key():
    d = {"a": {"x": 1}, "b": {"x": 2}}
    with pytest.raises(ConfigError, match="ambiguous"):
        config.build(d, overrides=["x=3"])
    assert config.build(d, overrides=["b.x=3"])["b"]["x"] == 3


@pytest.mark.parametrize("item", ["eta", "=3", "network.eta"])
def test_malformed_override(defaults, item):
    with pytest.raises(ConfigError, match="expected key=value"):
        config.build(defaults, overrides=[item])


# ----- rules -----

def test_rule_registry():
    assert {"fa", "bp", "dfa"} <= set(rule_names())
    assert rule_names() == sorted(rule_names())
    for name in ("fa", "bp", "dfa"):
        r = get_rule(name)
        assert r.name == name and r.description
    with pytest.raises(ConfigError) as ei:
        get_rule("nope")
    msg = str(ei.value)
    assert "nope" in msg
    for name in ("fa", "bp", "dfa"):
        assert name in msg


def test_network_rejects_unknown_rule_and_bad_seeds():
    p = SpikingParams(**SMALL)
    with pytest.raises(ConfigError, match="known rules"):
        SpikingNetwork(p, "nope")
    with pytest.raises(ConfigError, match="seed"):
        SpikingNetwork(p, "fa", seed=-1)
    with pytest.raises(ConfigError, match="spike_seed"):
        SpikingNetwork(p, "fa", seed=0, spike_seed=2**32)
    net = SpikingNetwork(p, "fa", seed=5)
    assert net.seed_spikes == derive_spike_seed(5) != 5


# ----- feedback matrices -----

def test_bp_feedback_is_transposed_forward_weights():
    p = SpikingParams(**SMALL, feedback_gain=1.0)
    net = SpikingNetwork(p, "bp", seed=1)
    net.c[:] = [1.0, 0.9, 0.8, 0.7]                    # decay scale must be applied
    for l in range(1, p.n_layers):
        B = net.feedback_matrix(l)
        assert B.shape == (p.sizes[l], p.sizes[l + 1])
        np.testing.assert_array_equal(B, net.c[l + 1] * net.W_layer(l + 1).astype(np.float64))
    # it follows W as W learns
    X = np.random.default_rng(0).random((10, 20)).astype(np.float32)
    Simulator(net).train(X, np.arange(10) % 2)
    assert net.npend > 0                               # pending plasticity is included
    settled = net.settled()
    for l in range(1, p.n_layers):
        np.testing.assert_array_equal(net.feedback_matrix(l),
                                      settled.c[l + 1] * settled.W_layer(l + 1).astype(np.float64))
        assert not np.array_equal(net.feedback_matrix(l), net.c[l + 1] * net.W_layer(l + 1).astype(np.float64))


def test_bp_feedback_gain_scales():
    p = SpikingParams(**SMALL, feedback_gain=2.5)
    net = SpikingNetwork(p, "bp", seed=1)
    np.testing.assert_allclose(net.feedback_matrix(1), 2.5 * net.W_layer(2), rtol=1e-7)


@pytest.mark.parametrize("rule", ["fa", "dfa"])
def test_random_feedback_is_fixed(rule):
    p = SpikingParams(**SMALL, eta=0.05)
    net = SpikingNetwork(p, rule, seed=2)
    before = [net.feedback_matrix(l).copy() for l in range(1, p.n_layers)]
    W0 = net.W.copy()
    X = np.random.default_rng(0).random((20, 20)).astype(np.float32)
    Simulator(net).train(X, np.arange(20) % 2)
    assert np.abs(net.W - W0).max() > 1e-3               # W learned ...
    for l, B0 in enumerate(before, start=1):
        np.testing.assert_array_equal(net.feedback_matrix(l), B0)   # ... B did not
        src = l + 1 if rule == "fa" else p.n_layers
        assert B0.shape == (p.sizes[l], p.sizes[src])
        assert np.abs(B0).max() <= p.b_init and np.abs(B0).max() > 0.5 * p.b_init


def test_feedback_depends_on_seed():
    p = SpikingParams(**SMALL)
    a, b, a2 = (SpikingNetwork(p, "fa", seed=s) for s in (1, 2, 1))
    assert not np.array_equal(a.feedback_matrix(1), b.feedback_matrix(1))
    np.testing.assert_array_equal(a.feedback_matrix(1), a2.feedback_matrix(1))
    np.testing.assert_array_equal(a.W, a2.W)


@pytest.mark.parametrize("rule", ["fa", "dfa"])
def test_int8_feedback_within_one_quantisation_step(rule):
    p32 = SpikingParams(sizes=(30, 60, 50, 40), n_classes=4, b_init=0.1)
    p8 = SpikingParams(sizes=(30, 60, 50, 40), n_classes=4, b_init=0.1, feedback_dtype="int8")
    n32, n8 = SpikingNetwork(p32, rule, seed=4), SpikingNetwork(p8, rule, seed=4)
    assert n8.B.dtype == np.int8 and n32.B.dtype == np.float32
    np.testing.assert_array_equal(n8.W, n32.W)             # same seed, same forward weights
    step = p8.b_init / 127
    for l in range(1, p8.n_layers):
        B8, B32 = n8.feedback_matrix(l), n32.feedback_matrix(l)
        assert B8.shape == B32.shape
        err = np.abs(B8 - B32).max()
        assert err <= step, (err, step)
        # rounding to the nearest level: in fact within half a step (plus float32 slack)
        assert err <= 0.5 * step * (1 + 1e-5)
        assert err > 0                                      # it really is quantised
        assert np.abs(n8.B_layer(l)).max() == 127           # full int8 range used
