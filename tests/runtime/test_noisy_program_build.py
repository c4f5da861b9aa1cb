"""The noisy program built with the per-process matrix caches is the program built without them,
bit for bit: every array field, for targets with every kind of element (depolarizing mixtures on
one and two qubits in both qubit orders, amplitude and phase damping, static ZZ phases and
quasi-static detunings on the IBM and Google targets, ibm-sherbrooke's ECR, which is not
symmetric, in both qubit orders, ions without idle terms on ionq-aria), and ibm-torino at a
second noise scale, which gives the same gates other channel parameters."""

import dataclasses

import numpy as np
import pytest

from hqvit.compiler.hqvit import HQViTConfig
from hqvit.compiler.pipeline import compile_hqvit
from hqvit.runtime import noisy_program as npg
from hqvit.runtime.batched_trajectories import BatchedTrajectories
from hqvit.runtime.noisy_attention import NoisyAttention, engine_copy
from hqvit.runtime.noisy_quantized import slot_table
from hqvit.targets import resolve_target

CFG = HQViTConfig((4, 4), (2, 2), layers=1)
TARGETS = ("ibm-torino", "ibm-sherbrooke", "sycamore23", "ionq-aria")
SCALES = {"ibm-torino": (1.0, 0.5)}  # the others at 1.0
CACHES = (npg.cached_unravel, npg.cached_placed_mixture, npg.cached_gate, npg.cached_placed_gate)


def fields(program: npg.NoisyProgram) -> dict[str, object]:
    """Every field of the program; the angle table as its coefficient and constant arrays."""
    out: dict[str, object] = {}
    for f in dataclasses.fields(program):
        value = getattr(program, f.name)
        if f.name == "table":
            out["table.coeff"], out["table.const"] = value.coeff, value.const
        else:
            out[f.name] = value
    return out


def same_bits(x: object, y: object) -> bool:
    if isinstance(x, np.ndarray):
        return isinstance(y, np.ndarray) and x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    return type(x) is type(y) and x == y


def zz_phase(m: np.ndarray) -> bool:
    """diag(1, 1, 1, exp(-i phi)) with phi != 0: a static ZZ element."""
    d = np.diag(m)
    return np.count_nonzero(m - np.diag(d)) == 0 and bool(np.all(d[:3] == 1)) and d[3] != 1


@pytest.fixture(scope="module")
def builds() -> list[tuple[str, float, npg.NoisyProgram, npg.NoisyProgram]]:
    """(target, scale, cached program, reference program) with the caches emptied first, so the
    later builds read entries the earlier ones stored."""
    for cache in CACHES:
        cache.cache_clear()
    out = []
    for name in TARGETS:
        compiled = compile_hqvit(CFG, resolve_target(name), opt=1, seed=0)
        for scale in SCALES.get(name, (1.0,)):
            noisy = NoisyAttention(CFG, compiled, scale, 2, None, 0)
            ops = npg.noisy_operations(compiled, noisy.noise, noisy.remap, noisy.line)
            reference = npg.build_program(ops, noisy.n, noisy.line, noisy.symbols, noisy.n_data, cached=False)
            out.append((name, scale, noisy.program, reference))
    return out


def test_cached_build_is_the_uncached_build_bit_for_bit(builds):
    for name, scale, program, reference in builds:
        got, want = fields(program), fields(reference)
        assert got.keys() == want.keys()
        differ = [k for k in want if not same_bits(got[k], want[k])]
        assert not differ, f"{name} at scale {scale}: {differ} differ from the uncached build"


def test_the_comparison_covers_every_element_kind_and_reads_the_caches(builds):
    """Not vacuous: the compared programs hold every kind of element, and the cached builds
    took most of their matrices from entries stored by earlier channels or builds."""
    kinds = {name: set() for name in TARGETS}
    for name, _, program, _ in builds:
        kinds[name] |= set(program.elem_kind.tolist())
        if name != "ionq-aria":
            assert len(program.ph_qubit) > 0 and len(program.qs_qubit) > 0  # detunings
            fixed_two = (program.elem_pos == 2) & (program.elem_kind == npg.FIXED)
            assert any(zz_phase(program.fixed[s]) for s in program.elem_slot[fixed_two])
    assert kinds["ibm-torino"] >= {npg.FIXED, npg.RZ, npg.MIX, npg.AD}
    assert npg.AD in kinds["ionq-aria"] and npg.MIX in kinds["ionq-aria"]
    for cache in (npg.cached_unravel, npg.cached_placed_mixture, npg.cached_placed_gate):
        info = cache.cache_info()
        assert info.hits > info.misses > 0


def same_attributes(x: object, y: object) -> list[str]:
    """The attributes of two engines that differ (programs field by field, arrays bit for bit)."""
    differ = []
    assert vars(x).keys() == vars(y).keys()
    for name, a in vars(x).items():
        b = getattr(y, name)
        if isinstance(a, npg.NoisyProgram):
            fa, fb = fields(a), fields(b)
            differ += [f"program.{k}" for k in fa if not same_bits(fa[k], fb[k])]
            if a.table.symbol_order != b.table.symbol_order:
                differ.append("program.table.symbol_order")
        elif not same_bits(a, b):
            differ.append(name)
    return differ


def test_engine_copy_is_a_fresh_engine():
    """``engine_copy`` (what backends sharing a build and the quantized-angle engine use) equals
    a ``BatchedTrajectories`` built from scratch, with its own run counters."""
    compiled = compile_hqvit(CFG, resolve_target("ibm-torino"), opt=1, seed=0)
    noisy = NoisyAttention(CFG, compiled, 1.0, 2, None, 0)
    noisy.engine.stats += 1  # a run's counters are not copied
    table = slot_table(len(noisy.program.table.const))
    for copied, fresh in (
        (engine_copy(noisy.engine), BatchedTrajectories(noisy.program)),
        (engine_copy(noisy.engine, table), BatchedTrajectories(dataclasses.replace(noisy.program, table=table))),
    ):
        assert not same_attributes(copied, fresh), same_attributes(copied, fresh)
        assert copied.stats is not noisy.engine.stats
    shared = NoisyAttention(CFG, compiled, 1.0, 2, None, 3, (noisy.program, noisy.engine))
    assert shared.program is noisy.program and not same_attributes(shared.engine, BatchedTrajectories(noisy.program))
