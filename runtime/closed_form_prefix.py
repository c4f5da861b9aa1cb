"""The state after the compiled ``encode`` segment in closed form, batched and differentiable.

Why it is exact. The frontend puts the two Möttönen trees (one per copy of the image) alone in
the ``encode`` segment, and every pass works segment by segment: lowering, cancellation,
consolidation, native translation and single-qubit resynthesis rewrite the gates of one segment
into an equivalent product (up to a global phase), and both routers put each SWAP into the
segment of the gate it prepares, so no gate crosses the encode / trainable boundary. The compiled
encode segment W(x) is therefore, on every input, P_b (E(x) (x) E(x) (x) 1) P_0^-1 up to a global
phase: E(x) the logical tree of one copy, P_0 the initial layout, P_b the layout at the boundary.
On |0...0> the tree gives the real amplitudes a = x / ||x|| (the atan2 angles of
``hqvit.runtime.encoding`` reproduce the image norms level by level, with the signs on the last
level), so the prefix state is a (x) a on the copy registers, placed by P_b, every other qubit in
|0>. Global phases do not matter: the readout and the adjoint sweep use |psi|^2 and overlaps
of states that share the phase.

The compiled circuit does not keep P_b (the routers only report the initial and final layouts),
so it is read from the circuit itself: with every data angle at 0 each tree is the identity
(RY(0) = 1, and the Gray-code CNOTs of a level use each control an even number of times, all on
the same target, so they cancel), hence W(0) = P_b P_0^-1 is a permutation of qubits. Sending
|e_q> (one 1 on qubit q) through W(0) shows where q goes. The whole construction is then checked
against qsim's simulation of the prefix on random images (``verify``); anything that does not
match, for example a future pass that moves gates across the boundary, makes the caller fall
back to simulating the prefix.
"""

from __future__ import annotations

import numpy as np
import torch
from qsimcirq import qsim

from hqvit.ir.circuit import Circuit, Gate
from hqvit.ir.encoding import gray_inverse_matrix
from hqvit.runtime.adjoint import BatchedSegment
from hqvit.runtime.qsim_backend import QsimOptions, SegmentProgram

FIDELITY_TOL = 1e-5  # qsim simulates in single precision


class StructureError(ValueError):
    """The compiled circuit's encode segment is not the placed pair of amplitude-encoding trees."""


def amplitudes_from_tokens(tokens: torch.Tensor) -> torch.Tensor:
    """(B, T, d) -> (B, T d) amplitudes x / ||x|| in float64, index t d + f (token register the most
    significant bits, as ``AmplitudeEncode(index + feature)`` lays it out). An all-zero image
    (no valid token, so no S to read) gets |0> instead of 0 / 0."""
    x = tokens.reshape(tokens.shape[0], -1).to(torch.float64)
    norm2 = (x * x).sum(-1, keepdim=True)
    zero = norm2 == 0
    a = x / torch.sqrt(torch.where(zero, torch.ones_like(norm2), norm2))
    basis = torch.zeros_like(a)
    basis[:, 0] = 1.0
    return torch.where(zero, basis, a)


def amplitudes_from_angles(data: torch.Tensor, copy_qubits: int) -> torch.Tensor:
    """(B, 2^n - 1) Gray-code RY angles (``data_bindings``) -> (B, 2^n) amplitudes of the logical
    tree E|0>, differentiable. Level k: alpha = M_k theta undoes theta = M_k^-1 alpha, and
    RY(alpha_s) splits the amplitude of prefix s into cos(alpha_s / 2), sin(alpha_s / 2)."""
    theta = data.to(torch.float64)
    amp = torch.ones(theta.shape[0], 1, dtype=torch.float64)
    col = 0
    for k in range(copy_qubits):
        size = 1 << k
        m = torch.as_tensor(gray_inverse_matrix(k) * size, dtype=torch.float64)  # M_k^T
        alpha = theta[:, col : col + size] @ m
        col += size
        amp = torch.stack((amp * torch.cos(alpha / 2), amp * torch.sin(alpha / 2)), -1).reshape(amp.shape[0], -1)
    return amp


def boundary_permutation(prefix_gates: list[Gate], num_qubits: int, symbol_order: list[str]) -> list[int]:
    """Where the compiled encode segment at zero data angles sends each qubit: perm[q] = q'.

    A qubit permutation maps basis states to basis states, so ceil(log2 n) + 1 basis-state probes
    find it: probe b sets every qubit whose index has bit b set, and where its ones land tells,
    bit by bit, which qubit each position came from (the all-ones probe checks the count). The
    probes run on qsim: a statevector per qubit in torch costs minutes at 21 qubits. Raises
    ``StructureError`` when an output is not a basis state or the map is not a permutation; the
    caller's fidelity check on random images stays the proof of the whole structure."""
    program = SegmentProgram(prefix_gates, num_qubits, symbol_order)
    options = QsimOptions().as_dict()
    options["c"] = program.build(program.table.bind(np.zeros(len(symbol_order))))

    def image(qubits: list[int]) -> list[int]:
        state = np.zeros(1 << num_qubits, dtype=np.complex64)
        state[sum(1 << (num_qubits - 1 - q) for q in qubits)] = 1.0  # qubit 0 is the most significant bit
        prob = np.abs(qsim.qsim_simulate_fullstate(dict(options), state.view(np.float32)).view(np.complex64)) ** 2
        index = int(np.argmax(prob))
        if prob[index] < 0.9:  # complex64 rounding over thousands of gates costs ~1e-4; a real mixing ~0.5
            raise StructureError("the encode segment at zero angles does not map basis states to basis states")
        return [p for p in range(num_qubits) if index >> (num_qubits - 1 - p) & 1]

    if len(image(list(range(num_qubits)))) != num_qubits:
        raise StructureError("the encode segment at zero angles does not keep the number of ones")
    source = [0] * num_qubits  # output position -> input qubit, assembled bit by bit
    for b in range(max(1, (num_qubits - 1).bit_length())):
        for p in image([q for q in range(num_qubits) if q >> b & 1]):
            source[p] |= 1 << b
    if sorted(source) != list(range(num_qubits)):
        raise StructureError("the encode segment at zero angles is not a permutation of qubits")
    perm = [0] * num_qubits
    for p, q in enumerate(source):
        perm[q] = p
    return perm


