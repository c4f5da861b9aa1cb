"""HQViT-aware synthesis: this project against Qiskit O3 on the HQViT cells of the synthesis issue.

Cells: digits 8x8 (12 logical qubits) on grid:4x4, heavy-hex:5 and line:13; MNIST 16x16 (16) on
grid:5x5, heavy-hex:5 and line:17; MNIST 32x32 (20) on grid:5x5, heavy-hex:5 and line:21; and
the three sizes on ibm-torino and ibm-sherbrooke. Per cell two tools, with the machinery of
``compare_compilers.py``: ``ours`` compiles the symbolic circuit once (``compile_hqvit``, --opt 3)
and is bound to the same random values (``random:0``) that ``qiskit`` (transpile at optimization
level 3, adapter in ``compilers.py``) gets as OpenQASM 2 text. Each compile runs in a fork-server
child with compare_compilers' time limit; every output is checked for equivalence on a random
product state and scored with this project's ESP (``scoring.py``); a failure is a row with
``status`` saying why, never a dropped row. On ibm-sherbrooke ``ours`` emits the device's ECR:
it is verified as compiled and scored with each ECR rewritten as one CZ between one-qubit gates
(``scoring.py`` reads CZ/CX; Qiskit gets a CZ basis on every target), which keeps the two-qubit
count.

Each row also carries the cell's logical two-qubit count (the lowered logical circuit, before any
mapping) and, for ``ours``, the path the compile kept, read from its pass records: the first
record's name and, when it is a selector, the candidate whose two-qubit count and depth it reports.

Compile time is measured twice. ``seconds`` is each tool's first compile in its fresh child, with
this run's per-machine walk cache still empty for ours: its walks come from the walks shipped with
the package (``passes/walks.json.gz``, every built-in cell) or, with ``HQVIT_SHIPPED_WALKS=off``,
are searched (a region shape's walks are searched once per machine).
The steady state then compiles the cell three more times with each tool, alternating, in one child
and keeps each tool's best: a first call in a fresh child also pays one-time costs, which on the
small cells can outweigh the compile itself. For ours it also reads
the kept candidate's own time (the synthesis path alone) from the selector's records.

The summary gives per cell ours/qiskit for two-qubit gates, compile time and ESP, and ours/logical
and qiskit/logical two-qubit counts; geometric means (and the worst cell) over the nine non-IBM
cells and over the three line cells; per IBM device the geometric mean over the three sizes.
Ratios need both rows verified; ESP ratios enter a mean only where both ESPs are at least 1e-6
(compare_compilers' ESP_FLOOR). Needs the ``bench`` extra.

    python benchmarks/compare_synthesis.py [--quick] [--cells line:13,digits] [--out-dir benchmarks/results]

Writes <date>-<machine>-synthesis.json and .md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import cirq  # noqa: E402
import compare_compilers  # noqa: E402
from compare_compilers import ESP_FLOOR, evaluate, geomean, hqvit_case, machine_label, result_stem  # noqa: E402
from compilers import Compiled  # noqa: E402
from scoring import score  # noqa: E402

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit  # noqa: E402
from hqvit.compiler.pipeline import compile_hqvit  # noqa: E402
from hqvit.ir.circuit import without_measurements  # noqa: E402
from hqvit.ir.gates import gate_unitary  # noqa: E402
from hqvit.ir.metrics import gate_counts  # noqa: E402
from hqvit.passes.lower import lower  # noqa: E402
from hqvit.targets import resolve_target  # noqa: E402

SIZES = [
    ("digits 8x8", HQViTConfig((8, 8), (4, 4)), ["grid:4x4", "heavy-hex:5", "line:13"]),
    ("MNIST 16x16", HQViTConfig((16, 16), (4, 4)), ["grid:5x5", "heavy-hex:5", "line:17"]),
    ("MNIST 32x32", HQViTConfig((32, 32), (4, 4)), ["grid:5x5", "heavy-hex:5", "line:21"]),
]
IBM = ["ibm-torino", "ibm-sherbrooke"]
TOOLS = ["ours", "qiskit"]


def cells() -> list[tuple[str, HQViTConfig, str]]:
    """(size, config, target): the nine non-IBM cells, then each IBM device with the three sizes."""
    out = [(size, cfg, t) for size, cfg, targets in SIZES for t in targets]
    return out + [(size, cfg, t) for t in IBM for size, cfg, _ in SIZES]


def selected(cell_filter: str | None, quick: bool) -> list[tuple[str, HQViTConfig, str]]:
    """Cells whose size or target contains one of the comma-separated tokens (case-insensitive)."""
    chosen = [c for c in cells() if not quick or c[0].startswith("digits")]
    if not cell_filter:
        return chosen
    tokens = [t.strip().lower() for t in cell_filter.split(",") if t.strip()]
    return [c for c in chosen if any(t in c[0].lower() or t in c[2].lower() for t in tokens)]


def logical_two_qubit(cfg: HQViTConfig) -> dict:
    counts = gate_counts(without_measurements(lower(build_attention_circuit(cfg))))
    return {
        "logical_two_qubit_gates": counts["two_qubit_gates"],
        "logical_multi_qubit_gates": counts["multi_qubit_gates"],
    }


def kept_path(passes: list[dict]) -> dict:
    """The path an ``ours`` compile kept, from ``report()["passes"]``: the first record's name and,
    if it has children (a selector over candidates), the first child whose two-qubit count and
    depth equal the selector's (its record is measured on the kept circuit)."""
    if not passes:
        return {"path": None}
    first = passes[0]
    children = first.get("children") or []
    if not children:
        return {"path": first.get("name")}
    key = (first.get("two_qubit_gates"), first.get("depth"))
    matches = [c for c in children if (c.get("two_qubit_gates"), c.get("depth")) == key]
    out = {
        "path": f"{first.get('name')}: {matches[0].get('name') if matches else '?'}",
        # the kept candidate's own time (its compile and its scoring): what the path costs alone
        "seconds_path": matches[0].get("seconds") if matches else None,
        "candidates": [{k: c.get(k) for k in ("name", "two_qubit_gates", "depth", "seconds")} for c in children],
    }
    if len({c.get("name") for c in matches}) > 1:
        out["path_ambiguous"] = [c.get("name") for c in matches]
    return out


