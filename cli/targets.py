"""``hqvit targets``: list the device catalogue, show one target, export it as JSON."""

from __future__ import annotations

import argparse

from hqvit.cli.output import EXIT_OK, emit
from hqvit.ir.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("targets", help="list, show or export device targets")
    p.add_argument("action", choices=("list", "show", "export"), help="list the catalogue, show a target or export it")
    p.add_argument("name", nargs="?", help="target name (show, export)")
    p.add_argument(
        "--out", metavar="FILE", help="where 'export' writes the target's JSON (no default: export needs it)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # networkx and rustworkx (~0.2 s), but never torch or cirq: 'targets list' must start fast
    from hqvit.targets import CATALOGUE, describe, resolve_target
    from hqvit.targets.schema import save_target_file

    if args.action == "list":
        result = {"targets": [{"name": n, "description": d} for n, d in CATALOGUE]}
        emit(result, args.json, [f"{n:28s} {d}" for n, d in CATALOGUE])
        return EXIT_OK
    if not args.name:
        raise InputError(f"'hqvit targets {args.action}' needs a target NAME")
    target = resolve_target(args.name)
    if args.action == "show":
        d = describe(target)
        human = [f"{k:>16}: {v}" for k, v in d.items() if k != "edges"] + [f"{'edges':>16}: {len(d['edges'])}"]
        emit(d, args.json, human)
        return EXIT_OK
    if not args.out:
        raise InputError("'hqvit targets export' needs --out FILE")
    save_target_file(target, args.out)
    emit({"name": target.name, "out": args.out}, args.json, [f"wrote {args.out}"])
    return EXIT_OK
