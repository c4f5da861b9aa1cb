"""Device time: how many circuit executions and how much wall time a model would need on hardware.

Per shot a device spends the compiled schedule (``duration_ns``: every moment's longest gate), the
readout (``durations_ns["measure"]``) and the repetition delay before the next shot
(``Target.rep_delay_us``, documented per target loader). So one execution of N shots takes
N x (schedule + readout + delay), and a workload takes executions x N x that. Left out, and
said so in the report: job submission, queueing, compilation and per-circuit loading on the
provider's side (seconds per job), and classical compute.

Circuit executions per image (B blocks, H heads, one circuit per block and head):

- evaluation (forward): B x H;
- training with the parameter-shift rule, the hardware gradient (no state vector to sweep):
  the forward, plus 2 per trainable angle occurrence per head and block (a compiled rotation whose
  angle depends on U_Q / U_K; ``trainable_slots``, the slots ``QsimAttention`` shifts), plus, for
  every block after the first, 2 per data angle occurrence per head (its encoded tokens carry
  gradients back to the earlier blocks; ``data_slots``, shifted with the quotient rule of
  ``QsimAttention._data_vjp``). The ``frozen`` ablation shifts no trainable angles.

The temperature and every classical layer take their gradients from the forward's scores.
"""

from __future__ import annotations

from dataclasses import dataclass

from hqvit.ir.circuit import DATA, TRAINABLE
from hqvit.ir.errors import InputError

MAX_SHOTS = 10**9


@dataclass(frozen=True)
class Workload:
    train_images: int  # images per training epoch
    test_images: int  # images of one test-set evaluation
    blocks: int = 1
    attention: str = "quantum"  # "frozen": U_Q, U_K untrained, no trainable shifts


def angle_slots(compiled) -> dict[str, int]:
    """Rotation-angle slots of the compiled circuit that depend on trainable / data symbols (one
    head's circuit: every head binds the same one with its own angles)."""
    circuit = compiled.circuit
    counts = {TRAINABLE: 0, DATA: 0}
    for gate in circuit.gates():
        for angle in gate.angles:
            kinds = {circuit.symbols.get(s) for s in angle.symbols}
            for kind in counts:
                counts[kind] += kind in kinds
    return {"trainable_slots": counts[TRAINABLE], "data_slots": counts[DATA]}


def executions_per_image(slots: dict[str, int], heads: int, workload: Workload) -> dict[str, int]:
    forward = workload.blocks * heads
    trainable = 0 if workload.attention == "frozen" else 2 * slots["trainable_slots"] * heads * workload.blocks
    data = 2 * slots["data_slots"] * heads * (workload.blocks - 1)
    return {
        "evaluation": forward,
        "training": forward + trainable + data,
        "trainable_shifts": trainable,
        "data_shifts": data,
    }


def check_inputs(target, shots: int, blocks: int = 1, shots_arg: str = "--shots") -> None:
    """What an estimate needs, checked before anything is compiled; each message names its argument."""
    if isinstance(shots, bool) or not isinstance(shots, int) or not 1 <= shots <= MAX_SHOTS:
        raise InputError(f"{shots_arg} must be an integer in 1..{MAX_SHOTS}, got {shots!r}")
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1:
        raise InputError(f"--blocks must be an integer >= 1, got {blocks!r}")
    if target.rep_delay_us is None:
        why = f" ({target.rep_delay_source})" if target.rep_delay_source else ""
        raise InputError(f"target {target.name} has no repetition delay{why}: no device-time estimate")


def estimate(compiled, workload: Workload, shots: int) -> dict:
    """Executions and device seconds of one training epoch and one test-set evaluation at
    ``shots`` per execution. A target without a known repetition delay is an InputError."""
    target = compiled.target
    check_inputs(target, shots, workload.blocks)
    if compiled.config is None:
        raise InputError("a device-time estimate needs the HQViT circuit, not --qasm input")
    heads = compiled.config.heads
    schedule_ns = compiled.success_probability()["duration_ns"]
    readout_ns = target.durations_ns["measure"]
    shot_s = (schedule_ns + readout_ns) * 1e-9 + target.rep_delay_us * 1e-6
    slots = angle_slots(compiled)
    per_image = executions_per_image(slots, heads, workload)
    epoch = workload.train_images * per_image["training"]
    evaluation = workload.test_images * per_image["evaluation"]
    return {
        "target": target.name,
        "shots": shots,
        "schedule_ns": schedule_ns,
        "readout_ns": readout_ns,
        "rep_delay_us": target.rep_delay_us,
        "rep_delay_source": target.rep_delay_source,
        "shot_seconds": shot_s,
        **slots,
        "blocks": workload.blocks,
        "heads": heads,
        "executions_per_image": per_image,
        "train_images": workload.train_images,
        "test_images": workload.test_images,
        "epoch_executions": epoch,
        "epoch_seconds": epoch * shots * shot_s,
        "evaluation_executions": evaluation,
        "evaluation_seconds": evaluation * shots * shot_s,
        "excluded": "job submission, queueing and per-circuit loading on the provider's side; classical compute",
    }


def duration_text(seconds: float) -> str:
    """Seconds in the largest unit that keeps the number >= 1 (up to years)."""
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def summary_lines(est: dict) -> list[str]:
    """The human-readable report of one estimate."""
    per = est["executions_per_image"]
    return [
        f"device time on {est['target']} at {est['shots']} shots per execution: one shot = schedule "
        f"{est['schedule_ns'] / 1e3:.1f} µs + readout {est['readout_ns'] / 1e3:.1f} µs + repetition delay "
        f"{est['rep_delay_us']:g} µs ({est['rep_delay_source']})",
        f"  executions per image: evaluation {per['evaluation']} ({est['blocks']} block(s) x {est['heads']} head(s)); "
        f"training {per['training']} = forward + 2 x {est['trainable_slots']} trainable angle slots per head and block"
        + (f" + 2 x {est['data_slots']} data angle slots per head in the later blocks" if est["blocks"] > 1 else ""),
        f"  one training epoch ({est['train_images']} images, parameter shift): "
        f"{est['epoch_executions']:,} executions, {duration_text(est['epoch_seconds'])}",
        f"  one test-set evaluation ({est['test_images']} images): {est['evaluation_executions']:,} executions, "
        f"{duration_text(est['evaluation_seconds'])}",
        f"  not included: {est['excluded']}",
    ]