def details(tool: str, compiled) -> dict:
    report = getattr(compiled, "report", None)
    if tool != "ours" or report is None:
        return {}
    if "error" in report:
        return {"path": None, "report_error": report["error"]}
    return {"cnots_before_mapping": report.get("cnots_before_mapping"), **kept_path(report.get("passes") or [])}


def as_cz(out: Compiled) -> tuple[Compiled, int]:
    """``out`` with each ECR (ours emits it on ibm-sherbrooke, whose native gate it is) rewritten as
    one CZ between one-qubit gates, and how many: scoring.py reads CZ/CX only. The two-qubit count
    is unchanged, the one-qubit gates merge in scoring's resynthesis, and Qiskit, given a CZ basis
    everywhere, is scored the same way."""
    ecr = gate_unitary("ecr")
    ops, n = [], 0
    for op in out.circuit.all_operations():
        if len(op.qubits) == 2 and cirq.allclose_up_to_global_phase(cirq.unitary(op), ecr):
            ops += cirq.two_qubit_matrix_to_cz_operations(*op.qubits, ecr, allow_partial_czs=False)
            n += 1
        else:
            ops.append(op)
    return (dataclasses.replace(out, circuit=cirq.Circuit(ops)), n) if n else (out, 0)


def score_cz(out: Compiled, target) -> dict:
    """``scoring.score`` after ``as_cz``; the row says how many ECRs were rewritten. The
    equivalence check (in ``evaluate``) runs on the circuit as compiled."""
    rewritten, n = as_cz(out)
    return {**score(rewritten, target), **({"ecr_scored_as_cz": n} if n else {})}


