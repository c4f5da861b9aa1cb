"""Assemble ``hqvit quantize --target`` runs of one checkpoint (one run per target) into one JSON,
one Markdown table and one PNG: angle bits against accuracy and |S − S_full|, noiseless and under
each target's calibrated noise.

    python benchmarks/quantize_noisy_results.py RUN1/quantize.json RUN2/quantize.json \\
        --stem 2026-12-05-vm-quantize-noisy-digits [--checkpoint "hqvit train ..."] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hqvit.studies.quantize_study import noisy_markdown


def _rows(result: dict) -> dict[tuple[str, int | None], dict]:
    """(mode, bits) -> point, None bits for full precision; the noiseless rows under 'angles (mode)'."""
    out = {}
    for p in result["points"]:
        if p["part"].startswith(("angles (", "noisy angles (")):
            out[(p["part"], p["bits"])] = p
    return out


def combined_table(runs: list[dict]) -> list[str]:
    """One row per angle setting: noiseless accuracy and |S − S_full|, then each target's."""
    first = runs[0]
    head = "| angles | noiseless accuracy % | noiseless \\|S − S_full\\| |"
    rule = "|---|---|---|"
    for r in runs:
        head += f" {r['noisy']['target']} accuracy % | {r['noisy']['target']} \\|S − S_full\\| |"
        rule += "---|---|"
    lines = [head, rule]
    row = f"| full precision | {100 * first['reference']['accuracy']:.2f} | 0 |"
    for r in runs:
        ref = r["noisy"]["reference"]
        row += f" {100 * ref['accuracy']:.2f} | {ref['attention_score_error']:.4f} |"
    lines.append(row)
    quiet = _rows(first)
    settings = [(p["settings"]["angle_mode"], p["bits"]) for p in first["points"] if p["part"].startswith("angles (")]
    for mode, bits in settings:
        q = quiet[(f"angles ({mode})", bits)]
        row = f"| {bits} bits, {mode} | {100 * q['accuracy']:.2f} | {q['attention_score_error']:.4f} |"
        for r in runs:
            p = _rows(r).get((f"noisy angles ({mode})", bits))
            row += f" {100 * p['accuracy']:.2f} | {p['attention_score_error']:.4f} |" if p else " – | – |"
        lines.append(row)
    return lines


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
    series = [("noiseless", None, "gray")] + [(r["noisy"]["target"], r, colors[k]) for k, r in enumerate(runs)]
    for name, run, color in series:
        rows = _rows(run if run is not None else runs[0])
        for mode, style in (("round", "-"), ("interpolate", "--")):
            part = f"angles ({mode})" if run is None else f"noisy angles ({mode})"
            pts = sorted((p for (pt, _), p in rows.items() if pt == part), key=lambda p: p["bits"])
            bits = [p["bits"] for p in pts]
            label = f"{name}, {mode}"
            axes[0].plot(bits, [100 * p["accuracy"] for p in pts], style, marker="o", color=color, label=label)
            axes[1].plot(bits, [p["attention_score_error"] for p in pts], style, marker="o", color=color, label=label)
        if run is not None:
            ref = run["noisy"]["reference"]
            axes[0].axhline(100 * ref["accuracy"], color=color, linestyle=":", linewidth=1)
            axes[1].axhline(ref["attention_score_error"], color=color, linestyle=":", linewidth=1)
    axes[0].axhline(100 * runs[0]["reference"]["accuracy"], color="gray", linestyle=":", linewidth=1)
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("mean |S − S_full| (noiseless full-precision S)")
    axes[1].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("rotation-angle bits (of 2π)")
        ax.set_xticks(sorted({p["bits"] for p in runs[0]["points"] if p["part"].startswith("angles (")}))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    r0 = runs[0]
    fig.suptitle(
        f"{r0['dataset']} {r0['image'][0]}x{r0['image'][1]}: angle bits, noiseless and under device noise "
        f"(dotted: full precision), {r0['test_samples']} test images",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="quantize.json of each target's run (same checkpoint)")
    ap.add_argument("--stem", required=True)
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--checkpoint", help="how the checkpoint was made, recorded instead of its local path")
    args = ap.parse_args()
    runs = [json.loads(Path(p).read_text()) for p in args.runs]
    if args.checkpoint:
        for r in runs:
            r["checkpoint"] = args.checkpoint
    if any(r.get("noisy") is None or r["noisy"]["reference"] is None for r in runs):
        raise SystemExit("every run must be a hqvit quantize --target run with its noisy reference row")
    out = Path(args.out_dir)
    (out / f"{args.stem}.json").write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    r0 = runs[0]
    lines = [
        f"# Rotation-angle bits under device noise: {r0['dataset']} {r0['image'][0]}x{r0['image'][1]}, "
        f"patch {r0['patch'][0]}x{r0['patch'][1]}",
        "",
        f"{r0['test_samples']} test images; noiseless interpolation {r0['samples']} draws per image and head; "
        f"noisy rows {r0['noisy']['trajectories']} trajectories per image and head (interpolation: one setting "
        "per trajectory), classical layers in float. |S − S_full| is the mean over valid token pairs against "
        "the noiseless full-precision S.",
        "",
        *combined_table(runs),
    ]
    # a run stopped before its last row (Ctrl-C, or killed: its JSON holds the rows finished)
    wanted = sum(p["part"].startswith("angles (") for p in r0["points"])
    stopped = [r["noisy"]["target"] for r in runs if sum(p["part"].startswith("noisy ") for p in r["points"]) < wanted]
    if stopped:
        lines += ["", f"Stopped before every row was done: {', '.join(stopped)}; a missing row is –."]
    for r in runs:
        lines += ["", f"## {r['noisy']['target']}", *noisy_markdown(r)]
    (out / f"{args.stem}.md").write_text("\n".join(lines) + "\n")
    plot(runs, out / f"{args.stem}.png")


if __name__ == "__main__":
    main()
