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

``--peers`` measures this project's qsim training path (the compiled suffix as fused blocks with
adjoint gradients, closed-form encoded state, through ``qsim_attention``; also the gate-by-gate
sweep it replaced) against qulacs and torchquantum on the same sample and the same
compiled circuit, digits 8x8 and MNIST 16x16 patch 4x4, 32 images, 1 and 2 threads, each
size and thread count in its own interpreter (OMP_NUM_THREADS / QULACS_NUM_THREADS set before
qulacs is imported):

- qulacs: the compiled circuit as ``ParametricQuantumCircuit``s, S from the final state's
  marginals, the gradient by reverse mode from b = 2 O psi (O the diagonal loss observable
  above): qulacs' own ``backprop_inner_product`` over the whole circuit; a reverse sweep over
  the gates after the encoding (a loop of qulacs gate calls) with the encoding simulated; and
  the same sweep with the encoded state built by qulacs' ``tensor_product`` from the image's
  amplitudes, as our path starts from the closed form;
- torchquantum (the torchquantum-ng fork; see the ``bench`` extra): a ``QuantumDevice`` with a
  batch of 32 images, the circuit from ``torchquantum.functional`` gates, the gradient by torch
  autograd, with the whole circuit and with the encoded state given by ``set_states``.

Every row's S and gradient are checked against the closed form (float64) before timing
(``S_TOL``, ``GRAD_RTOL``; a failing row is excluded, with the reason); rows are then timed in
interleaved rounds of ``--window`` seconds and reported with the ratios ours / peer at each
side's best thread count (``benchmarks/results/DATE-MACHINE-peers.{json,md}``). Needs the
``bench`` extra and the ``--no-deps`` installs of the Makefile's ``bench`` target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
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


# -- peers: qulacs and torchquantum on the same compiled circuit (--peers) ----------------------

PEER_SIZES = {  # worker key: (label, configuration, data set)
    "digits": ("digits 8x8", HQViTConfig((8, 8), (4, 4)), "digits"),
    "mnist": ("MNIST 16x16", HQViTConfig((16, 16), (4, 4)), "mnist5k"),
}
PEER_IMAGES = 32  # images per timed call, and torchquantum's batch
S_TOL = 1e-5  # a row is timed only if max |S - S_closed_form| <= S_TOL ...
GRAD_RTOL = 1e-4  # ... and max |g - g_closed_form| <= GRAD_RTOL * max |g_closed_form|
WINDOWS = 3  # timing windows per row, in rounds over all rows; the median is reported