def run(chosen: list[tuple[str, HQViTConfig, str]]) -> list[dict]:
    multiprocessing.set_forkserver_preload(["bench_warmup", "compilers", "scoring", "compare_compilers"])
    cases, logical = {}, {}
    rows: list[dict] = []
    for size, cfg, target_name in chosen:
        if size not in cases:
            cases[size] = hqvit_case(cfg)
            logical[size] = logical_two_qubit(cfg)
        qasm, bindings = cases[size]
        target = resolve_target(target_name)
        cell = {
            row["tool"]: {"size": size, **logical[size], **row}
            for row in evaluate(
                f"HQViT {size}", qasm, target_name, target, TOOLS, cfg, bindings, details=details, scorer=score_cz
            )
        }
        print(f"{'':37s} ours path: {cell['ours'].get('path')}", flush=True)
        if all(cell[t].get("status") == "verified" for t in TOOLS):
            steady_times(qasm, target, cfg, cell)
        rows += [cell[t] for t in TOOLS]
    return rows


REPEATS = 3  # rounds of the steady-state timing


def _steady_child(conn, qasm: str, target, cfg, repeats: int) -> None:
    try:
        conn.send(("ok", _steady(qasm, target, cfg, repeats)))
    except Exception as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
    conn.close()


def _steady(qasm: str, target, cfg, repeats: int) -> dict:
    """Both tools compiled ``repeats`` times, alternating, in one process: the best time of each.
    A tool's first compile in a fresh child also pays one-time costs (first-call set-up, lazily
    built tables, copy-on-write faults on the inherited heap) that on the small cells can outweigh
    the compile; repeated in the same process, each tool's time is its compile alone."""
    from compilers import qiskit as qiskit_compile

    ours, path, theirs, twos = [], [], [], set()
    for _ in range(repeats):
        compiled = compile_hqvit(cfg, target, opt=3)
        ours.append(compiled.seconds)
        path.append(kept_path([dataclasses.asdict(r) for r in compiled.passes]).get("seconds_path"))
        twos.add(sum(len(g.qubits) == 2 for g in compiled.circuit.gates()))
        theirs.append(qiskit_compile(qasm, target).seconds)
    return {
        "ours": min(ours),
        "ours_path": min((p for p in path if p is not None), default=None),
        "qiskit": min(theirs),
        "ours_two_qubit": sorted(twos),
    }


def steady_times(qasm: str, target, cfg, rows: dict[str, dict]) -> None:
    """Adds each verified row's steady-state time (``_steady``, in a child with the run's time
    limit), now that the first compile stored its walks in the run's cache
    (``passes/walk_cache.py``): what every compile after the first costs on a machine. Ours must
    give the same two-qubit count every time (ECRs count one each, as in the first row)."""
    ctx = multiprocessing.get_context("forkserver")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_steady_child, args=(child, qasm, target, cfg, REPEATS))
    proc.start()
    child.close()
    if not parent.poll(compare_compilers.TIME_LIMIT * 2 * REPEATS):
        proc.kill()
        proc.join()
        rows["ours"]["warm_status"] = "timed out"
        return
    status, value = parent.recv()
    proc.join()
    if status != "ok":
        rows["ours"]["warm_status"] = f"failed: {value}"[:200]
        return
    same = value["ours_two_qubit"] == [rows["ours"].get("two_qubit_gates")]
    rows["ours"].update(
        seconds_warm=value["ours"], seconds_path_warm=value["ours_path"], warm_same_two_qubit_count=same
    )
    rows["qiskit"]["seconds_warm"] = value["qiskit"]
    print(
        f"{'':37s} steady state, best of {REPEATS}: ours {value['ours']:.3f}s (kept path alone "
        f"{_fmt(value['ours_path'], '.3f')}s, same 2q: {same}), qiskit {value['qiskit']:.3f}s",
        flush=True,
    )


