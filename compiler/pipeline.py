"""Compilation pipeline: logical circuit -> native, routed, scheduled circuit on a target.

Presets (``opt``), each a list of pure passes from passes/:

0. lower, expand three-qubit gates, greedy noise-aware layout, greedy shortest-path routing,
   native translation, single-qubit resynthesis, ASAP schedule.
1. as 0, plus commutation-aware cancellation / rotation merging and two-qubit block
   consolidation (numeric runs only) before and after routing, and one SABRE routing trial (VF2
   layout when the interaction graph embeds without SWAPs).
2. as 1, with SABRE forward-backward layout from 3 starts and 4 routing trials.
3. as 2, with 8 starts, 3 refinement rounds and 8 routing trials; on a device with uneven errors
   the best calibrated ESP over ``ESP_SEEDS`` seeds x (error-weighted, uniform) routing.

The pipeline records the time, two-qubit gate count and depth after every pass. ``dd`` (none,
xx, xy4, staggered, auto) adds dynamical decoupling to the chosen compile's schedule.
"""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import ParamSpec, TypeVar

import cirq

from hqvit.compiler.hqvit import HQViTConfig, build_attention_circuit
from hqvit.compiler.passmanager import PassManager, best_of
from hqvit.ir.circuit import Circuit, Gate
from hqvit.ir.errors import InputError
from hqvit.ir.metrics import depth, gate_counts
from hqvit.ir.specialization import EncodingSpecialization
from hqvit.passes import (
    cancel,
    consolidate,
    dynamical_decoupling,
    expand_swaps,
    expand_three_qubit,
    layout,
    lower,
    native,
    route,
    sabre,
    sabre_layout,
    schedule,
    serialize_crosstalk,
    single_qubit,
    synthesize_hqvit,
    vf2_layout,
)
from hqvit.passes.base import Pass, PassContext, PassRecord
from hqvit.passes.lower import lower as lower_circuit
from hqvit.passes.sabre import exact_cost_of
from hqvit.passes.schedule import Schedule
from hqvit.targets import Target, ideal_target
from hqvit.targets.noise import esp, esp_of_schedule, plan_moments
from hqvit.targets.target import noise_blind

P = ParamSpec("P")
R = TypeVar("R")


