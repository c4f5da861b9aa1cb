"""A fingerprint of every compiled output of the comparison's circuits, to show a refactor changed nothing.

For each circuit of ``compare_compilers.py`` (the HQViT circuits, symbolic, and the general
circuits), each of its targets and each preset, this compiles with seed 0 and hashes the compiled
gate list with both layouts and the schedule. ``--write`` stores the hashes, ``--check`` compares
against a stored file and lists every case that differs. Needs the ``bench`` extra (mqt-bench
generates the general circuits). The hashes depend on the machine's floating-point libraries
(numpy's and libm's last bits move resynthesized angles), so write the baseline and check it on
the same machine: the stored file was written on the machine of the last refactor.

    python benchmarks/compile_fingerprints.py --write benchmarks/results/fingerprints.json
    python benchmarks/compile_fingerprints.py --check benchmarks/results/fingerprints.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from compare_compilers import HQVIT, TARGETS  # noqa: E402
from general_circuits import general_circuits  # noqa: E402

PRESETS = (0, 1, 2, 3)


def fingerprint(compiled) -> str:
    """Hash of what a user gets: gates in order with their angles, layouts, and the moments."""
    parts = [
        repr([(s.name, s.ops) for s in compiled.circuit.segments]),
        repr(list(compiled.initial_layout)),
        repr(list(compiled.final_layout)),
        repr([[(g.name, g.qubits) for g in m] for m in compiled.schedule.moments]),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _cases() -> list[tuple[str, str]]:
    """(label, kind) where kind is 'hqvit:<index>' or the general circuit's label."""
    return [(label, f"hqvit:{k}") for k, (label, _) in enumerate(HQVIT)] + [
        (label, "general") for label, _ in general_circuits()
    ]


def _run(job: tuple[str, str, str]) -> tuple[str, str, float]:
    from hqvit.compiler.pipeline import compile_circuit, compile_hqvit
    from hqvit.compiler.qasm import from_qasm2
    from hqvit.targets import resolve_target

    target_name, label, kind = job
    target = resolve_target(target_name)
    general = dict(general_circuits())
    out = []
    for opt in PRESETS:
        t0 = time.perf_counter()
        if kind.startswith("hqvit:"):
            compiled = compile_hqvit(HQVIT[int(kind[6:])][1], target, opt=opt, seed=0)
        else:
            compiled = compile_circuit(from_qasm2(general[label], label), target, opt=opt, seed=0)
        out.append((f"{target_name} | {label} | opt {opt}", fingerprint(compiled), time.perf_counter() - t0))
    return out


def compute(workers: int) -> dict[str, str]:
    jobs = [(t, label, kind) for t in TARGETS for label, kind in _cases()]
    with multiprocessing.get_context("forkserver").Pool(workers) as pool:
        results = [r for chunk in pool.imap(_run, jobs) for r in chunk]
    return {key: digest for key, digest, _ in results}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="FILE", help="store the fingerprints")
    group.add_argument("--check", metavar="FILE", help="compare with stored fingerprints")
    ap.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    now = compute(args.workers)
    print(f"{len(now)} compiles in {time.perf_counter() - t0:.0f} s")
    if args.write:
        Path(args.write).write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        return 0
    stored = json.loads(Path(args.check).read_text())
    differ = sorted(k for k in stored.keys() | now.keys() if stored.get(k) != now.get(k))
    for k in differ:
        print(f"differs: {k}: {stored.get(k)} -> {now.get(k)}")
    print(f"{len(now) - len(differ)} of {len(now)} identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