def _ratio(a: dict | None, b: dict | None, key: str) -> float | None:
    if not a or not b or a.get("status") != "verified" or b.get("status") != "verified":
        return None
    return max(a[key], 1e-300) / max(b[key], 1e-300)


def cell_ratios(rows: list[dict]) -> list[dict]:
    index = {(r["size"], r["target"], r["tool"]): r for r in rows}
    out = []
    for size, target in dict.fromkeys((r["size"], r["target"]) for r in rows):
        o, q = index.get((size, target, "ours")), index.get((size, target, "qiskit"))
        logical = (o or q)["logical_two_qubit_gates"]
        esp_ok = _ratio(o, q, "esp") is not None and min(o["esp"], q["esp"]) >= ESP_FLOOR
        out.append(
            {
                "size": size,
                "target": target,
                "group": "IBM" if target in IBM else target.split(":")[0],
                "logical_two_qubit_gates": logical,
                "both_verified": _ratio(o, q, "two_qubit_gates") is not None,
                "two_qubit_ours_vs_qiskit": _ratio(o, q, "two_qubit_gates"),
                "two_qubit_ours_vs_logical": o["two_qubit_gates"] / logical
                if o and o.get("status") == "verified"
                else None,
                "two_qubit_qiskit_vs_logical": q["two_qubit_gates"] / logical
                if q and q.get("status") == "verified"
                else None,
                "time_ours_vs_qiskit": _ratio(o, q, "seconds"),
                "time_ours_warm_vs_qiskit": o["seconds_warm"] / q["seconds_warm"]
                if _ratio(o, q, "seconds") is not None and "seconds_warm" in o and "seconds_warm" in q
                else None,
                "time_path_warm_vs_qiskit": o["seconds_path_warm"] / q["seconds_warm"]
                if _ratio(o, q, "seconds") is not None and o.get("seconds_path_warm") and "seconds_warm" in q
                else None,
                "esp_ours_vs_qiskit": _ratio(o, q, "esp"),
                "esp_both_above_floor": esp_ok,
                "esp_ours": o.get("esp") if o else None,
                "esp_qiskit": q.get("esp") if q else None,
            }
        )
    return out


def _group_summary(name: str, cells_: list[dict], expected: int) -> dict:
    both = [c for c in cells_ if c["both_verified"]]
    esp = [c for c in both if c["esp_both_above_floor"]]
    worst = max(both, key=lambda c: c["two_qubit_ours_vs_qiskit"], default=None)
    return {
        "group": name,
        "cells_expected": expected,
        "cells_run": len(cells_),
        "cells_both_verified": len(both),
        "two_qubit_ours_vs_qiskit": geomean([c["two_qubit_ours_vs_qiskit"] for c in both]),
        "two_qubit_ours_vs_qiskit_max": worst["two_qubit_ours_vs_qiskit"] if worst else None,
        "two_qubit_ours_vs_qiskit_max_cell": f"{worst['size']} {worst['target']}" if worst else None,
        "two_qubit_ours_vs_logical": geomean([c["two_qubit_ours_vs_logical"] for c in both]),
        "two_qubit_qiskit_vs_logical": geomean([c["two_qubit_qiskit_vs_logical"] for c in both]),
        "time_ours_vs_qiskit": geomean([c["time_ours_vs_qiskit"] for c in both]),
        "time_ours_warm_vs_qiskit": geomean([c["time_ours_warm_vs_qiskit"] for c in both]),
        "time_ours_warm_vs_qiskit_max": max((c["time_ours_warm_vs_qiskit"] or 0 for c in both), default=None),
        "time_path_warm_vs_qiskit": geomean([c["time_path_warm_vs_qiskit"] for c in both]),
        "time_path_warm_vs_qiskit_max": max((c["time_path_warm_vs_qiskit"] or 0 for c in both), default=None),
        "esp_ours_vs_qiskit": geomean([c["esp_ours_vs_qiskit"] for c in esp]),
        "esp_cells": len(esp),
        "esp_excluded": [
            f"{c['size']} {c['target']} (ours {c['esp_ours']:.3g}, qiskit {c['esp_qiskit']:.3g})"
            for c in both
            if not c["esp_both_above_floor"]
        ],
        "not_verified": [f"{c['size']} {c['target']}" for c in cells_ if not c["both_verified"]],
    }


