"""The spiking network of [L16] (docs/engine.md) as Brian2 objects, trained chunk by chunk.

One spikefa time step is one Brian2 time step (``dt = 1 ms``; every update is a discrete
map written as code, no differential equation). Objects (see ``docs/brian2.md``):

- ``spikefa_h0`` .. ``spikefa_hL``: one :class:`NeuronGroup` per layer. Layer 0 (input)
  spikes with probability ``x``; layers 1..L hold ``V, U, sig, phi``, the stored bias
  ``bb`` and the decay scale ``c`` (shared) of their incoming weights.
- ``spikefa_w1`` .. ``spikefa_wL``: all-to-all :class:`Synapses` ``W_l`` (pre-major, like
  ``SpikingNetwork.W_layer``) with two pathways on the pre-synaptic spike: ``fwd``
  (``I_post += w``, early in the step) and ``learn`` (``w += kg_post``, after the
  feedback path). Weight transport (``bp``) and sign symmetry (``ss``) read these same
  synapses backwards through a summed variable ``fb_pre``.
- ``spikefa_b1`` .. : fixed (or Kolen-Pollack plastic) feedback synapses from the
  source layer's feedback units to layer l, summed into ``fb_post``.
- one :func:`network_operation` per step: shows the next image (``x``, targets ``y``),
  reads the output spike counts at image boundaries and copies recorded units.

The order of the work within a step is set with ``when``/``order`` so that it follows
:func:`spikefa.engine.reference.step` exactly: input, then for l = 1..L the forward
pathway, the potential update and the threshold of layer l; then the error units and the
feedback layers top-down; then the plasticity of every layer. At test the feedback and
plasticity objects are switched off (``active = False``).

The Brian2 objects hold the state while a chunk runs; every call loads the state from
the :class:`SpikingNetwork` first and a training call writes it back, so checkpoints,
tests, recordings and the other backends see one network.
"""

import numpy as np

from .. import rng as crng
from ..errors import ConfigError
from ..rules.base import FB_MATRIX, FB_NONE, FB_SIGN, FB_TRANSPOSE
from . import import_brian2

# how each field of the network's state (spikefa.engine.state.STATE) crosses into the
# Brian2 objects before a call (_load) and back after training (_store); a new state field
# must be placed here (tests/test_backend_conformance.py checks that every one is)
STATE_TRANSFER = {
    "W": "Synapses variable w of each layer's forward pathway (as stored, pre-major)",
    "b": "variable bb of each layer's NeuronGroup",
    "c": "variable c of each layer's NeuronGroup",
    "B": "Synapses variable of each feedback pathway (transposed); written back when plastic",
    "B_c": "variable cb of the layer whose W a plastic B follows",
    "V": "variable V", "U": "variable U", "sig": "variable sig",
    "phi": "variable phi (the last step's row)", "spikes": "variable s (the last step's row)",
    "pend_spk": "none: pending plasticity is written into W and B before every call (net.flush)",
    "pend_kg": "none: see pend_spk", "pend_kgb": "none: see pend_spk",
    "R_bar": "variable Rbar of the reward group (node perturbation)",
}
TARGETS = ("cython", "numpy")
DRAWS = ("brian2", "spikefa")
PREFIX = "spikefa_"


def _sent(p, side: str) -> str:
    """What a feedback unit on ``side`` of a synapse sends down: phi, or with the feedback
    gate phi times the derivative Psi = sig (1 - sig) of its forward unit."""
    return f"phi_{side}*sig_{side}*(1 - sig_{side})" if p.feedback_gate == "psi" else f"phi_{side}"


def _phi_code(kind: str) -> str:
    return "phi = tanh(U)" if kind == "tanh" else "phi = 1/(1 + exp(-U)) - 0.5"