class FlatCircuit:
    """A ``QsimAttention``'s compiled circuit as one gate list another simulator can replay.

    ``ops`` holds (name, qubits, slot) in circuit order, qubits big-endian as in this project
    (qubit 0 is the most significant bit of a basis index); ``slot`` numbers the rotations, whose
    angles are affine in the symbols: angles = const + coeff @ [data, trainable] for one head. The
    first ``n_prefix`` ops are the encode segment. ``readout`` turns final-state probabilities
    into S and the weights of the diagonal loss observable."""

    GATES = ("h", "x", "cx", "cz", "swap", "rx", "ry", "rz")

    def __init__(self, backend: QsimAttention):
        from hqvit.ir.circuit import Gate

        ex, cfg = backend.executor, backend.cfg
        if cfg.swap_test != "bell":
            raise ValueError("the peer rows read out the Bell-basis swap test only")
        symbols = list(ex.data_symbols) + list(ex.trainable_symbols)
        self.n_data, self.num_qubits = len(ex.data_symbols), ex.num_qubits
        self.ops: list[tuple[str, tuple[int, ...], int | None]] = []
        consts, rows, self.n_prefix, after_encode = [], [], 0, False
        for seg in ex.circuit.segments:
            for g in (op for op in seg.ops if isinstance(op, Gate)):
                if g.name not in self.GATES or len(g.angles) > 1:
                    raise ValueError(f"no peer mapping for gate {g.name}")
                if seg.name == "encode":
                    if after_encode:
                        raise ValueError("encode gates after other gates")
                    self.n_prefix += 1
                else:
                    after_encode = True
                slot = None
                if g.angles:
                    slot = len(consts)
                    consts.append(g.angles[0].const)
                    rows.append([g.angles[0].coeff(s) for s in symbols])
                self.ops.append((g.name, tuple(g.qubits), slot))
        self.const = np.array(consts, dtype=np.float64)
        self.coeff = np.array(rows, dtype=np.float64).reshape(len(consts), len(symbols))
        self.data_coeff, train = self.coeff[:, : self.n_data], self.coeff[:, self.n_data :]
        self.trainable = np.flatnonzero(np.any(train != 0, axis=1))
        prefix_slots = {slot for _, _, slot in self.ops[: self.n_prefix] if slot is not None}
        if np.any(self.data_coeff[self.trainable]) or prefix_slots & set(self.trainable.tolist()):
            raise ValueError("a trainable angle depends on the data or sits in the encode segment")
        self.train_coeff = train[self.trainable]  # (trainable slots, trainable symbols)
        self.train_const = self.const[self.trainable]
        self.order = list(backend.readout.kept) + list(backend.readout.rest)
        self.n_kept = len(backend.readout.kept)
        self.t, self.d = cfg.tokens, cfg.features
        self.sign = 1.0 - 2.0 * backend.readout.parity  # (d, d): +1 swap-test bit 0, -1 bit 1

    def data_angles(self, data: np.ndarray) -> np.ndarray:
        """(B, n_data) data symbols -> (B, n_slots) angles with the trainable terms left out."""
        return self.const + data @ self.data_coeff.T

    def _measured(self, probs: np.ndarray) -> np.ndarray:
        """(B, 2^N) -> (B, T, d, T, d): probabilities of the measured register (index1, feature1,
        index2, feature2), unmeasured qubits summed out."""
        b = probs.shape[0]
        p = probs.reshape((b,) + (2,) * self.num_qubits).transpose([0] + [1 + q for q in self.order])
        return p.reshape(b, 1 << self.n_kept, -1).sum(-1).reshape(b, self.t, self.d, self.t, self.d)

    def readout(self, probs: np.ndarray, valid: np.ndarray, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """probs (B, 2^N), valid tokens (B, T), G (B, T, T) -> S (B, T, T) clipped to [0, 1], and
        w (B, T, T) = G_ij / (P0_ij + P1_ij): the loss observable is O = sum_ij w_ij (P0_ij - P1_ij),
        diagonal; P0 + P1 = p_i p_j does not depend on the trainable angles, so dL/dtheta =
        d<O>/dtheta, and (P0 - P1) carries the sign (-1)^parity(a, b) of the feature outcomes."""
        p = self._measured(probs)
        total = p.sum(axis=(2, 4))
        diff = np.einsum("kiajb,ab->kij", p, self.sign)
        pair = valid[:, :, None] & valid[:, None, :] & (total > 0)
        safe = np.where(pair, total, 1.0)
        return np.where(pair, diff / safe, 0.0).clip(0.0, 1.0), np.where(pair, upstream / safe, 0.0)


def _peer_inputs(tokens: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return data_bindings(tokens).numpy(), ((tokens**2).sum(-1) > 0).numpy()


class QulacsAttention:
    """The compiled circuit on qulacs (C++, complex128; its OpenMP threads come from
    OMP_NUM_THREADS / QULACS_NUM_THREADS, read when qulacs is imported). S from the final states'
    marginals (all images of a head, then one vectorized readout); the gradient from one
    reverse-mode sweep per image and head started from b = 2 O psi, built in qulacs from psi by
    the CZs of the feature pairs (the parity sign) and a diagonal gate of the 2 w_ij on the index
    qubits, so dL/dangle = Re <b| d psi / d angle>. Modes:

    - "backprop": the whole circuit as one ``ParametricQuantumCircuit`` (the encoding's rotations
      are parameters too, rebound per image) and qulacs' own ``backprop_inner_product(b)``, which
      reruns the circuit from |0> and differentiates every parameter, encoding included;
    - "sweep": the encoding and the rest as two ``ParametricQuantumCircuit``s for the forward
      pass, and the reverse sweep over the gates after the encoding only, as a loop of qulacs gate
      calls (qulacs' backprop cannot start from a given state);
    - "sweep-closed": as "sweep", the encoded state a (x) a made by ``qulacs.state.tensor_product``
      from the image's amplitudes a (this project's closed form, which our training path starts
      from) instead of simulated.

    qulacs' rotations are exp(+i angle P / 2): a gate of angle a here is its angle -a; its qubit k
    is bit k of a basis index, so this project's qubit q is its qubit N - 1 - q."""

    MODES = ("backprop", "sweep", "sweep-closed")

    def __init__(self, flat: FlatCircuit, backend: QsimAttention, mode: str):
        import qulacs
        from qulacs.state import inner_product, permutate_qubit, tensor_product

        if mode not in self.MODES:
            raise ValueError(mode)
        if mode == "sweep-closed" and backend.closed_form is None:
            raise ValueError(f"no closed-form encoded state: {backend.prefix_check}")
        self.qulacs, self.inner, self.flat, self.backend, self.mode = qulacs, inner_product, flat, backend, mode
        self.tensor_product, self.permutate = tensor_product, permutate_qubit
        n = self.n = flat.num_qubits
        self.states: list = []
        self.bistate, self.work = qulacs.QuantumState(n), qulacs.QuantumState(n)
        whole = mode == "backprop"
        self.circuit, self.slots = self._circuit(flat.ops if whole else flat.ops[flat.n_prefix :])
        self.prefix, self.prefix_slots = self._circuit([] if whole else flat.ops[: flat.n_prefix])
        if not whole and np.any(flat.data_coeff[self.slots]):  # "sweep" binds those gates once per head
            raise ValueError("gates after the encoding depend on the data")
        # b = 2 O psi: CZ on every (feature1, feature2) pair, then the diagonal 2 w_ij on (index1, index2)
        kept = [n - 1 - q for q in flat.order[: flat.n_kept]]
        tb, fb = (flat.t.bit_length() - 1), (flat.d.bit_length() - 1)
        idx1, f1, idx2, f2 = kept[:tb], kept[tb : tb + fb], kept[tb + fb : 2 * tb + fb], kept[2 * tb + fb :]
        self.parity_gates = [qulacs.gate.CZ(a, b) for a, b in zip(f1, f2, strict=True)]
        self.index_qubits = (idx1 + idx2)[::-1]  # DiagonalMatrix: bit k of its index is the k-th qubit listed
        # the reverse sweep: (fixed self-inverse gate | None, rotation name, qulacs qubit, slot, generator | None)
        gate, trainable = qulacs.gate, set(flat.trainable.tolist())
        fixed = {"h": gate.H, "x": gate.X, "cx": gate.CNOT, "cz": gate.CZ, "swap": gate.SWAP}
        generator = {"rx": gate.X, "ry": gate.Y, "rz": gate.Z}
        self.rotation = {"rx": gate.RX, "ry": gate.RY, "rz": gate.RZ}
        self.sweep = []
        for name, qubits, slot in flat.ops[flat.n_prefix :]:
            w = [n - 1 - q for q in qubits]
            if slot is None:
                self.sweep.append((fixed[name](*w), name, w[0], None, None))
            else:
                self.sweep.append((None, name, w[0], slot, generator[name](w[0]) if slot in trainable else None))
        self.first = min(k for k, op in enumerate(self.sweep) if op[4] is not None)
        if mode == "sweep-closed":
            # a (x) a puts copy 1 on the upper qulacs qubits; placed where the closed form says
            closed = backend.closed_form
            copy = closed.copy_qubits
            self.zeros = qulacs.QuantumState(n - 2 * copy) if n > 2 * copy else None
            order = [-1] * n  # new qulacs qubit -> old one (permutate_qubit's convention)
            for c, phys in enumerate(closed.boundary):
                order[n - 1 - phys] = 2 * copy - 1 - c
            spare = iter(range(2 * copy, n))
            order = [o if o >= 0 else next(spare) for o in order]
            self.order = None if order == list(range(n)) else order

    def _circuit(self, ops):
        q, n = self.qulacs, self.n
        c, slots = q.ParametricQuantumCircuit(n), []
        add = {
            "h": c.add_H_gate,
            "x": c.add_X_gate,
            "cx": c.add_CNOT_gate,
            "cz": c.add_CZ_gate,
            "swap": c.add_SWAP_gate,
        }
        for name, qubits, slot in ops:
            w = [n - 1 - q for q in qubits]
            if slot is None:
                add[name](*w)
            else:
                getattr(c, f"add_parametric_{name.upper()}_gate")(w[0], 0.0)
                slots.append(slot)
        return c, np.array(slots, dtype=np.int64)

    def _encoded(self, amplitudes: np.ndarray):
        one = self.qulacs.QuantumState(self.backend.closed_form.copy_qubits)
        one.load(amplitudes)
        state = self.tensor_product(one, one)
        if self.zeros is not None:
            state = self.tensor_product(self.zeros, state)
        return state if self.order is None else self.permutate(state, self.order)

    def run(self, tokens, params, grad):
        f = self.flat
        data, valid = _peer_inputs(tokens)
        base = f.data_angles(data)
        b = len(tokens)
        amplitudes = (
            amplitudes_from_tokens(tokens).numpy().astype(np.complex128) if self.mode == "sweep-closed" else None
        )
        while len(self.states) < b:
            self.states.append(self.qulacs.QuantumState(self.n))
        s_out, g_out = np.zeros((b, params.shape[0], f.t, f.t)), np.zeros_like(params)
        for h in range(params.shape[0]):
            angles = base.copy()
            angles[:, f.trainable] += f.train_coeff @ params[h]
            if self.mode != "backprop":  # the gates after the encoding depend on the head only
                for k, slot in enumerate(self.slots):
                    self.circuit.set_parameter(k, -angles[0, slot])
            probs = np.empty((b, 1 << self.n))
            for i in range(b):
                if self.mode == "sweep-closed":
                    self.states[i] = self._encoded(amplitudes[i])
                elif self.mode == "sweep":
                    for k, slot in enumerate(self.prefix_slots):
                        self.prefix.set_parameter(k, -angles[i, slot])
                    self.states[i].set_zero_state()
                    self.prefix.update_quantum_state(self.states[i])
                else:
                    self._bind_whole(angles[i])
                    self.states[i].set_zero_state()
                self.circuit.update_quantum_state(self.states[i])
                psi = self.states[i].get_vector()
                probs[i] = psi.real**2 + psi.imag**2
            s_out[:, h], w = f.readout(probs, valid, grad[:, h])
            d_angle = np.zeros(len(f.const))  # dL/dangle per slot, summed over the images
            for i in range(b):
                self.bistate.load(self.states[i])
                for g in self.parity_gates:
                    g.update_quantum_state(self.bistate)
                diag = self.qulacs.gate.DiagonalMatrix(
                    self.index_qubits, (2.0 * w[i]).reshape(-1).astype(np.complex128)
                )
                diag.update_quantum_state(self.bistate)
                if self.mode == "backprop":
                    self._bind_whole(angles[i])
                    d_angle[self.slots] -= np.asarray(self.circuit.backprop_inner_product(self.bistate))
                else:
                    self._sweep(self.states[i], angles[i], d_angle)
            g_out[h] = f.train_coeff.T @ d_angle[f.trainable]
        return s_out, g_out

    def _bind_whole(self, a: np.ndarray) -> None:
        for k, slot in enumerate(self.slots):
            self.circuit.set_parameter(k, -a[slot])

    def _sweep(self, s, a: np.ndarray, d_angle: np.ndarray) -> None:
        """From the final state s and b back to the first trainable gate: for a rotation
        exp(-i a P / 2), dL/da = Re <b| -i P / 2 |psi> = Im <b|P|psi> / 2 at that gate."""
        b, tmp = self.bistate, self.work
        for k in range(len(self.sweep) - 1, self.first - 1, -1):
            fixed, name, w, slot, gen = self.sweep[k]
            if gen is not None:
                tmp.load(s)
                gen.update_quantum_state(tmp)
                d_angle[slot] += self.inner(b, tmp).imag / 2.0
            if k == self.first:
                break
            undo = fixed if fixed is not None else self.rotation[name](w, a[slot])
            undo.update_quantum_state(s)
            undo.update_quantum_state(b)


def _import_torchquantum():
    """torchquantum's package imports its data-set loaders (MNIST, CIFAR-10, vowel), which import
    torchvision. The torchvision wheels on the registry for torch 2.13 are CUDA builds that fail to
    load against the CPU torch, so when torchvision cannot be imported those loaders, which no
    row here uses and no other torchquantum module imports, are registered as an empty module."""
    import sys
    import types

    try:
        import torchvision  # noqa: F401
    except Exception:
        sys.modules.setdefault("torchquantum.dataset", types.ModuleType("torchquantum.dataset"))
    import torchquantum

    return torchquantum


class TorchQuantumAttention:
    """The compiled circuit on a batched torchquantum ``QuantumDevice`` (``PEER_IMAGES`` images
    per batch, its default complex64), gate by gate with ``torchquantum.functional`` in its
    dynamic mode; the gradient of L = sum(G * S) by torch autograd through the gates, its
    training mode. The encoding's angles carry no gradient, so autograd records only the gates
    after the first trainable one. ``closed``: the encoded state is given by ``set_states`` from
    this project's closed form and only the gates after the encoding run."""

    def __init__(self, flat: FlatCircuit, backend: QsimAttention, closed: bool):
        tq = _import_torchquantum()
        import torchquantum.functional as tqf

        if closed and backend.closed_form is None:
            raise ValueError(f"no closed-form encoded state: {backend.prefix_check}")
        self.flat, self.backend, self.closed = flat, backend, closed
        self.fns = {
            "h": tqf.hadamard,
            "x": tqf.paulix,
            "cx": tqf.cnot,
            "cz": tqf.cz,
            "swap": tqf.swap,
            "rx": tqf.rx,
            "ry": tqf.ry,
            "rz": tqf.rz,
        }
        self.ops = [(self.fns[name], list(q), slot) for name, q, slot in flat.ops[flat.n_prefix if closed else 0 :]]
        self.train_pos = {slot: k for k, slot in enumerate(flat.trainable.tolist())}
        self.qd = tq.QuantumDevice(n_wires=flat.num_qubits, bsz=PEER_IMAGES)  # wire 0 = most significant bit
        self.sign = torch.from_numpy(flat.sign)
        self.perm = [0] + [1 + q for q in flat.order]

    def _scores(self, psi: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        f, b = self.flat, psi.shape[0]
        probs = psi.real.double() ** 2 + psi.imag.double() ** 2
        p = probs.reshape((b,) + (2,) * f.num_qubits).permute(self.perm).reshape(b, 1 << f.n_kept, -1).sum(-1)
        p = p.reshape(b, f.t, f.d, f.t, f.d)
        total = p.sum(dim=(2, 4))
        diff = torch.einsum("kiajb,ab->kij", p, self.sign)
        pair = valid[:, :, None] & valid[:, None, :] & (total.detach() > 0)
        return torch.where(pair, diff / torch.where(pair, total, torch.ones_like(total)), torch.zeros_like(total))

    def run(self, tokens, params, grad):
        f = self.flat
        p = torch.tensor(params, requires_grad=True)
        s_out, loss = [], torch.zeros((), dtype=torch.float64)
        for start in range(0, len(tokens), PEER_IMAGES):
            tok = tokens[start : start + PEER_IMAGES]
            b = len(tok)
            data, valid = _peer_inputs(tok)
            base = torch.from_numpy(f.data_angles(data))  # (B, n_slots), no gradient
            encoded = None
            if self.closed:
                encoded = self.backend.closed_form.state(amplitudes_from_tokens(tok)).to(torch.complex64)
            heads = []
            for h in range(params.shape[0]):
                train = torch.from_numpy(f.train_const) + torch.from_numpy(f.train_coeff) @ p[h]
                if encoded is None:
                    self.qd.reset_states(b)
                else:
                    self.qd.set_states(encoded)
                for fn, wires, slot in self.ops:
                    if slot is None:
                        fn(self.qd, wires=wires)
                    elif slot in self.train_pos:
                        fn(self.qd, wires=wires, params=train[self.train_pos[slot]].expand(b))
                    else:
                        fn(self.qd, wires=wires, params=base[:, slot])
                s = self._scores(self.qd.get_states_1d(), torch.from_numpy(valid))
                loss = loss + (s * torch.from_numpy(grad[start : start + b, h])).sum()
                heads.append(s.detach().clamp(0.0, 1.0))
            s_out.append(torch.stack(heads, dim=1))
        loss.backward()
        return torch.cat(s_out).numpy(), p.grad.numpy()


BACKPROP_IMAGES = 4  # qulacs' whole-circuit backprop takes seconds per MNIST image; it runs image by image anyway
PEER_ROWS = (  # tool, configuration, builder(flat, backend) -> object with run(tokens, params, grad)[, images per call]
    (
        "qulacs",
        "backprop_inner_product over the whole circuit",
        partial(QulacsAttention, mode="backprop"),
        BACKPROP_IMAGES,
    ),
    ("qulacs", "encoding simulated, reverse sweep over the gates after it", partial(QulacsAttention, mode="sweep")),
    (
        "qulacs",
        "encoded state a (x) a by tensor_product (our closed form), reverse sweep",
        partial(QulacsAttention, mode="sweep-closed"),
    ),
    ("torchquantum", "QuantumDevice batch 32, autograd, whole circuit", partial(TorchQuantumAttention, closed=False)),
    (
        "torchquantum",
        "QuantumDevice batch 32, autograd, encoded state by set_states (our closed form)",
        partial(TorchQuantumAttention, closed=True),
    ),
)
OURS = ("ours", "qsim training path: fused suffix blocks, adjoint, closed-form encoded state (qsim_attention)")
# the same path with the gate-by-gate sweep it replaced, measured in the same run for the record
OURS_GATES = ("ours", "previous qsim training path: gate-by-gate adjoint sweep, closed-form encoded state")


def _rate(fn, n_samples: int, window: float, windows: int = WINDOWS) -> float:
    """Median over ``windows`` windows of at least ``window`` seconds of samples per second."""
    rates = []
    for _ in range(windows):
        calls, t0 = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= window:
                break
        rates.append(calls * n_samples / elapsed)
    return float(np.median(rates))


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "qsimcirq", "qulacs", "torchquantum-ng", "torchquantum"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def peer_worker(size: str, threads: int, window: float) -> list[dict]:
    """Every row of one size at one thread count (the thread variables were set by the parent
    before this interpreter started, as qulacs reads them at import)."""
    from hqvit.runtime.qsim_backend import QsimOptions

    torch.set_num_threads(threads)
    label, cfg, dataset = PEER_SIZES[size]
    ds = load_dataset(dataset, cfg.image)
    tokens = tokens_from_images(ds.images[:PEER_IMAGES].double(), cfg)
    rng = np.random.default_rng(0)
    params = rng.uniform(-np.pi, np.pi, (cfg.heads, len(cfg.trainable_symbols())))
    grad = rng.normal(size=(PEER_IMAGES, cfg.heads, cfg.tokens, cfg.tokens))
    s_ref, g_ref = ours_exact(cfg, tokens, params, grad)  # closed form, float64, autograd
    backend = QsimAttention(cfg, options=QsimOptions(threads=threads))
    flat = FlatCircuit(backend)

    refs = {PEER_IMAGES: (s_ref, g_ref)}

    def peer(builder, n):
        return lambda: partial(builder(flat, backend).run, tokens[:n], params, grad[:n])

    gates = QsimAttention(cfg, options=QsimOptions(threads=threads), fused=False)
    makers = [
        (*OURS, lambda: partial(ours_torch, backend, tokens, params, grad), PEER_IMAGES),
        (*OURS_GATES, lambda: partial(ours_torch, gates, tokens, params, grad), PEER_IMAGES),
    ]
    for tool, conf, builder, *images in PEER_ROWS:
        n = images[0] if images else PEER_IMAGES
        makers.append((tool, conf, peer(builder, n), n))
        if n not in refs:
            refs[n] = ours_exact(cfg, tokens[:n], params, grad[:n])
    rows, timed = [], []
    for tool, conf, make, n in makers:  # build and check every row first ...
        row = {"tool": tool, "configuration": conf, "size": label, "qubits": flat.num_qubits, "threads": threads}
        row["samples"], row["load_average_1min"] = n, os.getloadavg()[0]
        s_want, g_want = refs[n]
        try:
            run = make()
            t0 = time.perf_counter()
            s, g = run()  # also the warm-up call
            row["check_seconds"] = time.perf_counter() - t0
            row["max_abs_S_diff"] = float(np.abs(s - s_want).max())
            row["max_rel_grad_diff"] = float(np.abs(g - g_want).max() / np.abs(g_want).max())
            if row["max_abs_S_diff"] > S_TOL or row["max_rel_grad_diff"] > GRAD_RTOL:
                row["status"] = (
                    f"excluded: S diff {row['max_abs_S_diff']:.1e} (tolerance {S_TOL:.0e}), gradient diff "
                    f"{row['max_rel_grad_diff']:.1e} relative (tolerance {GRAD_RTOL:.0e})"
                )
            else:
                row["status"] = "ok"
                timed.append((row, run))
        except Exception as e:  # reported as the row's status, never dropped
            row["status"] = f"excluded: {type(e).__name__}: {e}"[:300]
        rows.append(row)
        print(
            f"{label:12s} {threads} thread(s) {tool:12s} {conf[:60]:60s} "
            f"checked in {row.get('check_seconds', 0):6.2f} s"
            f"  |dS| {row.get('max_abs_S_diff', float('nan')):.1e} (tol {S_TOL:.0e})  |dg|/|g| "
            f"{row.get('max_rel_grad_diff', float('nan')):.1e} (tol {GRAD_RTOL:.0e})  {row['status']}",
            file=sys.stderr,
            flush=True,
        )
    # ... then time them in interleaved rounds, so that every row sees the same (shared) machine
    rates: dict[int, list[float]] = {id(row): [] for row, _ in timed}
    for _ in range(WINDOWS):
        for row, run in timed:
            rates[id(row)].append(_rate(run, row["samples"], window, windows=1))
    for row, _ in timed:
        row["window_samples_per_s"] = rates[id(row)]
        row["samples_per_s"] = float(np.median(rates[id(row)]))
        print(
            f"{label:12s} {threads} thread(s) {row['tool']:12s} {row['configuration'][:60]:60s} "
            f"{row['samples_per_s']:9.1f} samples/s",
            file=sys.stderr,
            flush=True,
        )
    return rows


def peer_comparison(out_dir: Path, window: float, threads_list: tuple[int, ...] = (1, 2)) -> dict:
    """Runs ``peer_worker`` for every size and thread count in its own interpreter (qulacs fixes
    its thread count at import), then writes the rows, the best thread count per row and the
    ratios ours / peer as JSON and Markdown."""
    rows, load_start = [], os.getloadavg()[0]
    for size in PEER_SIZES:
        for threads in threads_list:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), QULACS_NUM_THREADS=str(threads))
            cmd = [sys.executable, "-W", "ignore", __file__, "--peer-worker", size, "--threads", str(threads)]
            done = subprocess.run(cmd + ["--window", str(window)], env=env, stdout=subprocess.PIPE, text=True)
            lines = done.stdout.strip().splitlines()
            if done.returncode != 0 or not lines:
                label = PEER_SIZES[size][0]
                rows.append(
                    {"tool": "all", "size": label, "threads": threads, "status": f"worker exit {done.returncode}"}
                )
                continue
            rows.extend(json.loads(lines[-1]))
    summary = _peer_summary(rows)
    day, node = str(date.today()), platform.node()
    result = {
        "date": day,
        "machine": f"{node} ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()})",
        "versions": _versions(),
        "sample": "S (T x T) for one image and the gradient of sum(G * S) w.r.t. all trainable angles",
        "images_per_call": f"{PEER_IMAGES} ({BACKPROP_IMAGES} for qulacs' whole-circuit backprop, image by image)",
        "timing": f"median of {WINDOWS} windows of at least {window:g} s each, taken in rounds over all rows of a "
        "worker, after the checked warm-up call",
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},  # a shared machine
        "tolerances": {"max_abs_S_diff": S_TOL, "max_rel_grad_diff": GRAD_RTOL, "reference": "closed form, float64"},
        "rows": rows,
        "summary": summary,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{day}-{node}-peers"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1))
    markdown = _peer_markdown(result)
    stem.with_suffix(".md").write_text(markdown)
    print(markdown)
    print("wrote", stem.with_suffix(".json"), stem.with_suffix(".md"))
    return result


def _peer_summary(rows: list[dict]) -> list[dict]:
    """Per (tool, configuration) and size: samples/s at each thread count, the best, and ours
    (our training path at its best thread count) over it. A tool's ``strongest`` row is its
    fastest checked configuration."""
    sizes = [label for label, _, _ in PEER_SIZES.values()]
    keys = list(dict.fromkeys((r["tool"], r.get("configuration", "")) for r in rows if r["tool"] != "all"))
    summary = []
    for tool, conf in keys:
        entry = {"tool": tool, "configuration": conf}
        for size in sizes:
            mine = [r for r in rows if r["tool"] == tool and r.get("configuration", "") == conf and r["size"] == size]
            rates = {r["threads"]: r["samples_per_s"] for r in mine if "samples_per_s" in r}
            entry[size] = {
                "samples_per_s": {str(t): v for t, v in sorted(rates.items())},
                "best": max(rates.values()) if rates else None,
                "best_threads": max(rates, key=rates.get) if rates else None,
                "status": sorted({r["status"] for r in mine}),
                "max_abs_S_diff": max((r["max_abs_S_diff"] for r in mine if "max_abs_S_diff" in r), default=None),
                "max_rel_grad_diff": max(
                    (r["max_rel_grad_diff"] for r in mine if "max_rel_grad_diff" in r), default=None
                ),
            }
        summary.append(entry)
    ours = next((e for e in summary if (e["tool"], e["configuration"]) == OURS), None)
    for entry in summary:
        for size in sizes:
            best, ref = entry[size]["best"], ours[size]["best"] if ours else None
            entry[size]["ours_over_this"] = ref / best if best and ref else None
    for tool in {e["tool"] for e in summary} - {OURS[0]}:
        for size in sizes:
            mine = [e for e in summary if e["tool"] == tool and e[size]["best"]]
            if mine:
                max(mine, key=lambda e, size=size: e[size]["best"])[size]["strongest"] = True
    return summary


def _fmt(v, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def _peer_markdown(result: dict) -> str:
    sizes = [label for label, _, _ in PEER_SIZES.values()]
    tol = result["tolerances"]
    lines = [
        f"Training throughput against peers, {result['date']}, {result['machine']}; one sample = "
        f"{result['sample']}; images per call {result['images_per_call']}; {result['timing']}.",
        f"Versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}. The machine is shared: "
        f"1-minute load average {result['load_average_1min']['start']:.1f} at the start, "
        f"{result['load_average_1min']['end']:.1f} at the end (per worker: the JSON rows).",
        f"Every row's S and gradient were checked against the closed form (float64) before timing: "
        f"max |S - S_ref| <= {tol['max_abs_S_diff']:.0e}, max |g - g_ref| / max |g_ref| <= "
        f"{tol['max_rel_grad_diff']:.0e}; a row failing either is excluded. Ratios: ours (best thread "
        f"count) / this row (best thread count); * marks each peer's strongest configuration.",
        "",
        "| tool | configuration | "
        + " | ".join(f"{s} 1 thread | {s} 2 threads | {s} ours / this" for s in sizes)
        + " | max abs S diff | max rel grad diff | status |",
        "|---|---|" + "---|---|---|" * len(sizes) + "---|---|---|",
    ]
    for e in result["summary"]:
        cells = []
        for s in sizes:
            rates = e[s]["samples_per_s"]
            ratio = _fmt(e[s]["ours_over_this"], ".2f") + (" *" if e[s].get("strongest") else "")
            cells += [_fmt(rates.get("1")), _fmt(rates.get("2")), ratio]
        s_diff = max((e[s]["max_abs_S_diff"] for s in sizes if e[s]["max_abs_S_diff"] is not None), default=None)
        g_diff = max((e[s]["max_rel_grad_diff"] for s in sizes if e[s]["max_rel_grad_diff"] is not None), default=None)
        status = "; ".join(sorted({x for s in sizes for x in e[s]["status"]}))
        lines.append(
            f"| {e['tool']} | {e['configuration']} | {' | '.join(cells)} | {_fmt(s_diff, '.1e')} | "
            f"{_fmt(g_diff, '.1e')} | {status} |"
        )
    failed = [r for r in result["rows"] if r["tool"] == "all"]
    for r in failed:
        lines.append(f"\nWorker for {r['size']} at {r['threads']} thread(s) failed: {r['status']}.")
    return "\n".join(lines) + "\n"


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
    ap.add_argument(
        "--threads", default="1,2", help="--gradients / --peers: comma-separated thread counts (default 1,2)"
    )
    ap.add_argument("--peers", action="store_true", help="this project against qulacs and torchquantum")
    ap.add_argument("--window", type=float, default=3.0, help="--peers: seconds per timing window (3 windows)")
    ap.add_argument("--peer-worker", choices=sorted(PEER_SIZES), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer_worker:
        print(json.dumps(peer_worker(args.peer_worker, int(args.threads), args.window)))
        return
    if args.peers:
        peer_comparison(Path(args.out_dir), args.window, tuple(int(t) for t in args.threads.split(",")))
        return
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