def summarize(ratios: list[dict]) -> list[dict]:
    groups = [
        ("non-IBM cells", [c for c in ratios if c["group"] != "IBM"], 9),
        ("line cells", [c for c in ratios if c["group"] == "line"], 3),
    ] + [(device, [c for c in ratios if c["target"] == device], 3) for device in IBM]
    return [_group_summary(name, cs, n) for name, cs, n in groups if cs]


def _fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def summary_line(s: dict) -> str:
    head = f"{s['group']} ({s['cells_run']} of {s['cells_expected']} run, {s['cells_both_verified']} both verified):"
    if not s["cells_both_verified"]:
        return f"{head} no cell with both tools verified"
    esp = f"ESP ours/qiskit geomean {_fmt(s['esp_ours_vs_qiskit'], '.3g')} over {s['esp_cells']} cell(s)"
    if s["esp_excluded"]:
        esp += f", excluded (an ESP below {ESP_FLOOR:g}): {'; '.join(s['esp_excluded'])}"
    line = (
        f"{head} 2q ours/qiskit geomean {_fmt(s['two_qubit_ours_vs_qiskit'], '.3f')}, "
        f"max {_fmt(s['two_qubit_ours_vs_qiskit_max'], '.3f')} ({s['two_qubit_ours_vs_qiskit_max_cell']}); "
        f"2q ours/logical {_fmt(s['two_qubit_ours_vs_logical'], '.3f')}, "
        f"qiskit/logical {_fmt(s['two_qubit_qiskit_vs_logical'], '.3f')}; "
        f"time ours/qiskit {_fmt(s['time_ours_vs_qiskit'], '.2f')} (first compile), "
        f"{_fmt(s['time_ours_warm_vs_qiskit'], '.2f')} warm "
        f"(max {_fmt(s['time_ours_warm_vs_qiskit_max'], '.2f')}), kept path alone warm "
        f"{_fmt(s['time_path_warm_vs_qiskit'], '.2f')} (max {_fmt(s['time_path_warm_vs_qiskit_max'], '.2f')}); {esp}"
    )
    if s["not_verified"]:
        line += f"; not both verified: {', '.join(s['not_verified'])}"
    return line


