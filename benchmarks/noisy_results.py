"""Assemble the noisy-simulation figures of issue 13 into one JSON and one Markdown table.

Inputs are the JSON files written by ``noisy_throughput.py`` (before: the code at the commit
before the batched engine, run from an unpacked copy of that commit; after: this code) and by
``compare_noisy.py``:

    python benchmarks/noisy_results.py --before-eval B.json --after-eval A.json \\
        --before-train BT.json --after-train AT.json --aer AER.json [--out-dir benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DATE, MACHINE = "2026-12-04", "vm"


def _load(path: str | None) -> dict:
    return json.loads(Path(path).read_text()) if path else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("before-eval", "after-eval", "before-train", "after-train", "aer"):
        ap.add_argument(f"--{name}")
    ap.add_argument("--out-dir", default="benchmarks/results")
    args = ap.parse_args()
    before_e, after_e = _load(args.before_eval), _load(args.after_eval)
    before_t, after_t = _load(args.before_train), _load(args.after_train)
    aer = _load(args.aer)
    rows_eval = []
    for b in before_e.get("eval", []):
        a = next(r for r in after_e["eval"] if r["target"] == b["target"])
        rows_eval.append(
            {
                "target": b["target"],
                "before_s_per_image_per_trajectory": b["seconds_per_image_per_trajectory"],
                "after_s_per_image_per_trajectory": a["seconds_per_image_per_trajectory"],
                "speedup": b["seconds_per_image_per_trajectory"] / a["seconds_per_image_per_trajectory"],
                "before": b,
                "after": a,
            }
        )
    rows_train = []
    for b in before_t.get("train", []):
        a = next(r for r in after_t["train"] if r["target"] == b["target"] and r["trajectories"] == b["trajectories"])
        rows_train.append(
            {
                "target": b["target"],
                "trajectories": b["trajectories"],
                "before_samples_per_s": b["samples_per_s"],
                "after_samples_per_s": a["samples_per_s"],
                "speedup": a["samples_per_s"] / b["samples_per_s"],
            }
        )
    out = Path(args.out_dir)
    result = {"date": DATE, "machine": MACHINE, "eval": rows_eval, "train": rows_train, "aer": aer.get("rows", [])}
    (out / f"{DATE}-{MACHINE}-noisy.json").write_text(json.dumps(result, indent=1) + "\n")
    md = [
        f"# Noisy simulation throughput ({DATE}, {MACHINE}: 2 cores shared with other work, 1 thread)",
        "",
        "Noise-study evaluation (digits model, calibrated noise, 32 trajectories, 16 test images, median of 3),",
        "seconds per image per trajectory:",
        "",
        "| target | before | after | speedup |",
        "|---|---|---|---|",
    ]
    for r in rows_eval:
        md.append(
            f"| {r['target']} | {r['before_s_per_image_per_trajectory'] * 1e3:.2f} ms | "
            f"{r['after_s_per_image_per_trajectory'] * 1e3:.2f} ms | {r['speedup']:.1f}x |"
        )
    md += ["", "`train --noise` (digits, --limit 20, batch 8, one epoch, median of 3), samples/s:", ""]
    md += ["| target | trajectories | before | after | speedup |", "|---|---|---|---|---|"]
    for r in rows_train:
        md.append(
            f"| {r['target']} | {r['trajectories']} | {r['before_samples_per_s']:.2f} | "
            f"{r['after_samples_per_s']:.1f} | {r['speedup']:.0f}x |"
        )
    if aer.get("rows"):
        md += ["", "Against qiskit-aer (statevector trajectories, same circuit and channels), s per trajectory:", ""]
        md += ["| target | ours | Aer | Aer / ours | check max z |", "|---|---|---|---|---|"]
        for r in aer["rows"]:
            if "aer_error" in r:
                md.append(f"| {r['target']} | – | – | – | Aer failed: {r['aer_error'][:80]} |")
            elif r.get("agree"):
                md.append(
                    f"| {r['target']} | {r['ours_s_per_trajectory'] * 1e3:.2f} ms | "
                    f"{r['aer_s_per_trajectory'] * 1e3:.0f} ms | {r['aer_over_ours']:.0f} | {r['check_max_z']:.1f} |"
                )
            else:
                md.append(f"| {r['target']} | – | – | – | {r['check_max_z']:.1f} (disagree) |")
    (out / f"{DATE}-{MACHINE}-noisy.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
