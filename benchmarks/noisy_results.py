"""Assemble the noisy-simulation figures of issue 13 into one JSON and one Markdown table.

Inputs are JSON files written by ``noisy_throughput.py --mode eval`` (before: the code at the
commit before the batched engine, run from an unpacked copy of that commit, whose noise model is
the Markovian one; after: this code with ``--target-options zz=0,t2star_ratio=1``, the same noise
model, and with the default model, static ZZ and quasi-static detuning on) and by
``compare_noisy.py``. Each option takes several files (one per run, the runs interleaved in one
sitting); a target's figure is the median over all its timed points:

    python benchmarks/noisy_results.py --before-eval B1.json B2.json --after-eval A1.json A2.json \\
        --after-default-eval D1.json D2.json --aer AER.json [--before-commit C] [--after-commit C]
"""

from __future__ import annotations

import argparse
import datetime
import json
import socket
import statistics
from pathlib import Path

MACHINE = socket.gethostname()


def _base(target: str) -> str:
    return target.split("@")[0]


def _merge(paths: list[str] | None) -> dict[str, dict]:
    """Base target -> its timed points (seconds per point) and load averages over every file."""
    out: dict[str, dict] = {}
    for path in paths or []:
        for row in json.loads(Path(path).read_text()).get("eval", []):
            entry = out.setdefault(_base(row["target"]), {"target": row["target"], "points": [], "load": []})
            entry["points"] += row["seconds_per_point"]
            entry["load"].append(row.get("load_average", [None])[0])
            entry["images"], entry["trajectories"] = row["images"], row["trajectories"]
    for entry in out.values():
        entry["s_per_image_per_trajectory"] = statistics.median(entry["points"]) / (
            entry["images"] * entry["trajectories"]
        )
    return out


def _merge_train(paths: list[str] | None) -> dict[tuple[str, int], dict]:
    """(base target, trajectories) -> ``train --noise`` samples/s of every run in every file."""
    out: dict[tuple[str, int], dict] = {}
    for path in paths or []:
        for row in json.loads(Path(path).read_text()).get("train", []):
            key = (_base(row["target"]), int(row["trajectories"]))
            entry = out.setdefault(key, {"target": row["target"], "runs": []})
            entry["runs"] += row["samples_per_s_runs"]
    for entry in out.values():
        entry["samples_per_s"] = statistics.median(entry["runs"])
    return out


def _train_rows(before: dict, after: dict, default: dict) -> list[dict]:
    rows = []
    for key, b in before.items():
        a, d = after.get(key), default.get(key)
        row = {"target": key[0], "trajectories": key[1], "before": b, "after_markovian": a, "after_default": d}
        if a:
            row["speedup_markovian"] = a["samples_per_s"] / b["samples_per_s"]
        if d:
            row["speedup_default"] = d["samples_per_s"] / b["samples_per_s"]
        rows.append(row)
    return rows