@dataclass
class CompiledCircuit:
    circuit: Circuit  # lowered, native, on the target's qubit numbering
    logical: Circuit  # as built by the frontend (high-level ops kept)
    target: Target
    initial_layout: list[int]  # logical qubit -> physical qubit before the first gate
    final_layout: list[int]  # logical qubit -> physical qubit after the last gate
    schedule: Schedule
    config: HQViTConfig | None = None
    passes: list[PassRecord] = field(default_factory=list)
    seconds: float = 0.0
    swaps: int = 0
    specialization: EncodingSpecialization | None = None  # images must be admitted by it to bind
    dd: dict | None = None  # what dynamical decoupling did (passes/dynamical_decoupling.py)

    def success_probability(self, scale: float = 1.0, coherent: bool = True) -> dict:
        """``targets.noise.esp`` of the schedule; ``coherent=False`` skips the coherent idle terms."""
        if not coherent:  # the same floats without building moment plans (tests/targets/test_esp_fast.py)
            return esp_of_schedule(self.schedule, self.target, scale)
        moments = [[(g.name, g.qubits) for g in m] for m in self.schedule.moments]
        return esp(plan_moments(moments, self.target), self.schedule.measured, self.target, scale, coherent)

    def cirq_qubits(self) -> list[cirq.Qid]:
        return target_qubits(self.target)

    def to_cirq(self, bindings: dict[str, float] | None = None, measurements: bool = True) -> cirq.Circuit:
        """Moment-structured circuit on the device's qubits, one moment per schedule layer."""
        from hqvit.ir.cirq_export import to_cirq

        qubits = self.cirq_qubits()
        moments = []
        for layer in self.schedule.moments:
            c = to_cirq(Circuit(self.target.num_qubits, [_seg(layer)]), bindings, qubits, measurements=False)
            moments.append(cirq.Moment(op for m in c for op in m))
        if measurements and self.schedule.measured:
            moments.append(cirq.Moment([cirq.measure(*(qubits[q] for q in self.schedule.measured), key="m")]))
        return cirq.Circuit(moments)

    def report(self, noise_scale: float = 1.0) -> dict:
        counts = gate_counts(self.circuit)
        logical_counts = gate_counts(lower_circuit(self.logical))
        out = {
            "logical_qubits": self.logical.num_qubits,
            "physical_qubits": len({q for g in self.circuit.gates() for q in g.qubits}),
            "target": self.target.name,
            "two_qubit_gates": counts["two_qubit_gates"],
            "one_qubit_gates": counts["one_qubit_gates"],
            "multi_qubit_gates": counts["multi_qubit_gates"],
            "cnots_before_mapping": logical_counts["cnots"],
            "swaps": self.swaps,
            "depth": self.schedule.depth(),
            "two_qubit_depth": depth(self.circuit, min_arity=2),
            "initial_layout": list(self.initial_layout),
            "final_layout": list(self.final_layout),
            "passes": [asdict(p) for p in self.passes],
            "compile_seconds": round(self.seconds, 6),
        }
        if not self.target.ideal:
            s = self.success_probability(noise_scale)
            out.update(s, noise_scale=noise_scale)
        if self.dd is not None:
            out["dd"] = self.dd
        if self.specialization is not None:
            spec = self.specialization
            out["specialization"] = {
                "source": spec.source,
                "zero_amplitudes": len(spec.zero_amplitudes),
                "dropped_rotations_per_copy": spec.dropped_rotations,
            }
        if self.config is not None:
            cfg = self.config
            out.update(
                tokens=cfg.tokens,
                features=cfg.features,
                heads=cfg.heads,
                trainable_gates_per_head=2 * cfg.layers * cfg.feature_qubits,
                trainable_gates=2 * cfg.layers * cfg.feature_qubits * cfg.heads,
            )
        return out


def _seg(gates: list[Gate]):
    from hqvit.ir.circuit import Segment

    return Segment("moment", list(gates))


def target_qubits(target: Target) -> list[cirq.Qid]:
    """The device's cirq qubits in the target's numbering (GridQubits for Google devices)."""
    labels = target.qubit_labels
    if labels and all(lb.startswith("q(") for lb in labels):
        return [cirq.GridQubit(*(int(x) for x in lb[2:-1].split(","))) for lb in labels]
    return list(cirq.LineQubit.range(target.num_qubits))


PRESETS = {
    0: {
        "cancel": False,
        "layout": "greedy",
        "router": "greedy",
        "starts": 0,
        "iterations": 0,
        "trials": 0,
        "placements": 0,
    },
    1: {
        "cancel": True,
        "layout": "greedy",
        "router": "sabre",
        "starts": 0,
        "iterations": 0,
        "trials": 1,
        "placements": 1,
    },
    2: {
        "cancel": True,
        "layout": "sabre",
        "router": "sabre",
        "starts": 3,
        "iterations": 2,
        "trials": 4,
        "placements": 2,
    },
    3: {
        "cancel": True,
        "layout": "sabre",
        "router": "sabre",
        "starts": 8,
        "iterations": 3,
        "trials": 8,
        "placements": 4,
    },
}
PATHS = ("synthesis", "generic")
ESP_SEEDS = 3  # seeds per routing metric tried by --opt 3 on a device with uneven errors


def synthesis_applies(logical: Circuit, target: Target, opt: int) -> bool:
    """The HQViT synthesis path: an HQViT circuit on a device with a coupling graph, opt >= 1."""
    return opt >= 1 and not target.ideal and not target.fully_connected and synthesize_hqvit.applicable(logical)


