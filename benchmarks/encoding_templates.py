"""Which exact state-preparation template is cheapest for one HQViT copy, logically and on a device?

One copy of the attention circuit prepares an n-qubit real state (n = 6, 8, 10 for digits 8x8,
MNIST 16x16 and 32x32 with patch 4x4). Compared, CNOTs per copy:

- Möttönen: the uniformly controlled RY tree the frontend builds, 2^n - 2 CNOTs logically; on a
  device, our synthesis (``passes/synthesize_hqvit.py``: parity walks on the placed region) as
  compiled with ``--opt 3``, read from its encode segment (both copies, halved);
- isometry: Qiskit's ``StatePreparation`` (Iten et al. isometry decomposition), transpiled at O3;
- Schmidt (Plesch and Brukner 2011): the SVD of the amplitudes as a 2^k x 2^(n-k) matrix,
  k = n // 2: the singular values prepared on k qubits, k CNOTs copying them, then the two
  unitaries of the SVD, each synthesized by Qiskit (quantum Shannon decomposition), O3.

Qiskit's rows are transpiled onto the same coupling graphs as ours (all-to-all, a line of n
qubits, and the region our synthesis placed a copy on for grid and heavy-hex) and each is checked
to prepare the state (statevector, final layout applied) before its count is used. The template
angles of the isometry and Schmidt rows are a numeric function of each image (an SVD and a
unitary decomposition per image), unlike the Möttönen tree's, which are affine in the data
symbols and compiled once.

Usage: python benchmarks/encoding_templates.py [--out benchmarks/results] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_compilers import machine_label, result_stem  # noqa: E402

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit  # noqa: E402
from hqvit.compiler.pipeline import PRESETS  # noqa: E402
from hqvit.passes import synthesize_hqvit  # noqa: E402
from hqvit.passes.base import PassContext  # noqa: E402
from hqvit.passes.register_placement import candidate_placements  # noqa: E402
from hqvit.targets import resolve_target  # noqa: E402

SIZES = {
    6: ("digits 8x8", (8, 8), "line:13"),
    8: ("MNIST 16x16", (16, 16), "line:17"),
    10: ("MNIST 32x32", (32, 32), "line:21"),
}
REGION_TARGETS = {6: ["grid:4x4", "heavy-hex:5"], 8: ["grid:5x5", "heavy-hex:5"], 10: ["grid:5x5", "heavy-hex:5"]}


def ours(n: int, target_name: str) -> tuple[int, int, list[tuple[int, int]]]:
    """Our synthesis on ``target_name`` (--opt 3), per copy: the tree's walk ending in any
    permutation (the cheapest over the walk seeds --opt 3 tries, on the region the compile chose:
    the template alone, like Qiskit's rows with their free final layout); the encode segment as
    compiled (plus the end arrangement that puts each Bell pair side by side); that region's
    edges, in region indices."""
    _, image, _ = SIZES[n]
    target = resolve_target(target_name)
    logical = build_attention_circuit(HQViTConfig(image=image, patch=(4, 4)))
    ctx = PassContext(target, device=target, seed=0, options=dict(PRESETS[3]))
    physical = synthesize_hqvit.run(logical, ctx)
    encode = next(s for s in physical.segments if s.name == "encode")
    compiled = sum(g.name == "cx" for g in encode.ops) // 2
    regions = tuple(tuple(r) for r in ctx.properties["synthesis"]["regions"])
    placement = next(p for p in candidate_placements(target, n, PRESETS[3]["placements"]) if p.regions == regions)
    shape = placement.shape(0, target)
    seeds = synthesize_hqvit.WALK_SEEDS.get(PRESETS[3]["placements"], 1) if n <= 7 else 1
    walk = min(synthesize_hqvit._walk_cost(*synthesize_hqvit._levels(shape, n, s), shape) for s in range(seeds))
    index = {q: i for i, q in enumerate(regions[0])}
    edges = [(index[a], index[b]) for a, b in target.edges if a in index and b in index]
    return walk, compiled, edges


def schmidt_circuit(v: np.ndarray, n: int):
    """Plesch-Brukner: v as a 2^k x 2^m matrix M = U diag(s) V^T (qubit order: Qiskit's, index
    bit j is qubit j; the high k qubits index rows)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import StatePreparation, UnitaryGate

    k = n // 2
    m = n - k
    u, s, vh = np.linalg.svd(v.reshape(2**k, 2**m))
    qc = QuantumCircuit(n)
    high, low = list(range(m, n)), list(range(m))
    qc.append(StatePreparation(s), high)  # sum_i s_i |i>_high (k <= m: 2^k values)
    for i in range(k):
        qc.cx(high[i], low[i])  # sum_i s_i |i>|i>
    qc.append(UnitaryGate(u), high)
    qc.append(UnitaryGate(vh.T), low)
    return qc


def isometry_circuit(v: np.ndarray, n: int):
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import StatePreparation

    qc = QuantumCircuit(n)
    qc.append(StatePreparation(v), range(n))
    return qc


def prepared_state(out, n: int) -> np.ndarray:
    """The logical state a transpiled circuit prepares: its statevector with the final layout
    undone (logical qubit i ends on physical qubit final[i])."""
    from qiskit.quantum_info import Statevector

    sv = Statevector(out).data.reshape([2] * out.num_qubits)  # axes: qubit n-1 ... qubit 0
    final = out.layout.final_index_layout() if out.layout is not None else list(range(n))
    axes = [out.num_qubits - 1 - final[i] for i in reversed(range(n))]  # logical n-1 ... 0
    return np.transpose(sv, axes).reshape(-1)


def qiskit_cnots(qc, n: int, edges: list[tuple[int, int]] | None, v: np.ndarray) -> dict:
    from qiskit import transpile
    from qiskit.transpiler import CouplingMap

    cm = None if edges is None else CouplingMap([list(e) for e in edges] + [[b, a] for a, b in edges])
    t0 = time.perf_counter()
    out = transpile(qc, basis_gates=["cx", "u"], optimization_level=3, coupling_map=cm, seed_transpiler=0)
    seconds = time.perf_counter() - t0
    overlap = abs(np.vdot(prepared_state(out, n), v))
    return {"cnots": int(out.count_ops().get("cx", 0)), "verified": bool(abs(overlap - 1) < 1e-6), "seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--seed", type=int, default=0, help="seed of the random real amplitudes (one state per size)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for n, (size, _, line) in SIZES.items():
        v = rng.random(2**n)
        v /= np.linalg.norm(v)
        templates = {"isometry": isometry_circuit(v, n), "schmidt": schmidt_circuit(v, n)}
        graphs: list[tuple[str, list | None, int, int | None]] = [("all-to-all", None, 2**n - 2, None)]
        walk, compiled, _ = ours(n, line)
        graphs.append((f"line of {n} ({line})", [(i, i + 1) for i in range(n - 1)], walk, compiled))
        for name in REGION_TARGETS[n]:
            walk, compiled, edges = ours(n, name)
            graphs.append((f"{name} region", edges, walk, compiled))
        for graph, edges, mottonen, compiled in graphs:
            row = {"size": size, "n": n, "graph": graph, "mottonen": mottonen, "mottonen_arranged": compiled}
            for template, qc in templates.items():
                r = qiskit_cnots(qc, n, edges, v)
                row[template] = r["cnots"] if r["verified"] else None
                row[f"{template}_verified"] = r["verified"]
            best = min((row[t], t) for t in ("mottonen", "isometry", "schmidt") if row[t] is not None)
            row["cheapest"] = best[1]
            rows.append(row)
            print(json.dumps(row), flush=True)
    stem = result_stem(Path(args.out), date.today().isoformat(), "encoding-templates")
    meta = {"date": date.today().isoformat(), "machine": machine_label(), "seed": args.seed}
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = [
        f"CNOTs per HQViT copy by state-preparation template, {meta['date']} (one random real state per size,",
        f"seed {args.seed}; Qiskit rows transpiled at O3 and verified by statevector; Möttönen: 2^n - 2",
        "logically, our --opt 3 synthesis on the device graphs). Lower is better.",
        "",
        "| size | n | graph | Möttönen (ours) | ours with the Bell-pair arrangement | isometry (Qiskit) "
        "| Schmidt + QSD (Qiskit) | Schmidt / ours | cheapest |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['schmidt'] / r['mottonen']:.2f}" if r["schmidt"] and r["mottonen"] else "–"
        lines.append(
            f"| {r['size']} | {r['n']} | {r['graph']} | {r['mottonen']} | {r['mottonen_arranged'] or '–'} | "
            f"{r['isometry'] or 'unverified'} | "
            f"{r['schmidt'] or 'unverified'} | {ratio} | {r['cheapest']} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.json and .md")


if __name__ == "__main__":
    main()
