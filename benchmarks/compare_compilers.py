"""This project against Qiskit, TKET and Cirq on the HQViT circuits and general circuits.

For every circuit and target graph each tool compiles the same logical OpenQASM 2 onto the same
coupling graph and a CZ-based basis (adapters in ``compilers.py``). HQViT circuits are compiled
by this project twice: ``ours`` compiles the symbolic circuit once, as the runtime uses it, and
is then bound to the same random values the others get (``--bind random:0``); ``ours-bound``
compiles the bound text like the other tools. Every output is checked for equivalence on a
random product state (``scoring.py``) and scored with this project's ESP on the same target; a
failure is a row with ``status`` saying why, never a dropped row. Needs the ``bench`` extra.

    python benchmarks/compare_compilers.py [--quick] [--out-dir benchmarks/results]

Writes <date>-<machine>-compilers.json and .md, and PNG bar charts of the geometric-mean
two-qubit count and ESP relative to Qiskit per target.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import platform
import sys
import time
import traceback
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from compilers import TOOLS, Compiled, logical_cirq, ours  # noqa: E402
from general_circuits import general_circuits  # noqa: E402
from scoring import TOLERANCE, equivalence_error, score  # noqa: E402

from hqvit.compiler.hqvit import HQViTConfig  # noqa: E402
from hqvit.compiler.pipeline import compile_hqvit  # noqa: E402
from hqvit.compiler.qasm import to_qasm2  # noqa: E402
from hqvit.ir.circuit import without_measurements  # noqa: E402
from hqvit.passes.lower import lower  # noqa: E402
from hqvit.runtime.bindings import random_bindings  # noqa: E402
from hqvit.targets import resolve_target  # noqa: E402

TARGETS = ["line:21", "grid:5x5", "heavy-hex:5", "ibm-torino"]
HQVIT = [
    ("HQViT digits 8x8", HQViTConfig((8, 8), (4, 4))),  # Bell-basis swap test (the default)
    ("HQViT digits 8x8 cswap", HQViTConfig((8, 8), (4, 4), swap_test="cswap")),
    ("HQViT MNIST 16x16", HQViTConfig((16, 16), (4, 4))),
    ("HQViT MNIST 32x32", HQViTConfig((32, 32), (4, 4))),
]
TOOL_ORDER = ["ours", "ours-bound", "qiskit", "tket", "cirq"]
# ESP ratios are averaged only where both ESPs are at least this: below it the circuit has no
# usable signal and ratios of 1e-40-sized numbers would dominate the geometric mean
ESP_FLOOR = 1e-6


def hqvit_case(cfg: HQViTConfig):
    logical = without_measurements(lower(compile_hqvit(cfg, None, opt=0).logical))
    bindings = random_bindings(logical, cfg, "random:0")
    return to_qasm2(logical, bindings), bindings


TIME_LIMIT = 90.0  # seconds per compile; a tool that takes longer is a "timed out" row


def _compile(tool: str, qasm: str, target, cfg=None, bindings=None) -> Compiled:
    if tool == "ours" and cfg is not None:
        compiled = compile_hqvit(cfg, target, opt=3)
        out = ours(qasm, target, compiled=compiled, bindings=bindings)
        try:  # for an ``evaluate(details=...)`` caller; never scored, never fails the compile
            out.report = compiled.report()
        except Exception as e:
            out.report = {"error": f"{type(e).__name__}: {e}"}
        return out
    return TOOLS["ours" if tool == "ours-bound" else tool](qasm, target)


def _child(conn, *args) -> None:
    try:
        conn.send(("ok", _compile(*args)))
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
    conn.close()


def run_tool(tool: str, qasm: str, target, cfg=None, bindings=None) -> Compiled:
    """Compile in a child process so a tool that runs past TIME_LIMIT can be stopped. Children
    fork from a clean fork server (plain fork of this process can deadlock in thread pools that
    qsim and Qiskit have started here) that has already imported and warmed up every tool."""
    ctx = multiprocessing.get_context("forkserver")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, tool, qasm, target, cfg, bindings))
    proc.start()
    child.close()
    if not parent.poll(TIME_LIMIT):
        proc.kill()
        proc.join()
        raise TimeoutError(f"no result within {TIME_LIMIT:.0f} s")
    status, value = parent.recv()
    proc.join()
    if status != "ok":
        raise RuntimeError(value)
    return value


def evaluate(
    label: str, qasm: str, target_name: str, target, tools, cfg=None, bindings=None, details=None, scorer=None
) -> list[dict]:
    """One row per tool. ``details(tool, compiled)``, if given, returns extra fields for a row
    whose compile succeeded (compare_synthesis.py reads the kept path from ``compiled.report``);
    ``scorer`` replaces ``score`` (same signature), the equivalence check is unchanged."""
    logical, qubits = logical_cirq(qasm)
    rows = []
    for tool in tools:
        row = {"circuit": label, "target": target_name, "tool": tool, "qubits": len(qubits)}
        try:
            out = run_tool(tool, qasm, target, cfg, bindings)
        except Exception as e:  # a tool that fails is a row with the reason, not a dropped row
            row.update(status=f"compile failed: {type(e).__name__}: {e}"[:300])
            traceback.print_exc(limit=2)
            rows.append(row)
            continue
        row["seconds"] = out.seconds
        if details is not None:
            row.update(details(tool, out))
        try:
            row.update((scorer or score)(out, target))
        except Exception as e:
            row.update(status=f"scoring failed: {e}"[:300])
            rows.append(row)
            continue
        try:
            err = equivalence_error(logical, qubits, out)
            row["equivalence_error"] = err
            row["status"] = "verified" if err < TOLERANCE else f"NOT EQUIVALENT (1-|<a|b>| = {err:.2e})"
        except ValueError as e:
            row["status"] = f"not verified: {e}"
        rows.append(row)
        print(
            f"{label:24s} {target_name:12s} {tool:10s} 2q={row.get('two_qubit_gates')} "
            f"t={out.seconds:.2f}s {row['status']}",
            flush=True,
        )
    return rows


def _group(row: dict) -> str:
    return "HQViT" if row["circuit"].startswith("HQViT") else "general"


def geomean(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(rows: list[dict]) -> list[dict]:
    """Per target and tool: geometric means of 2q count, compile time and ESP relative to Qiskit,
    over the circuits where both verified (ours-bound: HQViT circuits only)."""
    index = {(r["circuit"], r["target"], r["tool"]): r for r in rows}
    out = []
    for group, target in dict.fromkeys((_group(r), r["target"]) for r in rows):
        for tool in TOOL_ORDER:
            ratios_2q, ratios_t, ratios_esp, n = [], [], [], 0
            for r in rows:
                if _group(r) != group or r["target"] != target or r["tool"] != tool or r.get("status") != "verified":
                    continue
                q = index.get((r["circuit"], target, "qiskit"))
                if not q or q.get("status") != "verified":
                    continue
                n += 1
                ratios_2q.append(max(r["two_qubit_gates"], 1) / max(q["two_qubit_gates"], 1))
                ratios_t.append(r["seconds"] / q["seconds"])
                if min(r["esp"], q["esp"]) >= ESP_FLOOR:
                    ratios_esp.append(r["esp"] / q["esp"])
            failed = sum(
                1
                for r in rows
                if _group(r) == group and r["target"] == target and r["tool"] == tool and r.get("status") != "verified"
            )
            if n or failed:
                out.append(
                    {
                        "circuits_group": group,
                        "target": target,
                        "tool": tool,
                        "circuits": n,
                        "not_verified": failed,
                        "two_qubit_vs_qiskit": geomean(ratios_2q),
                        "time_vs_qiskit": geomean(ratios_t),
                        "esp_vs_qiskit": geomean(ratios_esp),
                        "esp_circuits": len(ratios_esp),
                    }
                )
    return out


def _fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def markdown(rows: list[dict], summary: list[dict], machine: str, day: str) -> str:
    lines = [
        f"Compiler comparison, {day}, {machine}. Ratios are geometric means over the circuits both tools",
        "compiled and verified (ESP: only circuits where both ESPs are at least 1e-6); below 1 is better",
        "for two-qubit count and time, above 1 is better for ESP.",
        "",
        "| circuits | target | tool | n | not verified | 2q vs Qiskit | ESP vs Qiskit (n) | time vs Qiskit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        lines.append(
            f"| {s['circuits_group']} | {s['target']} | {s['tool']} | {s['circuits']} | {s['not_verified']} | "
            f"{_fmt(s['two_qubit_vs_qiskit'], '.3f')} | {_fmt(s['esp_vs_qiskit'], '.3g')} ({s['esp_circuits']}) | "
            f"{_fmt(s['time_vs_qiskit'], '.2f')} |"
        )
    lines += [
        "",
        "| circuit | target | tool | 2q | 2q depth | depth | ESP | seconds | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['circuit']} | {r['target']} | {r['tool']} | {r.get('two_qubit_gates', '–')} | "
            f"{r.get('two_qubit_depth', '–')} | {r.get('depth', '–')} | {_fmt(r.get('esp'), '.3g')} | "
            f"{_fmt(r.get('seconds'), '.3f')} | {r.get('status')} |"
        )
    return "\n".join(lines) + "\n"


def charts(summary: list[dict], stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys((s["circuits_group"], s["target"]) for s in summary))
    tools = [t for t in TOOL_ORDER if any(s["tool"] == t for s in summary)]
    paths = []
    for key, title, log in (
        ("two_qubit_vs_qiskit", "two-qubit gates / Qiskit O3 (geometric mean, lower is better)", False),
        ("esp_vs_qiskit", "ESP / Qiskit O3 (geometric mean, higher is better)", True),
    ):
        fig, ax = plt.subplots(figsize=(12, 4.2))
        width = 0.8 / len(tools)
        for k, tool in enumerate(tools):
            vals = [
                next((s[key] for s in summary if (s["circuits_group"], s["target"]) == t and s["tool"] == tool), None)
                or 0
                for t in targets
            ]
            ax.bar([i + k * width for i in range(len(targets))], vals, width, label=tool)
        ax.axhline(1.0, color="black", lw=0.8)
        labels = [f"{g}\n{t}" for g, t in targets]
        ax.set_xticks([i + width * (len(tools) - 1) / 2 for i in range(len(targets))], labels, fontsize=7)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.legend(ncol=len(tools), fontsize=8)
        fig.tight_layout()
        path = stem.with_name(f"{stem.name}-{key.split('_vs')[0].replace('_', '-')}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def run_targets(targets: list[str], quick: bool = False) -> list[dict]:
    hqvit = HQVIT[:1] if quick else HQVIT
    general = general_circuits()[:1] if quick else general_circuits()
    multiprocessing.set_forkserver_preload(["bench_warmup", "compilers", "scoring"])
    rows: list[dict] = []
    for name in targets:
        target = resolve_target(name)
        for label, cfg in hqvit:
            qasm, bindings = hqvit_case(cfg)
            rows += evaluate(label, qasm, name, target, TOOL_ORDER, cfg, bindings)
        for label, qasm in general:
            rows += evaluate(label, qasm, name, target, [t for t in TOOL_ORDER if t != "ours-bound"])
    return rows


def run_sharded(targets: list[str], shards: int, quick: bool) -> list[dict]:
    """Targets split over ``shards`` worker processes (this machine has 2 cores): every tool's
    compile of a circuit still runs in one worker, back to back, so the ratios compare like with
    like. Rows come back in the order of ``targets``."""
    import subprocess
    import tempfile

    groups = [targets[k::shards] for k in range(shards)]
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for k, group in enumerate(groups):
            if not group:
                continue
            out = Path(tmp) / f"shard{k}.json"
            cmd = [sys.executable, "-W", "ignore", __file__, "--targets", ",".join(group), "--shard-out", str(out)]
            procs.append((group, out, subprocess.Popen(cmd + (["--quick"] if quick else []))))
        by_target: dict[str, list[dict]] = {}
        for group, out, proc in procs:
            if proc.wait() != 0:
                raise SystemExit(f"benchmark worker for {group} failed")
            for row in json.loads(out.read_text()):
                by_target.setdefault(row["target"], []).append(row)
    return [row for name in targets for row in by_target.get(name, [])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--quick", action="store_true", help="two circuits, two targets (a smoke run)")
    ap.add_argument("--resummarize", metavar="JSON", help="rebuild summary, Markdown and charts from a results file")
    ap.add_argument("--targets", help="comma-separated targets (default: all four)")
    ap.add_argument(
        "--shards", type=int, default=2, help="worker processes, one core each; targets are split between them"
    )
    ap.add_argument("--shard-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.resummarize:
        path = Path(args.resummarize)
        data = json.loads(path.read_text())
        data["summary"] = summarize(data["rows"])
        path.write_text(json.dumps(data, indent=1))
        stem = path.with_suffix("")
        stem.with_suffix(".md").write_text(markdown(data["rows"], data["summary"], data["machine"], data["date"]))
        charts(data["summary"], stem)
        print(markdown([], data["summary"], data["machine"], data["date"]))
        return
    t_start = time.perf_counter()
    targets = args.targets.split(",") if args.targets else (TARGETS[1:3] if args.quick else TARGETS)
    if args.shard_out:  # one worker of a sharded run: compile and check, write rows, stop
        Path(args.shard_out).write_text(json.dumps(run_targets(targets, args.quick)))
        return
    if args.shards > 1 and len(targets) > 1:
        rows = run_sharded(targets, args.shards, args.quick)
    else:
        rows = run_targets(targets, args.quick)
    summary = summarize(rows)
    machine = machine_label()
    day = str(date.today())
    stem = result_stem(Path(args.out_dir), day, "compilers")
    versions = _versions()
    stem.with_suffix(".json").write_text(
        json.dumps(
            {
                "date": day,
                "machine": machine,
                "versions": versions,
                "seconds": time.perf_counter() - t_start,
                "summary": summary,
                "rows": rows,
            },
            indent=1,
        )
    )
    stem.with_suffix(".md").write_text(markdown(rows, summary, machine, day))
    pngs = charts(summary, stem)
    print(markdown([], summary, machine, day))
    print("wrote", stem.with_suffix(".json"), stem.with_suffix(".md"), *pngs)


def machine_label() -> str:
    return f"{platform.node()} ({platform.machine()}, {platform.python_version()})"


def result_stem(out_dir: Path, day: str, kind: str) -> Path:
    """``out_dir/<date>-<machine>-<kind>`` (add .json / .md); creates ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / f"{day}-{platform.node()}-{kind}"


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("hqvit-compiler", "qiskit", "pytket", "cirq-core", "mqt.bench", "numba"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


if __name__ == "__main__":
    main()
