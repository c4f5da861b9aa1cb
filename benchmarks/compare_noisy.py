"""Noisy simulation: this project's batched trajectories against qiskit-aer on the same circuit.

For each target (default ibm-torino and sycamore23) the digits attention circuit is compiled
(``--opt 2``), bound to one real image and random trainable angles, and the target's noise model
is inserted (``TargetNoiseModel``, calibrated scale): the operation list that both simulators get.
qiskit-aer receives every gate as its exact unitary and every channel as the same channel:
mixtures as ``mixed_unitary_error``, phase damping as the phase-flip mixture with the same
coherence factor sqrt(1 - lambda) (the same channel), the static ZZ as its diagonal unitary, and
amplitude damping as a bare ``kraus`` instruction with Cirq's Kraus operators, which Aer's
statevector method samples from the state. Not as a ``QuantumError`` (``amplitude_damping_error``):
a non-unitary error inside a circuit's noise instructions made Aer 0.18 stop with "QuantumError:
Kraus is empty" on the sycamore23 circuit, every seed (bisected to a two-qubit depolarizing error
some instructions after a damping error; each instruction alone ran, and so did the torino circuit):
the error's canonical Kraus form, which its sampling then reads, had not been computed. Aer runs its
statevector trajectory method (one shot = one trajectory) with ``save_probabilities`` per shot:
each trajectory's exact distribution, the quantity this project averages. Before anything
is timed, the two are checked against each other: every qubit's P(1) and every outcome with
p > 2 / 2^n (in another 2000 of ours) within 5 standard errors (per-trajectory spread of both;
``--check-shots`` Aer trajectories against 2000 of ours).

Timing: median of 3 windows, ``--trajectories`` trajectories each for ours and a quarter of
that for Aer (about 1 s per trajectory), one thread for both (Aer ``max_parallel_threads=1``),
seconds per trajectory. Writes JSON and Markdown to ``--out-dir``.
Needs qiskit-aer (``pip install qiskit-aer``); peers are imported here only.

    python benchmarks/compare_noisy.py [--targets ibm-torino,sycamore23] [--trajectories 64]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import socket
import statistics
import time
from pathlib import Path

import numpy as np

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.ir.gates import gate_unitary
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import data_bindings, tokens_from_images
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.runtime.noisy_program import noisy_operations
from hqvit.targets import resolve_target

MACHINE = socket.gethostname()


MARKOVIAN = "zz=0,t2star_ratio=1"  # target options that switch the coherent idle noise off


def with_options(name: str, options: str) -> str:
    return f"{name},{options}" if "@" in name else f"{name}@{options}"


def markovian(name: str) -> str:
    """``name`` with the coherent idle terms (static ZZ, quasi-static detuning) switched off."""
    return with_options(name, MARKOVIAN)


def setup(target: str):
    cfg = HQViTConfig()  # digits 8x8, patch 4x4, L = 2, one head, Bell swap test
    compiled = compile_hqvit(cfg, resolve_target(target), opt=2, seed=0)
    noisy = NoisyAttention(cfg, compiled, 1.0, trajectories=2)
    image = load_dataset("digits", (8, 8)).images[:1].double()
    data = data_bindings(tokens_from_images(image, cfg))[0].numpy()
    params = np.random.default_rng(0).uniform(-np.pi, np.pi, len(noisy.symbols) - noisy.n_data)
    return noisy, np.concatenate([data, params])


def aer_circuit(noisy: NoisyAttention, symbols: np.ndarray):
    """The noisy operation list as a qiskit circuit: unitaries and Aer errors as instructions."""
    import cirq
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import UnitaryGate
    from qiskit.quantum_info import Kraus
    from qiskit_aer.noise import mixed_unitary_error, pauli_error

    values = dict(zip(noisy.symbols, symbols.tolist(), strict=True))
    index = {q: i for i, q in enumerate(noisy.line)}
    qc = QuantumCircuit(noisy.n)
    for kind, op in noisy_operations(noisy.compiled, noisy.noise, noisy.remap, noisy.line):
        if kind == "gate":
            m = gate_unitary(op.name, [a.bind(values) for a in op.angles])
            qc.append(UnitaryGate(m), list(reversed(op.qubits)))  # qiskit: first qarg least significant
            continue
        if kind == "zz":  # static ZZ: the |11> phase of a coupler, a fixed diagonal unitary
            x, y, phase = op
            qc.append(UnitaryGate(np.diag([1, 1, 1, np.exp(-1j * phase)])), [y, x])  # as the engine's
            continue
        if kind != "channel":
            raise ValueError(f"{kind} noise has no fixed Aer instruction; compare without it (--models markovian,zz)")
        qubits = [index[q] for q in op.qubits]
        if isinstance(op.gate, cirq.AmplitudeDampingChannel):
            # a bare Kraus instruction (Aer samples it from the state), not a QuantumError: see
            # the module docstring for why
            qc.append(Kraus(list(cirq.kraus(op))).to_instruction(), list(reversed(qubits)))
            continue
        if isinstance(op.gate, cirq.PhaseDampingChannel):  # its exact phase-flip mixture (docstring)
            q = (1.0 - np.sqrt(1.0 - float(op.gate.gamma))) / 2.0
            error = pauli_error([("I", 1.0 - q), ("Z", q)])
        else:
            error = mixed_unitary_error([(np.asarray(u), float(p)) for p, u in cirq.mixture(op)])
        qc.append(error.to_instruction(), list(reversed(qubits)))
    qc.save_probabilities(label="p", pershot=True)
    return qc


def aer_probabilities(simulator, circuit, shots: int, seed: int) -> np.ndarray:
    """Aer's per-trajectory (per-shot) distributions (shots, 2^n), big-endian over the qubits."""
    result = simulator.run(circuit, shots=shots, seed_simulator=seed).result()
    little = np.asarray(result.data(0)["p"]).reshape((shots,) + (2,) * circuit.num_qubits)
    n = circuit.num_qubits
    return little.transpose([0] + [1 + q for q in range(n)][::-1]).reshape(shots, -1)