class Brian2Runner:
    """The ``brian2`` backend (:class:`spikefa.engine.backends.Backend`): builds a
    :class:`SpikingNetwork`'s twin from Brian2 objects and runs images through it.

    Parameters
    ----------
    net : SpikingNetwork
        Weights, feedback matrices and state are read from it at every call and written
        back after training.
    threads : int
        Ignored: Brian2's generated code runs on one thread.
    target : {"cython", "numpy"}
        Brian2 code generation target. ``cython`` compiles each code object once (about
        a minute for a whole network on a cold cache, ``~/.cython/brian_extensions``);
        ``numpy`` needs no compiler and is several times slower per step.
    draws : {"brian2", "spikefa"}
        ``brian2``: spikes are sampled with Brian2's ``rand()`` (its own stream, seeded
        from the spike seed, the stream and the step at every call). ``spikefa``: a
        network operation copies spikefa's counter-based draws (:mod:`spikefa.rng`) into
        a variable ``u`` every step, so the spikes equal the Numba engine's draw for draw
        (a test mode: Python work every step).
    """

    def __init__(self, net, threads: int = 1, target: str = "cython", draws: str = "brian2"):
        if target not in TARGETS:
            raise ConfigError(f"brian2 target: unknown {target!r}, choose one of {', '.join(TARGETS)}")
        if draws not in DRAWS:
            raise ConfigError(f"brian2 draws: unknown {draws!r}, choose one of {', '.join(DRAWS)}")
        self.b2 = import_brian2()      # first: without Brian2 the answer is how to install it
        p = net.params
        if p.delay:
            raise ConfigError("backend brian2: delay = true is not supported (use the numba or numpy backend)")
        if p.sparsity:
            raise ConfigError("backend brian2: sparsity > 0 is not supported (use the numba or numpy backend)")
        self.net, self.target, self.draws = net, target, draws
        self.threads = 1          # Brian2's generated code runs on one thread here
        self._build()

    # ------------------------------------------------------------------ building
    def _sched(self, obj, train_only: bool = False):
        """Put ``obj`` next in the step (all in slot ``groups``, by increasing ``order``)."""
        self._order += 1
        obj.when, obj.order = "groups", self._order
        if train_only:
            self.train_only.append(obj)
        return obj

    def _build(self):
        b2, net, p = self.b2, self.net, self.net.params
        L = p.n_layers
        self.clock = b2.Clock(dt=1 * b2.ms, name=PREFIX + "clock")
        self._order, self.train_only = 0, []       # train_only: switched off at test
        self.reward = bool(getattr(net, "reward_mode", False))    # node perturbation
        # KP: layer l's forward weights share their updates and decay with B_{l-1}
        self.plastic_partner = [False] * (L + 1)
        for l in range(1, L):
            if net.fb_kind[l] == FB_MATRIX and net.fb_plastic[l]:
                self.plastic_partner[l + 1] = True
        self.groups, self.fwd, self.fb_syn, self.extra = [], [None], {}, []
        self._build_forward()
        self._build_feedback()
        self._build_plasticity()
        self.tick = b2.NetworkOperation(self._tick, clock=self.clock, when="start", name=PREFIX + "io")
        # listed explicitly: Network(collect()) would miss objects held in lists; each
        # group and synapse object brings its contained objects (pathways, run_regularly)
        self.network = b2.Network(*self.groups, *self.fwd[1:], *self.fb_syn.values(), *self.extra, self.tick)

        self.arr = [self._arrays(g) for g in self.groups]
        self.w = [None] + [self._value(S, "w") for S in self.fwd[1:]]
        self.bw = {l: self._value(S, "bw") for l, S in self.fb_syn.items()}
        if self.reward:
            self.reward_arr = self._arrays(self.extra[0])
            self.reward_arr["rate"][:], self.reward_arr["nL"][:] = net.reward_rate, net.sizes[L]

    def _build_forward(self):
        """Groups of every layer, forward synapses; per layer: pathway, update, threshold."""
        b2, net, L = self.b2, self.net, self.net.params.n_layers
        n, kinds = [int(k) for k in net.sizes], [int(k) for k in net.fb_kind]
        draws = self.draws == "spikefa"
        rnd = "u" if draws else "rand()"
        g0 = b2.NeuronGroup(n[0], "x : 1\ns : 1\nnspk : 1\n" + ("u : 1\n" if draws else ""),
                            threshold="s > 0.5", reset="", clock=self.clock, name=PREFIX + "h0")
        self.groups.append(g0)
        self._sched(g0.run_regularly(f"s = int({rnd} < x)\nnspk += s", clock=self.clock, name=PREFIX + "h0_update"))
        self._sched(g0.thresholder["spike"])
        for l in range(1, L + 1):
            eqs = ("V : 1\nI : 1\nbb : 1\nsig : 1\ns : 1\nU : 1\nphi : 1\nkg : 1\nnspk : 1\nc : 1 (shared)\n"
                   "decay : 1 (shared, constant)\neta : 1 (shared, constant)\ngamma : 1 (shared, constant)\n")
            if draws:
                eqs += "u : 1\n"
            if l == L:
                eqs += "y : 1\n"
            elif kinds[l] != FB_NONE:
                eqs += "fb : 1\nfbscale : 1 (shared, constant)\n"
            if self.plastic_partner[l]:
                eqs += "kgb : 1\ncb : 1 (shared)\n"
            if self.reward:
                eqs += "adv : 1 (linked)\n"
            eqs += "kh : 1\n"      # the homeostatic increment of the bias (0 when off)
            # the stored bias and the increments in float32, as the engine stores and rounds them
            g = b2.NeuronGroup(n[l], eqs, threshold="s > 0.5", reset="", clock=self.clock, name=PREFIX + f"h{l}",
                               dtype={"bb": np.float32, "kg": np.float32, "kh": np.float32})
            self.groups.append(g)
            model = "w : 1\n"
            sent = _sent(net.params, "post")
            if l >= 2 and kinds[l - 1] == FB_TRANSPOSE:   # weight transport: W_l read backwards
                model += f"fb_pre = c_post*w*{sent} : 1 (summed)\n"
            elif l >= 2 and kinds[l - 1] == FB_SIGN:
                model += f"fb_pre = (int(w > 0) - int(w < 0))*{sent} : 1 (summed)\n"
            S = b2.Synapses(self.groups[l - 1], g, model, on_pre={"fwd": "I_post += w", "learn": "w += kg_post"},
                            clock=self.clock, dtype={"w": np.float32}, name=PREFIX + f"w{l}")
            # pre-major, as SpikingNetwork.W_layer(l): synapse i * n_l + j
            S.connect(i=np.repeat(np.arange(n[l - 1]), n[l]), j=np.tile(np.arange(n[l]), n[l - 1]))
            self.fwd.append(S)
            self._sched(S.fwd)
            self._sched(g.run_regularly("V = decay*V + c*(I + bb)\nI = 0\nsig = 1/(1 + exp(-V))\n"
                                        f"s = int({rnd} < sig)\nnspk += s", clock=self.clock,
                                        name=PREFIX + f"h{l}_update"))
            self._sched(g.thresholder["spike"])

    def _build_feedback(self):
        """Error units, [the reward unit], then each hidden layer from its source, top-down."""
        b2, net, L = self.b2, self.net, self.net.params.n_layers
        n, phi = [int(k) for k in net.sizes], _phi_code(net.params.phi)
        self._sched(self.groups[L].run_regularly(f"U = decay*U + (y - s)\n{phi}", clock=self.clock,
                                                 name=PREFIX + f"h{L}_feedback"), True)
        if self.reward:
            # node perturbation: one unit sums the squared output error of this step into
            # the reward R, keeps its running mean Rbar and sends R - Rbar to every layer
            r = b2.NeuronGroup(1, "err : 1\nR : 1\nRbar : 1\nadv : 1\nrate : 1 (shared, constant)\n"
                               "nL : 1 (shared, constant)", clock=self.clock, name=PREFIX + "reward")
            Sr = b2.Synapses(self.groups[L], r, "err_post = (y_pre - s_pre)**2 : 1 (summed)",
                             clock=self.clock, name=PREFIX + "reward_in")
            Sr.connect(i=np.arange(n[L]), j=np.zeros(n[L], dtype=np.int64))
            self._sched(Sr.summed_updaters["err_post"], True)
            self._sched(r.run_regularly("R = -err/nL\nadv = R - Rbar\nRbar += rate*adv", clock=self.clock,
                                        name=PREFIX + "reward_update"), True)
            for l in range(1, L + 1):
                self.groups[l].adv = b2.linked_var(r, "adv", index=np.zeros(n[l], dtype=np.int64))
            self.extra = [r, Sr]
        for l in range(L - 1, 0, -1):
            g, kind, src = self.groups[l], int(net.fb_kind[l]), int(net.fb_src[l])
            if kind == FB_MATRIX:
                plastic = bool(net.fb_plastic[l])
                Sb = b2.Synapses(self.groups[src], g,
                                 f"bw : 1\nfb_post = {'cb_pre*' if plastic else ''}bw*{_sent(net.params, 'pre')}"
                                 " : 1 (summed)",
                                 on_post={"learn": "bw += kgb_pre"} if plastic else None,
                                 clock=self.clock, dtype={"bw": np.float32}, name=PREFIX + f"b{l}")
                # source-major: consecutive synapses add into different targets (target-major
                # chains every addition through one memory cell: measured 3x slower)
                Sb.connect(i=np.repeat(np.arange(n[src]), n[l]), j=np.tile(np.arange(n[l]), n[src]))
                self.fb_syn[l] = Sb
                self._sched(Sb.summed_updaters["fb_post"], True)
            elif kind in (FB_TRANSPOSE, FB_SIGN):
                self._sched(self.fwd[l + 1].summed_updaters["fb_pre"], True)
            drive = " + fbscale*fb" if kind != FB_NONE else ""
            self._sched(g.run_regularly(f"U = decay*U{drive}\n{phi}", clock=self.clock,
                                        name=PREFIX + f"h{l}_feedback"), True)

    def _build_plasticity(self):
        """Per layer: decay scale, increment kg and bias; the pathways add kg to spiking rows."""
        # REINFORCE for node perturbation: the unit's own sampling noise is the perturbation
        g = "adv*(s - sig)" if self.reward else "phi*sig*(1 - sig)"
        p = self.net.params
        for l in range(1, p.n_layers + 1):
            code = f"c = c*(1 - gamma)\nkg = eta/c*{g}\nbb += kg\n"
            if p.homeostasis == "rate" and l < p.n_layers:   # the bias drifts towards the target rate
                code += f"kh = {float(p.homeostasis_eta)!r}/c*({float(p.homeostasis_rate)!r} - s)\nbb += kh\n"
            if self.plastic_partner[l]:    # Brian2 wants the scalar (shared) writes first
                code = "cb = cb*(1 - gamma)\n" + code + f"kgb = eta/cb*{g}\n"
            self._sched(self.groups[l].run_regularly(code, clock=self.clock, name=PREFIX + f"h{l}_plasticity"), True)
            self._sched(self.fwd[l].learn, True)
            if self.plastic_partner[l]:
                self._sched(self.fb_syn[l - 1].learn, True)

    @staticmethod
    def _value(obj, name):
        return obj.variables[name].get_value()

    def _arrays(self, g) -> dict:
        """The group's variables as the NumPy arrays Brian2 computes in (runtime device)."""
        return {k: self._value(g, k) for k in g.variables
                if not k.startswith("_") and k not in ("N", "i", "t", "dt", "t_in_timesteps")}

    # ------------------------------------------------------------------ state in and out
    def _load(self):
        """Copy the network's weights, state and parameters into the Brian2 objects (the
        parameters too, so that a changed ``net.params``, e.g. a learning-rate schedule,
        acts from the next call, as in the other backends)."""
        net, p, L = self.net, self.net.params, self.net.params.n_layers
        if net.npend:       # pending plasticity of the Numba engine: write it first
            net.flush()
        last = (net.t - 1) & 1
        for l in range(1, L + 1):
            a, view = self.arr[l], net.unit_view
            a["decay"][:], a["eta"][:], a["gamma"][:] = 1.0 - p.tau, p.eta, p.gamma
            a["V"][:], a["U"][:], a["sig"][:] = view(net.V, l), view(net.U, l), view(net.sig, l)
            a["phi"][:], a["s"][:] = view(net.phi[last], l), view(net.spikes[last], l)
            a["bb"][:], a["I"][:], a["c"][:] = view(net.b, l), 0.0, net.c[l]
            self.w[l][:] = net.W_layer(l).ravel()
            if self.plastic_partner[l]:
                a["cb"][:] = net.B_c[l - 1]
            if "fbscale" in a:     # a fixed B's scale is a constant; KP's and W's are read live
                fixed = net.fb_kind[l] == FB_MATRIX and not net.fb_plastic[l]
                a["fbscale"][:] = net.fb_scale[l] * (net.B_c[l] if fixed else 1.0)
        for l, bw in self.bw.items():
            bw[:] = net.B_layer(l).T.ravel()
        if self.reward:
            self.reward_arr["Rbar"][:] = net.R_bar[0]

    def _store(self, t_end: int):
        """Write the Brian2 state back into the network after training."""
        net, L = self.net, self.net.params.n_layers
        last = (t_end - 1) & 1
        for l in range(1, L + 1):
            a, view = self.arr[l], net.unit_view
            view(net.V, l)[:], view(net.U, l)[:], view(net.sig, l)[:] = a["V"], a["U"], a["sig"]
            view(net.phi[last], l)[:] = a["phi"]
            view(net.b, l)[:] = a["bb"]
            net.c[l] = float(a["c"][0])
            net.W_layer(l)[:] = self.w[l].reshape(net.W_layer(l).shape)
            if self.plastic_partner[l]:
                net.B_c[l - 1] = float(a["cb"][0])
        for l in range(L + 1):
            net.unit_view(net.spikes[last], l)[:] = self.arr[l]["s"]
        for l, bw in self.bw.items():
            if net.fb_plastic[l]:
                net.B_layer(l)[:] = bw.reshape(net.B_layer(l).shape[::-1]).T
        for l in range(1, L + 1):   # as the engine does within a call: decay scales below 0.5 folded back
            net.fold_decay(l)
        if self.reward:
            net.R_bar[0] = float(self.reward_arr["Rbar"][0])
        net.npend = 0
        net.t = t_end

    # ------------------------------------------------------------------ running
    def _tick(self):
        """Once per step, before any group: next image, counts, spikefa draws, recording."""
        k, io = self._k, self._io
        if k > 0 and io["rec"] is not None:
            self._record(k - 1)
        if k % io["steps"] == 0:
            img = k // io["steps"]
            if img > 0:
                self._count(img - 1)
            if img < len(io["x"]):
                self.arr[0]["x"][:] = io["x"][img]
                self.arr[-1]["y"][:] = io["y"][int(io["labels"][img])]
        if self.draws == "spikefa":
            for l, a in enumerate(self.arr):
                a["u"][:] = crng.uniforms(int(io["keys"][l]), io["t0"] + k, len(a["s"]))
        self._k = k + 1

    def _count(self, img: int):
        io = self._io
        tot = self.arr[-1]["nspk"].reshape(io["counts"].shape[1], -1).sum(axis=1)
        io["counts"][img] = np.rint(tot - io["prev"]).astype(np.int64)
        io["prev"] = tot

    def _record(self, k: int):
        io, cap = self._io, self._io["rec"]
        img, j = divmod(k, io["steps"])
        row = cap.row_of_image[img]
        if row < 0:
            return
        row += j
        for l, (q, units) in io["rec_spk"].items():
            cap.spikes[row, q] = self.arr[l]["s"][units]
        for l, (q, units) in io["rec_tr"].items():
            cap.V[row, q] = self.arr[l]["V"][units]
            cap.phi[row, q] = self.arr[l]["phi"][units]

    def _split(self, flat) -> dict:
        """Flat unit indices -> {layer: (positions, local indices)} (layer 0 has no traces)."""
        out = {}
        layer = np.searchsorted(self.net.u_off, flat, side="right") - 1
        for l in np.unique(layer):
            q = np.flatnonzero(layer == l)
            out[int(l)] = (q, flat[q] - self.net.u_off[l])
        return out

    def run(self, x: np.ndarray, labels: np.ndarray, train: bool, counts: np.ndarray,
            layer_spikes: np.ndarray, capture=None) -> None:
        """Show images ``x`` (n, n_0), already clipped to ``input_max``, for their steps each.

        Fills ``counts`` (n, n_classes) and adds to ``layer_spikes`` (L+1,); a training
        call writes the new state into the network and advances ``net.t``, a test call
        leaves the network as it was (and starts the test stream at step 0).
        """
        b2, net, p = self.b2, self.net, self.net.params
        steps = p.steps_per_image if train else p.test_steps
        t0 = net.t if train else 0
        stream = crng.STREAM_TRAIN if train else crng.STREAM_TEST
        self._load()
        if train:
            y = (np.arange(net.sizes[-1])[None, :] // p.group == np.arange(p.n_classes)[:, None]).astype(np.float64)
        else:
            y = np.zeros((p.n_classes, net.sizes[-1]))
        rec = capture if capture is not None and train and capture.row_of_image.size else None
        self._io = {"x": x, "labels": labels, "y": y, "steps": steps, "counts": counts, "t0": t0,
                    "keys": net.keys if train else net.test_keys, "prev": np.zeros(p.n_classes), "rec": rec}
        if rec is not None:
            self._io["rec_spk"] = self._split(rec.units)
            self._io["rec_tr"] = {l: v for l, v in self._split(rec.trace_units).items() if l > 0}
        for a in self.arr:
            a["nspk"][:] = 0.0
        for obj in self.train_only:
            obj.active = train
        self._k = 0
        total = len(x) * steps
        b2.prefs.codegen.target = self.target
        state = np.random.get_state()          # Brian2 draws from NumPy's global generator
        try:
            b2.seed(crng.step_key(crng.layer_key(net.seed_spikes, stream, 255), t0))
            if total:
                self.network.run(total * b2.ms, report=None, namespace={})
        finally:
            np.random.set_state(state)
        if self._k != total:
            raise RuntimeError(f"brian2 ran {self._k} steps instead of {total}")
        if total:
            if rec is not None:
                self._record(total - 1)
            self._count(len(x) - 1)
        for l, a in enumerate(self.arr):
            layer_spikes[l] += int(round(float(a["nspk"].sum())))
        if train:
            self._store(t0 + total)