class ClosedFormPrefix:
    """Builds the encoded state a (x) a on the physical (compacted) qubits at the boundary."""

    def __init__(
        self,
        circuit: Circuit,
        registers: dict[str, tuple[int, ...]],
        initial_layout: list[int],
        data_symbols: list[str],
        trainable_symbols: list[str],
    ):
        """``circuit``: the compacted, compiled circuit; ``registers``: the logical circuit's;
        ``initial_layout``: logical qubit -> qubit of ``circuit`` before the first gate."""
        n_data = len(data_symbols)
        order = data_symbols + trainable_symbols
        prefix = [op for s in circuit.segments if s.name == "encode" for op in s.ops if isinstance(op, Gate)]
        suffix = [op for s in circuit.segments if s.name != "encode" for op in s.ops if isinstance(op, Gate)]
        if not prefix or any(k not in registers for k in ("index1", "feature1", "index2", "feature2")):
            raise StructureError("not an HQViT circuit: no encode segment or no copy registers")
        copy1 = registers["index1"] + registers["feature1"]
        copy2 = registers["index2"] + registers["feature2"]
        self.copy_qubits = len(copy1)
        if len(copy2) != self.copy_qubits or n_data != (1 << self.copy_qubits) - 1:
            raise StructureError("the copy registers do not match the data symbols of one tree")
        if np.any(BatchedSegment(suffix, circuit.num_qubits, order).table.coeff[:, :n_data]):
            raise StructureError("gates after the encode segment depend on the data")
        if np.any(BatchedSegment(prefix, circuit.num_qubits, order).table.coeff[:, n_data:]):
            raise StructureError("the encode segment depends on trainable symbols")
        perm = boundary_permutation(prefix, circuit.num_qubits, order)
        self.num_qubits = circuit.num_qubits
        self.boundary = [perm[initial_layout[q]] for q in copy1 + copy2]  # copy qubit -> physical
        # basis index of the placed state for every (i, j) of the two copies (big-endian)
        n, size = self.num_qubits, 1 << (2 * self.copy_qubits)
        logical = np.arange(size)
        index = np.zeros(size, dtype=np.int64)
        for bit, phys in enumerate(self.boundary):
            index |= ((logical >> (2 * self.copy_qubits - 1 - bit)) & 1) << (n - 1 - phys)
        self.index = torch.from_numpy(index)

    def state(self, amplitudes: torch.Tensor) -> torch.Tensor:
        """(B, 2^n) amplitudes of one copy -> (B, 2^N) prefix state in their dtype, differentiable.

        a (x) a is a tensor over the 2n copy bits; placing it is a permutation of those axes onto
        their physical qubits (one strided copy, none when the layout keeps the order), with the
        other qubits' axes at index 0 (|0>)."""
        b, n = amplitudes.shape[0], self.num_qubits
        pair = (amplitudes[:, :, None] * amplitudes[:, None, :]).reshape((b,) + (2,) * (2 * self.copy_qubits))
        source = {p: i for i, p in enumerate(self.boundary)}
        placed = pair.permute(0, *[1 + source[p] for p in range(n) if p in source])
        if len(source) == n:
            return placed.reshape(b, -1)
        out = pair.new_zeros((b,) + (2,) * n)
        out[(slice(None),) + tuple(slice(None) if p in source else 0 for p in range(n))] = placed
        return out.reshape(b, -1)

    def from_angles(self, data: torch.Tensor) -> torch.Tensor:
        """(B, n_data) encoding angles -> (B, 2^N) prefix state."""
        return self.state(amplitudes_from_angles(data, self.copy_qubits))


def prefix_fidelity(closed: torch.Tensor, simulated: np.ndarray) -> np.ndarray:
    """|<closed|simulated>|^2 / (norms) per row: 1 when they agree up to a global phase."""
    a = closed.detach().to(torch.complex128).numpy()
    b = simulated.astype(np.complex128)
    overlap = np.abs(np.sum(a.conj() * b, axis=1)) ** 2
    return overlap / (np.sum(np.abs(a) ** 2, axis=1) * np.sum(np.abs(b) ** 2, axis=1))


def verification_tokens(tokens: int, features: int, seed: int = 0) -> torch.Tensor:
    """Random check images: two dense signed ones and a sparse non-negative one with zero tokens
    (the all-zero sub-trees of real images)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, tokens, features, generator=gen, dtype=torch.float64)
    x[2] = x[2].abs()
    x[2, : tokens // 2] = 0.0
    return x