def check(ours: np.ndarray, aer: np.ndarray, pilot: np.ndarray) -> tuple[float, int, float]:
    """Max z over each qubit's P(1) and every outcome with p > 2 / 2^n in ``pilot`` (an independent
    run of ours: outcomes picked by the sample they are tested on would be those that sample
    happens to overestimate), per-trajectory standard errors of both, the number of quantities,
    and the total variation of the means."""
    n = int(np.log2(ours.shape[1]))

    def events(rows: np.ndarray) -> np.ndarray:
        bits = rows.reshape((rows.shape[0],) + (2,) * n)
        marg = [bits.sum(axis=tuple(1 + k for k in range(n) if k != q))[:, 1] for q in range(n)]
        return np.concatenate([np.stack(marg, axis=1), rows[:, keep]], axis=1)

    keep = pilot.mean(axis=0) > 2.0 / pilot.shape[1]
    a, b = events(ours), events(aer)
    se = np.hypot(a.std(axis=0, ddof=1) / np.sqrt(len(a)), b.std(axis=0, ddof=1) / np.sqrt(len(b)))
    z = np.abs(a.mean(axis=0) - b.mean(axis=0)) / se
    return float(z.max()), int(len(z)), float(0.5 * np.abs(ours.mean(axis=0) - aer.mean(axis=0)).sum())