def _ms(x: float) -> str:
    return f"{x * 1e3:.2f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("before-eval", "after-eval", "after-default-eval"):
        ap.add_argument(f"--{name}", nargs="+")
    ap.add_argument("--aer")
    ap.add_argument("--before-commit", default="7578ae8")
    ap.add_argument("--after-commit", default="")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--note", action="append", default=[], help="a line for the notes at the end (repeatable)")
    ap.add_argument("--out-dir", default="benchmarks/results")
    args = ap.parse_args()
    before, after, default = _merge(args.before_eval), _merge(args.after_eval), _merge(args.after_default_eval)
    aer = json.loads(Path(args.aer).read_text()) if args.aer else {}
    rows = []
    for base, b in before.items():
        a, d = after.get(base), default.get(base)
        row = {"target": base, "before": b, "after_markovian": a, "after_default": d}
        if a:
            row["speedup_markovian"] = b["s_per_image_per_trajectory"] / a["s_per_image_per_trajectory"]
            # the files are given round by round: point i of each variant is from round i
            row["speedup_markovian_per_round"] = [x / y for x, y in zip(b["points"], a["points"], strict=False)]
        if d:
            row["speedup_default"] = b["s_per_image_per_trajectory"] / d["s_per_image_per_trajectory"]
        if a and d:
            row["default_over_markovian"] = d["s_per_image_per_trajectory"] / a["s_per_image_per_trajectory"]
        rows.append(row)
    loads = [x for r in rows for k in ("before", "after_markovian", "after_default") if r[k] for x in r[k]["load"]]
    loads = [x for x in loads if x is not None]
    result = {
        "date": args.date,
        "machine": MACHINE,
        "before_commit": args.before_commit,
        "after_commit": args.after_commit,
        "load_average_1min": [min(loads), max(loads)] if loads else None,
        "eval": rows,
        "train": _train_rows(
            _merge_train(args.before_eval), _merge_train(args.after_eval), _merge_train(args.after_default_eval)
        ),
        "aer": aer.get("rows", []),
    }
    out = Path(args.out_dir)
    load = f"load average {min(loads):.1f}-{max(loads):.1f}" if loads else "load not recorded"
    md = [
        f"# Noisy simulation throughput ({args.date}, {MACHINE}: 2 cores shared with other work, 1 thread)",
        "",
        "Noise-study evaluation (digits model, calibrated noise, "
        + (
            f"{rows[0]['before']['trajectories']} trajectories, {rows[0]['before']['images']} test images),"
            if rows
            else "no rows),"
        ),
        f"seconds per image per trajectory, median of every timed point; before = {args.before_commit}"
        f" (Markovian noise only), after = {args.after_commit or 'this code'}:",
        "",
        "| target | before | after, same noise (zz=0, t2star_ratio=1) | speedup | after, default noise"
        " (+ static ZZ, quasi-static detuning) | speedup | default / Markovian |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, d = r["after_markovian"], r["after_default"]
        md.append(
            f"| {r['target']} | {_ms(r['before']['s_per_image_per_trajectory'])} | "
            + (f"{_ms(a['s_per_image_per_trajectory'])} | {r['speedup_markovian']:.1f}x | " if a else "– | – | ")
            + (f"{_ms(d['s_per_image_per_trajectory'])} | {r['speedup_default']:.1f}x | " if d else "– | – | ")
            + (f"{r['default_over_markovian']:.1f} |" if a and d else "– |")
        )
    md += ["", "Speedup at the same noise per round (before / after of the same round):"]
    md += [
        f"{r['target']} " + ", ".join(f"{x:.1f}x" for x in r.get("speedup_markovian_per_round", [])) + ";" for r in rows
    ]
    md += [
        "",
        f"Runs interleaved in one sitting (per round: each target after, before, after with the default model,"
        f" one process each, a warm-up point first), {load} from other work on the 2 cores.",
    ]
    if result["train"]:
        md += ["", "`train --noise` (one epoch, training loop only), samples/s, median over the runs:", ""]
        md += ["| target | trajectories | before | after, same noise | speedup | after, default noise | speedup |"]
        md += ["|---|---|---|---|---|---|---|"]
        for r in result["train"]:
            a, d = r["after_markovian"], r["after_default"]
            md.append(
                f"| {r['target']} | {r['trajectories']} | {r['before']['samples_per_s']:.3g} | "
                + (f"{a['samples_per_s']:.3g} | {r['speedup_markovian']:.0f}x | " if a else "– | – | ")
                + (f"{d['samples_per_s']:.3g} | {r['speedup_default']:.0f}x |" if d else "– | – |")
            )
    if aer.get("rows"):
        md += ["", "Against qiskit-aer (statevector trajectories, same circuit and channels), s per trajectory:", ""]
        md += ["| target | ours | Aer | Aer / ours | check max z (quantities) |", "|---|---|---|---|---|"]
        for r in aer["rows"]:
            if "aer_error" in r:
                md.append(f"| {r['target']} | – | – | – | Aer failed: {r['aer_error'][:80]} |")
            elif r.get("agree"):
                md.append(
                    f"| {r['target']} | {_ms(r['ours_s_per_trajectory'])} | "
                    f"{r['aer_s_per_trajectory'] * 1e3:.0f} ms | {r['aer_over_ours']:.0f} | "
                    f"{r['check_max_z']:.1f} ({r['check_quantities']}) |"
                )
            else:
                md.append(f"| {r['target']} | – | – | – | {r['check_max_z']:.1f} (disagree) |")
    if args.note:
        md += ["", "Notes:", ""] + [f"- {line}" for line in args.note]
    result["notes"] = args.note
    (out / f"{args.date}-{MACHINE}-noisy.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / f"{args.date}-{MACHINE}-noisy.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
