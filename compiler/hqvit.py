"""HQViT frontend: model config -> logical attention circuit (see docs/CIRCUIT.md).

Registers, in qubit order: copy-1 index (log2 T), copy-1 features (log2 d), copy-2 index,
copy-2 features, then the ancilla for the CSWAP swap test. Both copies encode the same image, so
they share the data symbols. One circuit serves every head: heads are different bindings of the
trainable symbols ``q{layer}_{m}`` (U_Q) and ``k{layer}_{m}`` (U_K).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from hqvit.ir.encoding import encoding_symbols
from hqvit.ir.errors import InputError
from hqvit.ir.resources import check_compilable

if TYPE_CHECKING:
    from hqvit.ir.circuit import Circuit
    from hqvit.ir.specialization import EncodingSpecialization

SWAP_TESTS = ("bell", "cswap")


def _log2_exact(value: int, what: str) -> int:
    if value < 1 or value & (value - 1):
        raise InputError(f"{what} must be a power of two, got {value}")
    return value.bit_length() - 1


def parse_size(text: str, what: str) -> tuple[int, int]:
    """'8x8' or '8' -> (8, 8)."""
    parts = text.lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"{what} must look like HxW (e.g. 8x8), got {text!r}") from None
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 1:
        raise InputError(f"{what} must look like HxW with positive sizes, got {text!r}")
    return dims  # type: ignore[return-value]


@dataclass(frozen=True)
class HQViTConfig:
    image: tuple[int, int] = (8, 8)
    patch: tuple[int, int] = (4, 4)
    layers: int = 2  # ansatz layers L of U_Q and U_K
    heads: int = 1
    swap_test: str = "bell"

    def __post_init__(self) -> None:
        for name, (h, w) in (("image size", self.image), ("patch size", self.patch)):
            _log2_exact(h, f"{name} height")
            _log2_exact(w, f"{name} width")
        if self.image[0] % self.patch[0] or self.image[1] % self.patch[1]:
            raise InputError(f"patch {self.patch} does not tile image {self.image}")
        if self.patch[0] * self.patch[1] < 2:
            raise InputError("a patch needs at least 2 pixels (one feature qubit)")
        if self.layers < 1:
            raise InputError(f"ansatz layers must be >= 1, got {self.layers}")
        if self.heads < 1:
            raise InputError(f"heads must be >= 1, got {self.heads}")
        if self.swap_test not in SWAP_TESTS:
            raise InputError(f"swap test must be one of {SWAP_TESTS}, got {self.swap_test!r}")

    @property
    def grid(self) -> tuple[int, int]:
        return self.image[0] // self.patch[0], self.image[1] // self.patch[1]

    @property
    def tokens(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def features(self) -> int:
        return self.patch[0] * self.patch[1]

    @property
    def index_qubits(self) -> int:
        return self.tokens.bit_length() - 1

    @property
    def feature_qubits(self) -> int:
        return self.features.bit_length() - 1

    @property
    def copy_qubits(self) -> int:
        return self.index_qubits + self.feature_qubits

    @property
    def logical_qubits(self) -> int:
        return 2 * self.copy_qubits + (1 if self.swap_test == "cswap" else 0)

    @property
    def logical_gate_estimate(self) -> int:
        """Gates of the lowered circuit, known before building it: each Möttönen tree has about
        2^n RY and 2^n CNOTs; the ansatz and the swap test are O(L log d)."""
        return 4 * (1 << self.copy_qubits) + 4 * self.layers * self.feature_qubits + 16 * self.feature_qubits

    def trainable_symbols(self) -> list[str]:
        return [f"{u}{layer}_{m}" for u in "qk" for layer in range(self.layers) for m in range(self.feature_qubits)]

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> HQViTConfig:
        return HQViTConfig(
            image=tuple(d["image"]),
            patch=tuple(d["patch"]),
            layers=d["layers"],
            heads=d["heads"],
            swap_test=d["swap_test"],
        )


def build_attention_circuit(cfg: HQViTConfig, specialization: EncodingSpecialization | None = None) -> Circuit:
    """The logical circuit; with ``specialization`` (a data set's always-zero amplitudes, same
    register size) both trees leave out the rotations that data set never needs."""
    # the IR loads cirq (~1.5 s); importing it here keeps HQViTConfig light for the CLI parser
    from hqvit.ir.circuit import DATA, TRAINABLE, AmplitudeEncode, Ansatz, Circuit, Measure, Segment, SwapTest

    size = f"the {cfg.image[0]}x{cfg.image[1]} / {cfg.patch[0]}x{cfg.patch[1]} circuit"
    check_compilable(cfg.logical_gate_estimate, cfg.logical_qubits, size)  # before 2^n symbols exist
    n_idx, n = cfg.index_qubits, cfg.copy_qubits
    idx1, feat1 = tuple(range(0, n_idx)), tuple(range(n_idx, n))
    idx2, feat2 = tuple(range(n, n + n_idx)), tuple(range(n + n_idx, 2 * n))
    registers = {"index1": idx1, "feature1": feat1, "index2": idx2, "feature2": feat2}
    ancilla = None
    if cfg.swap_test == "cswap":
        ancilla = 2 * n
        registers["ancilla"] = (ancilla,)
    zero_steps: tuple[tuple[int, ...], ...] = ()
    if specialization is not None:
        if specialization.num_qubits != n:
            raise InputError(
                f"the specialization is for {specialization.num_qubits}-qubit registers, the circuit has {n}"
            )
        zero_steps = specialization.zero_steps()
    # every data symbol stays declared (a dropped one binds to 0), so bindings keep their order
    symbols = {s: DATA for s in encoding_symbols("x", n)}
    symbols.update({s: TRAINABLE for s in cfg.trainable_symbols()})
    readout = [SwapTest(feat1, feat2, cfg.swap_test, ancilla)]
    measured = idx1 + idx2 + (feat1 + feat2 if cfg.swap_test == "bell" else (ancilla,))
    readout.append(Measure(measured))
    segments = [
        Segment(
            "encode", [AmplitudeEncode(idx1 + feat1, "x", zero_steps), AmplitudeEncode(idx2 + feat2, "x", zero_steps)]
        ),
        Segment("trainable", [Ansatz(feat1, cfg.layers, "q"), Ansatz(feat2, cfg.layers, "k")]),
        Segment("readout", readout),
    ]
    return Circuit(cfg.logical_qubits, segments, symbols, registers)
