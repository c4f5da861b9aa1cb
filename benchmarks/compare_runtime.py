"""Training throughput of the quantum attention layer: this project's qsim and exact backends
against PennyLane running the same compiled circuit.

One "sample" is what a training step needs per image: the attention matrix S (T x T, every head)
and the gradient of L = sum(G * S) with respect to every trainable angle (G a fixed random
upstream gradient). Digits config (8x8 image, 4x4 patches, L = 2, 1 head, Bell swap test).

- ours-qsim: compiled circuit on qsim through the pre-translated binding path, encoded state
  reused for every parameter shift (what ``hqvit train --backend qsim`` runs);
- ours-exact: the closed form in torch with autograd (``--backend exact``);
- PennyLane lightning.qubit with adjoint differentiation in its documented form: S from one
  ``probs`` run, and the gradient of L from one adjoint run of a single expectation value,
  <O> with O the diagonal ``SparseHamiltonian`` sum_ij G_ij / (p_i p_j) (P0_ij - P1_ij) over the
  measured register (p_i p_j = P0 + P1 does not depend on the trainable angles, so dL/dtheta =
  d<O>/dtheta exactly); once with the compiled circuit's gates, once with the encoded state
  given by ``StatePrep`` (the same closed form our adjoint row uses) and the gates after it.
  Also lightning with parameter shift and default.qubit with backprop on ``probs``. The same
  compiled circuit rebuilt gate by gate (affine angles evaluated in torch);
- qsim through qsimcirq's public API (resolve + simulate per circuit) vs the binding path,
  one statevector each.

Every PennyLane S and gradient is checked against ours before it is timed. Needs the ``bench``
extra (pennylane, pennylane-lightning, matplotlib).

    python benchmarks/compare_runtime.py [--out-dir benchmarks/results]

``--gradients`` instead compares this project's qsim-path gradient methods, parameter shift,
the adjoint sweep from qsim's simulated encoded state, and the adjoint sweep from the closed-form
encoded state through ``qsim_attention`` (what training runs), same sample: S and the gradient
of sum(G * S) for one image, on digits 8x8 (12 qubits) and MNIST 16x16 patch 4x4 (16 qubits),
with ``--threads`` (default 1 and 2; torch and qsim); both adjoint gradients are checked against
the shift one before timing. No extras needed.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import torch

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.runtime.closed_form_prefix import amplitudes_from_tokens
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import data_bindings, tokens_from_images
from hqvit.runtime.exact import exact_attention
from hqvit.runtime.quantum_attention import QsimAttention, qsim_attention

SAMPLES = 32


def _inputs(cfg: HQViTConfig, n: int):
    ds = load_dataset("digits", cfg.image)
    tokens = tokens_from_images(ds.images[:n].double(), cfg)
    rng = np.random.default_rng(0)
    params = rng.uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols())))
    grad = rng.normal(size=(n, cfg.heads, cfg.tokens, cfg.tokens))
    return tokens, params, grad


def ours_qsim(backend: QsimAttention, tokens, params, grad):
    data = data_bindings(tokens).numpy()
    valid = ((tokens**2).sum(-1) > 0).numpy()
    states: list = []
    s, _ = backend.forward(data, params, valid, states)
    g, _ = backend.vjp(data, params, valid, grad, False, states)
    return s, g


def ours_torch(backend: QsimAttention, tokens, params, grad):
    """The training path: tokens through ``qsim_attention`` (closed-form encoded state when the
    backend verified it), gradient by backward."""
    p = torch.tensor(params, requires_grad=True)
    s, _ = qsim_attention(tokens, p, backend)
    (s * torch.from_numpy(grad)).sum().backward()
    return s.detach().numpy(), p.grad.numpy()


def ours_exact(cfg: HQViTConfig, tokens, params, grad):
    p = torch.tensor(params, requires_grad=True)
    s, _ = exact_attention(tokens, p, cfg)
    (s * torch.from_numpy(grad)).sum().backward()
    return s.detach().numpy(), p.grad.numpy()


class PennyLaneAttention:
    """The compiled circuit of ``backend`` as a PennyLane QNode on ``device``."""

    OPS = {"h": "Hadamard", "x": "PauliX", "cx": "CNOT", "cz": "CZ", "swap": "SWAP", "rx": "RX", "ry": "RY", "rz": "RZ"}

    def __init__(self, backend: QsimAttention, device: str, diff_method: str):
        import pennylane as qml

        self.qml = qml
        self.backend = backend
        ex = backend.executor
        self.symbols = list(ex.data_symbols) + list(ex.trainable_symbols)
        self.n_data = len(ex.data_symbols)
        rows, consts, self.gates = [], [], []
        for g in ex.circuit.gates():
            if g.name not in self.OPS:
                raise ValueError(f"no PennyLane mapping for gate {g.name}")
            k = None
            if g.angles:
                k = len(consts)
                consts.append(g.angles[0].const)
                rows.append([g.angles[0].coeff(s) for s in self.symbols])
            self.gates.append((getattr(qml, self.OPS[g.name]), g.qubits, k))
        self.coeff = torch.tensor(np.array(rows), dtype=torch.float64)
        self.const = torch.tensor(consts, dtype=torch.float64)
        self.wires = list(backend.readout.kept)
        dev = qml.device(device, wires=ex.num_qubits)
        self.qnode = qml.QNode(self._circuit, dev, interface="torch", diff_method=diff_method)
        cfg = backend.cfg
        self.parity = torch.tensor(backend.readout.parity)
        self.t, self.d = cfg.tokens, cfg.features

    def _circuit(self, angles):
        for op, wires, k in self.gates:
            if k is None:
                op(wires=list(wires))
            else:
                op(angles[k], wires=list(wires))
        return self.qml.probs(wires=self.wires)

    def scores(self, data: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """S (H, T, T) for one image, differentiable in params (H, n_trainable)."""
        out = []
        for h in range(params.shape[0]):
            angles = self.const + self.coeff @ torch.cat([data, params[h]])
            p = self.qnode(angles).reshape(self.t, self.d, self.t, self.d)
            total = p.sum(dim=(1, 3))
            p1 = torch.einsum("iajb,ab->ij", p, self.parity)
            out.append(((total - 2 * p1) / total).clamp(0.0, 1.0))
        return torch.stack(out)

    def run(self, tokens, params, grad):
        data = data_bindings(tokens)
        p = torch.tensor(params, requires_grad=True)
        s = torch.stack([self.scores(data[i], p) for i in range(len(data))])
        (s * torch.from_numpy(grad)).sum().backward()
        return s.detach().numpy(), p.grad.numpy()


class PennyLaneExpval(PennyLaneAttention):
    """lightning.qubit's adjoint method used as documented: S from a ``probs`` run (no gradient),
    then one adjoint run of <O>, O = sum_ij G_ij / (p_i p_j) (P0_ij - P1_ij) as a diagonal
    ``SparseHamiltonian`` on the measured register (p_i p_j = P0 + P1 is fixed by the image, so
    d<O>/dtheta = dL/dtheta exactly, L = sum G * S). ``prep``: the encoded state enters by
    ``StatePrep`` (the same closed form our adjoint row uses) and only the gates after it run."""

    def __init__(self, backend: QsimAttention, prep: bool):
        super().__init__(backend, "lightning.qubit", "adjoint")
        import scipy.sparse

        qml = self.qml
        self.sparse = scipy.sparse
        self.prep = prep
        if prep:
            n_prefix = sum(len(seg.ops) for seg in backend.executor.circuit.segments if seg.name == "encode")
            self.gates = self.gates[n_prefix:]
        dev = qml.device("lightning.qubit", wires=backend.executor.num_qubits)
        self.probs_node = qml.QNode(self._probs, dev, interface="torch", diff_method=None)
        self.expval_node = qml.QNode(self._expval, dev, interface="torch", diff_method="adjoint")
        # (1 - 2 parity(a, b)) over (i, a, j, b) of the measured register
        sign = 1.0 - 2.0 * self.parity.numpy()
        self.sign = np.broadcast_to(sign[None, :, None, :], (self.t, self.d, self.t, self.d))

    def _gates(self, angles, state):
        if state is not None:
            self.qml.StatePrep(state, wires=range(self.backend.executor.num_qubits))
        for op, wires, k in self.gates:
            if k is None:
                op(wires=list(wires))
            else:
                op(angles[k], wires=list(wires))

    def _probs(self, angles, state):
        self._gates(angles, state)
        return self.qml.probs(wires=self.wires)

    def _expval(self, angles, state, observable):
        self._gates(angles, state)
        return self.qml.expval(observable)

    def run(self, tokens, params, grad):
        data = data_bindings(tokens)
        states = [None] * len(tokens)
        if self.prep:
            states = self.backend.closed_form.state(amplitudes_from_tokens(tokens)).numpy()
        p = torch.tensor(params, requires_grad=True)
        s_out, loss = [], 0.0
        for i in range(len(tokens)):
            s_img = []
            for h in range(params.shape[0]):
                angles = self.const + self.coeff @ torch.cat([data[i], p[h]])
                with torch.no_grad():
                    probs = self.probs_node(angles.detach(), states[i]).reshape(self.t, self.d, self.t, self.d)
                total = probs.sum(dim=(1, 3)).numpy()
                p1 = torch.einsum("iajb,ab->ij", probs, self.parity).numpy()
                pair = total > 1e-12
                s_img.append(np.where(pair, (total - 2 * p1) / np.where(pair, total, 1.0), 0.0).clip(0.0, 1.0))
                weight = np.where(pair, grad[i, h] / np.where(pair, total, 1.0), 0.0)
                diag = (weight[:, None, :, None] * self.sign).reshape(-1)
                obs = self.qml.SparseHamiltonian(self.sparse.diags(diag, format="csr"), wires=self.wires)
                loss = loss + self.expval_node(angles, states[i], obs)
            s_out.append(np.stack(s_img))
        loss.backward()
        return np.stack(s_out), p.grad.numpy()


GRADIENT_METHODS = {  # row name: QsimAttention options, how the sample is run
    "shift": ({"gradient": "shift"}, "numpy"),
    "adjoint_simulated_prefix": ({"gradient": "adjoint", "prefix": "simulate"}, "numpy"),
    "adjoint_closed_form": ({"gradient": "adjoint", "prefix": "auto"}, "torch"),
}


def gradient_methods(out_dir: Path, threads_list: tuple[int, ...] = (1, 2)) -> list[dict]:
    """Samples/s of shift vs adjoint (simulated and closed-form encoded state) per size and
    thread count; the ratios are the figures to read on a shared machine."""
    from hqvit.runtime.qsim_backend import QsimOptions

    rows = []
    for name, cfg, dataset, n in (
        ("digits 8x8", HQViTConfig((8, 8), (4, 4)), "digits", 32),
        ("MNIST 16x16", HQViTConfig((16, 16), (4, 4)), "mnist5k", 16),
    ):
        ds = load_dataset(dataset, cfg.image)
        tokens = tokens_from_images(ds.images[:n].double(), cfg)
        rng = np.random.default_rng(0)
        params = rng.uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols())))
        grad = rng.normal(size=(n, cfg.heads, cfg.tokens, cfg.tokens))
        for threads in threads_list:
            torch.set_num_threads(threads)
            row = {"config": name, "qubits": cfg.logical_qubits, "threads": threads, "samples": n}
            grads = {}
            for method, (options, path) in GRADIENT_METHODS.items():
                backend = QsimAttention(cfg, options=QsimOptions(threads=threads), **options)
                if method == "adjoint_closed_form" and backend.prefix_path != "closed-form":
                    raise RuntimeError(f"closed-form encoded state not used: {backend.prefix_check}")
                run = partial(ours_torch if path == "torch" else ours_qsim, backend, tokens, params, grad)
                grads[method] = run()[1]
                row[f"{method}_samples_per_s"] = _time(run, n)
            for method in ("adjoint_simulated_prefix", "adjoint_closed_form"):
                row[f"{method}_max_abs_grad_diff"] = float(abs(grads[method] - grads["shift"]).max())
                row[f"{method}_over_shift"] = row[f"{method}_samples_per_s"] / row["shift_samples_per_s"]
            row["closed_over_simulated"] = (
                row["adjoint_closed_form_samples_per_s"] / row["adjoint_simulated_prefix_samples_per_s"]
            )
            rows.append(row)
            print(
                f"{name:12s} {threads} thread(s): shift {row['shift_samples_per_s']:8.1f}/s  "
                f"adjoint (simulated prefix) {row['adjoint_simulated_prefix_samples_per_s']:8.1f}/s  "
                f"adjoint (closed form) {row['adjoint_closed_form_samples_per_s']:8.1f}/s  "
                f"ratios {row['adjoint_simulated_prefix_over_shift']:5.2f} / "
                f"{row['adjoint_closed_form_over_shift']:5.2f} x shift, "
                f"closed / simulated {row['closed_over_simulated']:5.2f}  max |grad diff| "
                f"{max(row[f'{m}_max_abs_grad_diff'] for m in GRADIENT_METHODS if m != 'shift'):.1e}",
                flush=True,
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    day, node = str(date.today()), platform.node()
    path = out_dir / f"{day}-{node}-gradients.json"
    path.write_text(json.dumps({"date": day, "machine": f"{node} ({platform.machine()})", "rows": rows}, indent=1))
    print("wrote", path)
    return rows


def _time(fn, n_samples: int, repeats: int = 3) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n_samples / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument(
        "--gradients", action="store_true", help="parameter shift vs adjoint (simulated / closed-form prefix)"
    )
    ap.add_argument("--threads", default="1,2", help="--gradients: comma-separated thread counts (default 1,2)")
    args = ap.parse_args()
    if args.gradients:
        gradient_methods(Path(args.out_dir), tuple(int(t) for t in args.threads.split(",")))
        return
    torch.set_num_threads(1)  # qsim runs on one thread here too; compare like with like
    cfg = HQViTConfig()
    backend = QsimAttention(cfg, gradient="shift")  # the row says parameter shift (--gradients: both)
    tokens, params, grad = _inputs(cfg, SAMPLES)
    s_ref, g_ref = ours_qsim(backend, tokens, params, grad)
    s_exact, g_exact = ours_exact(cfg, tokens, params, grad)
    rows = [
        {"method": "ours qsim (parameter shift)", "samples": SAMPLES, "max_err_S": float(abs(s_exact - s_ref).max())},
        {"method": "ours exact (autograd)", "samples": SAMPLES, "max_err_S": 0.0},
    ]
    rows[0]["samples_per_s"] = _time(lambda: ours_qsim(backend, tokens, params, grad), SAMPLES)
    rows[1]["samples_per_s"] = _time(lambda: ours_exact(cfg, tokens, params, grad), SAMPLES, repeats=10)
    # our adjoint rows: qsim's simulated encoded state, and the closed form (the training path)
    for label, prefix in (("simulated prefix", "simulate"), ("closed-form prefix", "auto")):
        adj = QsimAttention(cfg, gradient="adjoint", prefix=prefix)
        run = ours_qsim if prefix == "simulate" else ours_torch
        s, g = run(adj, tokens, params, grad)
        row = {"method": f"ours qsim (adjoint, {label})", "samples": SAMPLES}
        row["max_err_S"] = float(abs(s_exact - s).max())
        row["max_err_grad"] = float(abs(g - g_ref).max())
        row["samples_per_s"] = _time(lambda adj=adj, run=run: run(adj, tokens, params, grad), SAMPLES)
        rows.append(row)
        print(row, flush=True)
    closed = QsimAttention(cfg, gradient="adjoint")
    peers = (
        (
            "PennyLane lightning.qubit (adjoint, diagonal SparseHamiltonian expval)",
            8,
            lambda: PennyLaneExpval(backend, False),
        ),
        (
            "PennyLane lightning.qubit (adjoint, StatePrep + SparseHamiltonian expval)",
            8,
            lambda: PennyLaneExpval(closed, True),
        ),
        (
            "PennyLane lightning.qubit (parameter-shift)",
            2,
            lambda: PennyLaneAttention(backend, "lightning.qubit", "parameter-shift"),
        ),
        ("PennyLane default.qubit (backprop)", 4, lambda: PennyLaneAttention(backend, "default.qubit", "backprop")),
    )
    for method, n, make in peers:
        row = {"method": method, "samples": n}
        try:
            pl = make()
            s, g = pl.run(tokens[:n], params, grad[:n])
            g_want = ours_qsim(backend, tokens[:n], params, grad[:n])[1]
            row["max_err_S"] = float(abs(s - s_ref[:n]).max())
            row["max_err_grad"] = float(abs(g - g_want).max())
            if row["max_err_S"] > 1e-4 or row["max_err_grad"] > 1e-3:
                row["status"] = "MISMATCH with this project's S / gradient"
            row["samples_per_s"] = _time(lambda pl=pl, n=n: pl.run(tokens[:n], params, grad[:n]), n, repeats=2)
        except Exception as e:  # reported, never dropped
            row["status"] = f"failed: {type(e).__name__}: {e}"[:300]
        rows.append(row)
        print(row, flush=True)

    # one statevector: qsimcirq's public API vs the pre-translated binding path
    import qsimcirq

    from hqvit.ir.cirq_export import to_cirq

    ex = backend.executor
    data = data_bindings(tokens[:1])[0].numpy()
    symbolic = to_cirq(ex.circuit, measurements=False)
    resolver = dict(zip(ex.data_symbols + ex.trainable_symbols, np.concatenate([data, params[0]]), strict=True))
    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(max_fused_gate_size=2, cpu_threads=1))
    qubits = sorted(symbolic.all_qubits())
    api = _time(lambda: [sim.simulate(symbolic, resolver, qubit_order=qubits) for _ in range(20)], 20)
    bound = _time(lambda: [ex.final_state(data, params[0]) for _ in range(200)], 200)
    rows.append({"method": "qsimcirq public API, one statevector", "samples_per_s": api})
    rows.append({"method": "ours binding path, one statevector", "samples_per_s": bound})
    for r in rows:
        print(f"{r['method']:45s} {r.get('samples_per_s', 0):10.1f} /s  {r.get('status', '')}")
    write(rows, Path(args.out_dir))


def write(rows: list[dict], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    day, node = str(date.today()), platform.node()
    machine = f"{node} ({platform.machine()}, {platform.python_version()}, torch threads 1)"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{day}-{node}-runtime"
    stem.with_suffix(".json").write_text(json.dumps({"date": day, "machine": machine, "rows": rows}, indent=1))
    lines = [
        f"Training throughput of the quantum attention layer (S and all trainable gradients per image), "
        f"digits config, {day}, {machine}.",
        "",
        "| method | samples/s | max abs S difference (qsim: vs closed form; PennyLane: vs qsim) | status |",
        "|---|---|---|---|",
    ]
    for r in rows:
        err = r.get("max_err_S")
        lines.append(
            f"| {r['method']} | {r.get('samples_per_s', 0):.1f} | {'–' if err is None else f'{err:.1e}'} | "
            f"{r.get('status', 'ok')} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    train = [r for r in rows if "statevector" not in r["method"]]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.barh([r["method"] for r in train], [r.get("samples_per_s", 0) for r in train])
    ax.set_xscale("log")
    ax.set_xlabel("samples / s (forward + all trainable gradients), log scale")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(stem.with_name(stem.name + "-throughput.png"), dpi=110)
    plt.close(fig)
    print("wrote", stem.with_suffix(".json"), stem.with_suffix(".md"))


if __name__ == "__main__":
    main()