def compare(target: str, trajectories: int, windows: int, check_shots: int) -> dict:
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    noisy, symbols = setup(target)
    engine = noisy.engine
    # check first: per-trajectory distributions of both, compared within 5 standard errors
    ours = engine.run(symbols[None], 2000, np.random.default_rng(1))[0][0]
    pilot = engine.run(symbols[None], 2000, np.random.default_rng(2))[0][0]
    simulator = AerSimulator(method="statevector", max_parallel_threads=1)
    circuit = transpile(aer_circuit(noisy, symbols), simulator, optimization_level=0)
    try:
        aer = aer_probabilities(simulator, circuit, check_shots, 10)
    except Exception as e:  # Aer's own failure: recorded, not hidden
        return {"target": target, "qubits": noisy.n, "agree": False, "aer_error": str(e).strip()[:300]}
    max_z, quantities, tv = check(ours, aer, pilot)
    agree = bool(max_z < 5)
    row = {
        "target": target,
        "qubits": noisy.n,
        "operations": int(len(circuit.data)),
        "check_trajectories": {"ours": len(ours), "aer": check_shots},
        "check_quantities": quantities,
        "check_max_z": max_z,
        "check_total_variation_of_means": tv,
        "agree": agree,
    }
    if not agree:
        return row
    times_ours, times_aer = [], []
    aer_trajectories = max(4, trajectories // 4)  # Aer takes ~1 s per trajectory here
    for w in range(windows):
        t0 = time.perf_counter()
        engine.run(symbols[None], trajectories, np.random.default_rng(100 + w))
        times_ours.append((time.perf_counter() - t0) / trajectories)
        t0 = time.perf_counter()
        aer_probabilities(simulator, circuit, aer_trajectories, 100 + w)
        times_aer.append((time.perf_counter() - t0) / aer_trajectories)
    row.update(
        ours_s_per_trajectory=statistics.median(times_ours),
        aer_s_per_trajectory=statistics.median(times_aer),
        ours_windows=times_ours,
        aer_windows=times_aer,
    )
    row["aer_over_ours"] = row["aer_s_per_trajectory"] / row["ours_s_per_trajectory"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--targets", default="ibm-torino,sycamore23")
    ap.add_argument("--trajectories", type=int, default=64, help="trajectories per timing window")
    ap.add_argument("--windows", type=int, default=3)
    ap.add_argument("--check-shots", type=int, default=200, help="Aer trajectories for the check")
    ap.add_argument(
        "--models",
        default="markovian",
        help="comma-separated noise models: markovian (depolarizing, damping; zz=0,t2star_ratio=1), zz (also "
        "the static ZZ, the engine's fused phase passes; t2star_ratio=1), coherent (the target as it is: fails "
        "on quasi-static detuning, which has no fixed Aer instruction)",
    )
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    args = ap.parse_args()
    DATE = args.date  # noqa: N806
    import qiskit_aer

    rows = []
    for target in args.targets.split(","):
        for model in args.models.split(","):
            name = {"markovian": markovian(target), "zz": with_options(target, "t2star_ratio=1")}.get(model, target)
            rows.append(compare(name, args.trajectories, args.windows, args.check_shots))
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "date": DATE,
        "machine": MACHINE,
        "platform": platform.machine(),
        "python": platform.python_version(),
        "qiskit_aer": qiskit_aer.__version__,
        "threads": 1,
        "circuit": "digits 8x8, patch 4x4, L=2, one head, --opt 2, one image, random trainable angles",
        "rows": rows,
    }
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{DATE}-{MACHINE}-noisy-aer"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        f"# Noisy simulation vs qiskit-aer ({DATE}, {MACHINE}, 1 thread)",
        "",
        "Same compiled circuit and noise model; seconds per trajectory (median of "
        f"{args.windows} windows of {args.trajectories}); distributions checked first.",
        "",
        "| target | qubits | ops (Aer) | ours s/trajectory | Aer s/trajectory | Aer / ours | check max z | TV |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "aer_error" in r:
            lines.append(f"| {r['target']} | {r['qubits']} | – | – | – | – | Aer failed: {r['aer_error'][:80]} | – |")
            continue
        if not r["agree"]:
            lines.append(
                f"| {r['target']} | {r['qubits']} | {r['operations']} | – | – | – | {r['check_max_z']:.1f} "
                f"(disagree) | {r['check_total_variation_of_means']:.3f} |"
            )
            continue
        lines.append(
            f"| {r['target']} | {r['qubits']} | {r['operations']} | {r['ours_s_per_trajectory']:.2e} | "
            f"{r['aer_s_per_trajectory']:.2e} | {r['aer_over_ours']:.1f} | {r['check_max_z']:.1f} | "
            f"{r['check_total_variation_of_means']:.3f} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
