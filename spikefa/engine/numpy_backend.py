"""The NumPy specification as a backend: :func:`spikefa.engine.reference.step` once per
step, in Python. Slow; it is what the Numba kernels are checked against."""

from . import reference


class NumpyBackend:
    def __init__(self, net, threads: int = 1):
        self.net, self.threads = net, 1

    def run(self, x, labels, train, counts, layer_spikes, capture=None) -> None:
        net, p = self.net, self.net.params
        steps = p.steps_per_image if train else p.test_steps
        rows = capture.row_of_image if capture is not None else None
        t = 0
        for i in range(len(x)):
            for _ in range(steps):
                counts[i] += reference.step(net, x[i], int(labels[i]), train=train, stream_t=t)
                cur = (net.t - 1 if train else t) & 1
                layer_spikes += [int(net.unit_view(net.spikes[cur], l).sum()) for l in range(p.n_layers + 1)]
                if rows is not None and rows.size and rows[i] >= 0:
                    capture.record_step(net, int(rows[i]) + t % steps, cur, train)
                t += 1