def preset_passes(opt: int, target: Target, path: str = "generic") -> list[Pass]:
    """The preset ``opt`` as a list of passes for ``target`` (see the module docstring); ``path``
    "synthesis" replaces lowering, layout and routing by ``synthesize_hqvit``."""
    p = PRESETS[opt]
    if path == "synthesis":
        return [synthesize_hqvit, expand_swaps, cancel, consolidate, native, cancel, single_qubit, cancel]
    if target.ideal:
        return [lower, cancel] if p["cancel"] else [lower]
    # on a fully connected device placement only picks the best qubits: no search, no SWAPs
    search = p["router"] == "sabre" and not target.fully_connected
    passes: list[Pass] = [lower, expand_three_qubit]
    if p["cancel"]:
        passes += [cancel, consolidate]
    if search:
        passes.append(vf2_layout)
        if p["layout"] == "sabre":
            passes.append(sabre_layout)
    passes += [layout, sabre if search else route]
    if p["cancel"]:
        passes += [expand_swaps, cancel, consolidate]
    passes.append(native)
    if p["cancel"]:
        passes.append(cancel)
    passes.append(single_qubit)
    if p["cancel"]:
        passes.append(cancel)
    return passes


def _pause_cyclic_gc(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` with Python's cyclic collector paused (and restored as it was). A compile
    allocates about a million short-lived, acyclic objects (gates, angles, rows) that reference
    counting frees anyway; the collector's full passes over them measured up to a fifth of a
    large compile."""

    @functools.wraps(fn)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return wrapped


@_pause_cyclic_gc
def compile_circuit(
    logical: Circuit,
    target: Target | None = None,
    config: HQViTConfig | None = None,
    opt: int = 2,
    seed: int = 0,
    noise_aware: bool = True,
    dd: str = "none",
) -> CompiledCircuit:
    """``noise_aware=False`` places and routes with every error set to its median (for comparison);
    the result is still scored on the real calibration. At ``opt=3`` on a real device with uneven
    errors, both metrics are tried with ``ESP_SEEDS`` seeds each and the compile with the highest
    calibrated ESP is kept: error-weighted routes avoid bad couplers but can cost extra gates and
    idle time, which on slow-gate devices outweighs what they save, and which placement a seed
    lands on moves the ESP more than a few gates do."""
    t0 = time.perf_counter()
    real = target or ideal_target(logical.num_qubits)
    synthesis = synthesis_applies(logical, real, opt)
    path = "synthesis" if synthesis else "generic"
    uneven = not real.ideal and not real.fully_connected and not real.uniform_errors
    if opt == 3 and noise_aware and uneven:
        # the noise-blind candidates all see one copy of the device (its routing tables built once)
        blind = noise_blind(real)
        candidates = [(seed, True, "generic")] + [
            (seed * ESP_SEEDS + k, aware, "generic")
            for k in range(ESP_SEEDS)
            for aware in (True, False)
            if k or not aware
        ]
        if synthesis:
            candidates = [(seed, True, "synthesis"), (seed, False, "synthesis")] + candidates
        best, record = best_of(
            "select_by_esp",
            [
                (_label(s, aware, p), _candidate(logical, real, config, opt, s, aware, p, None if aware else blind))
                for s, aware, p in candidates
            ],
            score=lambda c: c.success_probability(coherent=False)["esp"],
            records_of=lambda c: c.passes,
            circuit_of=lambda c: c.circuit,
        )
        best.passes = [record]
    elif opt == 3 and synthesis:
        # the synthesis against the generic routing, by error-weighted two-qubit count
        best, record = best_of(
            "select_by_two_qubit_cost",
            [
                (_label(seed, noise_aware, p), _candidate(logical, real, config, opt, seed, noise_aware, p))
                for p in PATHS
            ],
            score=lambda c: -exact_cost_of(c.circuit, real.coupling)[0],
            records_of=lambda c: c.passes,
            circuit_of=lambda c: c.circuit,
        )
        best.passes = [record]
    else:
        best = _compile(logical, real, config, opt, seed, noise_aware, path)
    if dd != "none":
        best = _decouple(best, dd)
    best.seconds = time.perf_counter() - t0
    return best


def _decouple(compiled: CompiledCircuit, mode: str) -> CompiledCircuit:
    """Dynamical decoupling on the chosen compile's schedule (after scheduling, once)."""
    ctx = PassContext(compiled.target, options={"dd": mode}, properties={"schedule": compiled.schedule})
    records: list[PassRecord] = []
    circuit = PassManager([dynamical_decoupling]).run(compiled.circuit, ctx, records)
    return replace(
        compiled,
        circuit=circuit,
        schedule=ctx.properties["schedule"],
        passes=compiled.passes + records,
        dd=ctx.properties.get("dd"),
    )


def _label(seed: int, aware: bool, path: str = "generic") -> str:
    return f"{path} seed {seed} {'noise-aware' if aware else 'noise-blind'}"


def _candidate(logical, target, config, opt, seed, aware, path="generic", seen=None):
    return lambda: _compile(logical, target, config, opt, seed, aware, path, seen)


def _compile(
    logical: Circuit,
    target: Target,
    config: HQViTConfig | None,
    opt: int,
    seed: int,
    noise_aware: bool,
    path: str = "generic",
    seen: Target | None = None,
) -> CompiledCircuit:
    """One compile. ``seen``: the target the passes see, when the caller has it already (else
    ``target``, or its ``noise_blind`` copy for a noise-blind compile)."""
    t0 = time.perf_counter()
    usable = len(target.usable_qubits)
    if logical.num_qubits > usable:
        raise InputError(f"circuit needs {logical.num_qubits} qubits but target {target.name} has {usable} usable")
    if opt not in PRESETS:
        raise InputError(f"--opt must be one of {sorted(PRESETS)}, got {opt}")
    p = PRESETS[opt]
    if seen is None:
        seen = target if noise_aware or target.ideal else noise_blind(target)
    ctx = PassContext(seen, device=target, seed=seed, options=dict(p))
    records: list[PassRecord] = []
    try:
        circuit = PassManager(preset_passes(opt, target, path)).run(logical, ctx, records)
    except synthesize_hqvit.SynthesisUnavailable:
        return _compile(logical, target, config, opt, seed, noise_aware, "generic", seen)
    if target.ideal:
        circuit = Circuit(target.num_qubits, circuit.segments, circuit.symbols, circuit.registers)
        ctx.properties["layout"] = list(range(logical.num_qubits))
        ctx.properties["final_layout"] = list(range(logical.num_qubits))
    # ALAP (opt >= 1) keeps qubits in |0> until they are needed; crosstalking couplers never
    # run in the same moment
    ctx.options["alap"] = p["cancel"]
    circuit = PassManager([schedule, serialize_crosstalk]).run(circuit, ctx, records)
    props = ctx.properties
    return CompiledCircuit(
        circuit,
        logical,
        target,
        props["layout"],
        props["final_layout"],
        props["schedule"],
        config,
        records,
        time.perf_counter() - t0,
        props.get("swaps", 0),
    )


def compile_hqvit(
    cfg: HQViTConfig,
    target: Target | None = None,
    opt: int = 2,
    seed: int = 0,
    noise_aware: bool = True,
    specialization: EncodingSpecialization | None = None,
    dd: str = "none",
) -> CompiledCircuit:
    """The HQViT circuit of ``cfg`` compiled for ``target``; with ``specialization`` the trees
    skip the rotations its data set never needs, and the result binds only images it admits."""
    compiled = compile_circuit(build_attention_circuit(cfg, specialization), target, cfg, opt, seed, noise_aware, dd)
    compiled.specialization = specialization
    return compiled
