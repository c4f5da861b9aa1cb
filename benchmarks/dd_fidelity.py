"""Trajectory fidelity of the digits circuit with and without dynamical decoupling (issue 15).

For each target and ``--dd`` mode the digits attention circuit (8x8 image, 4x4 patches, 2 heads,
1 ansatz layer, bell readout, as ``noisy_throughput``) is compiled at ``--opt 2`` and simulated by
the batched trajectory engine with the target's calibrated noise, including the coherent idle
terms (static ZZ, quasi-static dephasing; docs/noise/idle-noise.md). The figure of merit is the
classical fidelity (sum sqrt(p q))^2 of the measured qubits' trajectory-averaged distribution p
against the noiseless distribution q of the same compiled circuit (the engine at noise scale 0,
exact), *before* readout bit flips: readout error is the same with or without DD, so it is
factored out. Bindings are random angles (data and trainable symbols uniform in (-pi, pi)),
the same for every mode of a target; the trajectory error is the spread between the fidelities
of the even and the odd trajectories (each half has twice the variance of the full mean).

The ratio of a mode to no DD is mean(F_mode) / mean(F_none) over the bindings. It has two
errors: the trajectory error (propagated from both rows), and the binding error, which says how
much another sample of random bindings would move it: the delta-method standard error of a ratio
of paired means, std(F_mode - R F_none) / (sqrt(B) mean(F_none)) over the bindings (paired: the
same bindings in both rows; it includes the trajectory error of each binding). The per-binding
gains differ a lot (a few bindings carry most of it), so the binding error dominates at a few
bindings.

Writes benchmarks/results/<date>-<machine>-dd-fidelity.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.noisy_attention import NoisyAttention
from hqvit.targets import resolve_target

CFG = HQViTConfig((8, 8), (4, 4), 2, 1, "bell")


def fidelity(p: np.ndarray, q: np.ndarray) -> float:
    """Classical fidelity of two distributions (each renormalized: float32 drift)."""
    p, q = np.clip(p, 0, None), np.clip(q, 0, None)
    return float(np.sum(np.sqrt(p / p.sum() * q / q.sum())) ** 2)


def measure(target: str, dd: str, bindings: int, trajectories: int, seed: int) -> dict:
    """Mean fidelity over ``bindings`` random bindings of ``trajectories`` trajectories each."""
    t0 = time.perf_counter()
    compiled = compile_hqvit(CFG, resolve_target(target), opt=2, seed=0, dd=dd)
    noisy = NoisyAttention(CFG, compiled, 1.0, trajectories=2, seed=seed)
    ideal = NoisyAttention(CFG, compiled, 0.0, trajectories=2, seed=seed)
    rng = np.random.default_rng(seed)
    fids, halves = [], []
    for k in range(bindings):
        symbols = rng.uniform(-np.pi, np.pi, len(noisy.symbols))
        rows = noisy.engine.run(symbols[None], trajectories, np.random.default_rng(seed + 1 + k))[0][0]
        exact = ideal.engine.run(symbols[None], 1, np.random.default_rng(0))[0][0, 0]
        q = ideal._marginal(exact[None])[0]
        fids.append(fidelity(noisy._marginal(rows.mean(axis=0)[None])[0], q))
        a = fidelity(noisy._marginal(rows[0::2].mean(axis=0)[None])[0], q)
        b = fidelity(noisy._marginal(rows[1::2].mean(axis=0)[None])[0], q)
        halves.append(abs(a - b))
    dd_info = compiled.dd or {}
    estimate = compiled.success_probability(1.0)
    return {
        "target": target,
        "dd": dd,
        "qubits": noisy.n,
        "duration_ns": compiled.success_probability(1.0)["duration_ns"],
        "dd_gates": dd_info.get("gates", 0),
        # DD pulses that start inside their moment (Schedule.offsets: mid-gate echoes, staggering)
        "dd_offset_pulses": len(compiled.schedule.offsets),
        "dd_error_estimate": dd_info.get("error_estimate"),
        "fidelity_estimate": estimate["fidelity_estimate"],
        "fidelity_estimate_coherent": estimate["fidelity_estimate_coherent"],
        "fidelity": float(np.mean(fids)),
        "fidelity_per_binding": [round(f, 5) for f in fids],
        # |F_even - F_odd| / 2 estimates the full mean's trajectory error (per binding, rms)
        "trajectory_error": float(math.sqrt(np.mean(np.square(halves))) / 2 / math.sqrt(bindings)),
        "bindings": bindings,
        "trajectories": trajectories,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def ratio_errors(row: dict, base: dict) -> dict:
    """The mode's fidelity over no DD's, with its trajectory and its binding error (docstring)."""
    f1, f0 = np.array(row["fidelity_per_binding"]), np.array(base["fidelity_per_binding"])
    ratio = row["fidelity"] / base["fidelity"]
    trajectory = ratio * math.hypot(
        row["trajectory_error"] / row["fidelity"], base["trajectory_error"] / base["fidelity"]
    )
    bindings = float((f1 - ratio * f0).std(ddof=1) / math.sqrt(len(f0)) / f0.mean()) if len(f0) > 1 else None
    return {
        "ratio": ratio,
        "ratio_error": trajectory,  # trajectory error only (first-order propagation of both rows)
        "ratio_error_bindings": bindings,
        "per_binding": [round(a / b, 4) for a, b in zip(f1, f0, strict=True)],
    }


def plot(rows: list[dict], ratios: dict, path: Path) -> None:
    """Fidelity per target and mode (trajectory error bars) and each mode's ratio to no DD with
    its binding error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(r["target"] for r in rows))
    modes = list(dict.fromkeys(r["dd"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(modes)
    for k, mode in enumerate(modes):
        by = {r["target"]: r for r in rows if r["dd"] == mode}
        pos = [i + (k - (len(modes) - 1) / 2) * width for i in range(len(targets))]
        axes[0].bar(
            pos,
            [by[t]["fidelity"] if t in by else float("nan") for t in targets],
            width,
            yerr=[by[t]["trajectory_error"] if t in by else 0 for t in targets],
            capsize=2,
            label=f"dd {mode}",
            color=f"C{k}",
        )
        if mode != "none":
            vals = [ratios.get(t, {}).get(mode) for t in targets]
            axes[1].bar(
                pos,
                [v["ratio"] if v else float("nan") for v in vals],
                width,
                yerr=[(v["ratio_error_bindings"] or 0) if v else 0 for v in vals],
                capsize=2,
                label=f"dd {mode}",
                color=f"C{k}",
            )
    for ax in axes:
        ax.set_xticks(range(len(targets)), targets)
    axes[0].set_title("distribution fidelity, readout factored out (± trajectory error)", fontsize=9)
    axes[0].legend(fontsize=8)
    axes[1].axhline(1.0, color="grey", lw=0.8)
    axes[1].axhline(1.3, color="grey", lw=0.8, ls=":")
    top = [v["ratio"] + (v["ratio_error_bindings"] or 0) + 0.03 for t in ratios.values() for v in t.values()]
    axes[1].set_ylim(0.8, max([1.4] + top))
    axes[1].set_title("fidelity / no DD (± binding error; dotted: 1.3)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=["ibm-sherbrooke", "ibm-torino", "willow105"])
    ap.add_argument("--dd", nargs="+", default=["none", "xy4", "auto"])
    ap.add_argument("--bindings", type=int, default=32)
    ap.add_argument("--trajectories", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--date", default=time.strftime("%Y-%m-%d"))
    ap.add_argument("--machine", default="vm")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    rows = []
    for target in args.targets:
        for dd in args.dd:
            row = measure(target, dd, args.bindings, args.trajectories, args.seed)
            print(json.dumps(row), flush=True)
            rows.append(row)
    ratios = {}
    for target in args.targets:
        by = {r["dd"]: r for r in rows if r["target"] == target}
        if "none" in by:
            ratios[target] = {dd: ratio_errors(r, by["none"]) for dd, r in by.items() if dd != "none"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{args.date}-{args.machine}-dd-fidelity"
    meta = {
        "machine": args.machine,
        "python": platform.python_version(),
        "circuit": "digits 8x8 / 4x4, opt 2",
        "load": os.getloadavg(),
    }
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "ratios": ratios}, indent=2) + "\n")
    lines = [
        "# Digits circuit: trajectory fidelity with and without DD (readout factored out)",
        "",
        f"{args.bindings} random bindings x {args.trajectories} trajectories per row (the same bindings for "
        "every mode of a target); ± = trajectory error of the mean (from the even/odd halves); the ratio's "
        "binding error is its standard error over the sample of bindings (paired, delta method). Model: "
        "calibrated gate errors, T1/T2 damping, static ZZ, quasi-static dephasing (docs/noise/idle-noise.md). "
        f"Load average at the end {meta['load'][0]:.1f}.",
        "",
        "| target | dd | DD gates (inside a moment) | estimate without → with | fidelity | ± | vs none "
        "| ± trajectories | ± bindings |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = ratios.get(r["target"], {}).get(r["dd"])
        est = r["dd_error_estimate"]
        est = f"{est['without']:.4g} → {est['with']:.4g}" if est else ""
        vs = (
            f"{ratio['ratio']:.3f} | {ratio['ratio_error']:.3f} | {ratio['ratio_error_bindings']:.3f}"
            if ratio
            else "1 | | "
        )
        lines.append(
            f"| {r['target']} | {r['dd']} | {r['dd_gates']} ({r['dd_offset_pulses']}) | {est} | {r['fidelity']:.4f} | "
            f"{r['trajectory_error']:.4f} | {vs} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    plot(rows, ratios, stem.with_suffix(".png"))
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