def markdown(data: dict) -> str:
    rows, ratios, summary = data["rows"], data["cells"], data["summary"]
    versions = ", ".join(f"{k} {v}" for k, v in data["versions"].items() if v)
    lines = [
        f"HQViT synthesis benchmark, {data['date']}, {data['machine']}; {versions}.",
        "ours: compile_hqvit --opt 3 on the symbolic circuit, bound to random:0; qiskit: transpile",
        "optimization_level=3 on the bound OpenQASM. Logical 2q: two-qubit gates of the lowered logical",
        "circuit. Ratios need both rows verified; below 1 is better for 2q and time, above 1 for ESP.",
        "ECRs (ours on ibm-sherbrooke) are scored as one CZ each between one-qubit gates, verified as compiled.",
        f"The run starts with an empty per-machine walk cache: 'seconds' of ours is the first compile (its walks "
        f"{'searched' if data.get('shipped_walks') == 'off' else 'read from the walks shipped with the package'}),",
        "'warm': then both tools compile the cell 3 times more, alternating, in one process reading the",
        "walks back; each tool's best time (ours must give the same 2q count every time, checked). 'Kept",
        "path' is the kept candidate's own time within ours' warm compile (its passes and its scoring):",
        "the synthesis path alone; --opt 3 also compiles the other candidates it compares it with.",
        "",
        "| size | target | tool | logical 2q | 2q | 2q depth | depth | ESP | seconds | status | kept path |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size']} | {r['target']} | {r['tool']} | {r['logical_two_qubit_gates']} | "
            f"{r.get('two_qubit_gates', '–')} | {r.get('two_qubit_depth', '–')} | {r.get('depth', '–')} | "
            f"{_fmt(r.get('esp'), '.3g')} | {_fmt(r.get('seconds'), '.3f')} | {r.get('status')} | "
            f"{r.get('path', '–') if r['tool'] == 'ours' else '–'} |"
        )
    lines += [
        "",
        "| size | target | 2q ours/qiskit | 2q ours/logical | 2q qiskit/logical | time ours/qiskit "
        "| time ours/qiskit, walk cache warm | time kept path/qiskit, warm | ESP ours/qiskit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in ratios:
        esp = _fmt(c["esp_ours_vs_qiskit"], ".3g")
        if c["esp_ours_vs_qiskit"] is not None and not c["esp_both_above_floor"]:
            esp += f" (an ESP < {ESP_FLOOR:g}, not averaged)"
        lines.append(
            f"| {c['size']} | {c['target']} | {_fmt(c['two_qubit_ours_vs_qiskit'], '.3f')} | "
            f"{_fmt(c['two_qubit_ours_vs_logical'], '.3f')} | {_fmt(c['two_qubit_qiskit_vs_logical'], '.3f')} | "
            f"{_fmt(c['time_ours_vs_qiskit'], '.2f')} | {_fmt(c['time_ours_warm_vs_qiskit'], '.2f')} | "
            f"{_fmt(c['time_path_warm_vs_qiskit'], '.2f')} | {esp} |"
        )
    lines += ["", "Summary:", ""] + [f"- {summary_line(s)}" for s in summary]
    return "\n".join(lines) + "\n"


def git_state() -> dict:
    """HEAD and the uncommitted changes under the package's folders when the run starts: the
    fork server loads the compiler once, so the run measures this state."""
    import subprocess

    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    status = git("status", "--porcelain", "--", "ir", "targets", "passes", "compiler", "runtime")
    return {"head": git("rev-parse", "HEAD"), "uncommitted": status.splitlines() if status else []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--cells", help="comma-separated filter on size or target, e.g. line:13,digits,ibm")
    ap.add_argument("--quick", action="store_true", help="only the digits 8x8 cells")
    ap.add_argument(
        "--time-limit",
        type=float,
        default=compare_compilers.TIME_LIMIT,
        help="seconds per compile (default %(default)s, as compare_compilers)",
    )
    args = ap.parse_args()
    compare_compilers.TIME_LIMIT = args.time_limit
    # an empty walk cache for this run, inherited by the compile children: the first compile of
    # each cell searches its walks, the warm rerun reads them back
    os.environ["HQVIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="hqvit-bench-walks-")
    chosen = selected(args.cells, args.quick)
    if not chosen:
        raise SystemExit(f"no cell matches --cells {args.cells!r}")
    t_start = time.perf_counter()
    git = git_state()
    rows = run(chosen)
    ratios = cell_ratios(rows)
    day = str(date.today())
    data = {
        "date": day,
        "machine": machine_label(),
        "versions": compare_compilers._versions(),
        "git": git,
        "time_limit_seconds": args.time_limit,
        "shipped_walks": "off" if os.environ.get("HQVIT_SHIPPED_WALKS", "").strip().lower() == "off" else "on",
        "esp_floor": ESP_FLOOR,
        "seconds": time.perf_counter() - t_start,
        "summary": summarize(ratios),
        "cells": ratios,
        "rows": rows,
    }
    stem = result_stem(Path(args.out_dir), day, "synthesis")
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1))
    stem.with_suffix(".md").write_text(markdown(data))
    print(markdown(data))
    print("wrote", stem.with_suffix(".json"), stem.with_suffix(".md"))


if __name__ == "__main__":
    main()
