"""The command line as a user runs it: JSON output, exit codes, one-line errors.

``run`` starts the installed ``hqvit`` script in a subprocess: for the exit statuses the shell
sees, for determinism across processes (another hash seed, fresh caches) and for what a fresh
interpreter imports. Every other case calls ``main`` in this process (``call``), the function
the script runs, so it goes through the same parsing, command and error handling without paying
seconds of interpreter and library start-up each time.
"""

import argparse
import json
import subprocess
import sys
from importlib.metadata import version

import numpy as np
import pytest

from hqvit.cli.args import HelpFormatter
from hqvit.cli.main import build_parser, main
from tests.conftest import hqvit_cmd
from tests.idx_files import write_mnist_dir


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(hqvit_cmd() + list(args), capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def call(capsys, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``hqvit ARGS`` through ``main`` in this process, as the console script runs it (argparse's
    exit on a bad argument is its status); its captured stdout and stderr."""
    capsys.readouterr()  # only this command's output
    try:
        code = main(list(args))
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    if check:
        assert code == 0, err
    return subprocess.CompletedProcess(["hqvit", *args], code, out, err)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("hqvit: error:") and needle in lines[0], lines[0]


def test_compile_json_report():
    out = last_json(run("compile", "--image", "8x8", "--patch", "4x4", "--json"))
    for key in ("logical_qubits", "physical_qubits", "two_qubit_gates", "one_qubit_gates", "depth", "compile_seconds"):
        assert key in out
    assert out["logical_qubits"] == 12
    # 2 copies x (2^6 - 2) encoding CNOTs + 2 x 2 layers x 3 chain CNOTs + 4 swap-test CNOTs
    assert out["two_qubit_gates"] == 2 * 62 + 12 + 4
    assert out["trainable_gates_per_head"] == 16


def test_compile_cswap_adds_the_ancilla(capsys):
    out = last_json(call(capsys, "compile", "--swap-test", "cswap", "--json"))
    assert out["logical_qubits"] == 13 and out["multi_qubit_gates"] == 4


def test_compile_emits_qasm_that_reimports_to_the_same_circuit(tmp_path, capsys):
    phys, logical, q3 = tmp_path / "p.qasm", tmp_path / "l.qasm", tmp_path / "c.qasm3"
    call(
        capsys,
        "compile",
        "--bind",
        "random:0",
        "--emit-qasm",
        str(phys),
        "--emit-logical-qasm",
        str(logical),
        "--emit-qasm3",
        str(q3),
    )
    assert phys.read_text().startswith("OPENQASM 2.0;") and "input float[64]" in q3.read_text()
    again = last_json(call(capsys, "compile", "--qasm", str(logical), "--json"))
    assert again["two_qubit_gates"] == 140 and again["logical_qubits"] == 12


def test_verify_passes_and_reports_the_error(capsys):
    out = last_json(call(capsys, "verify", "--samples", "3", "--json"))
    assert out["passed"] and out["max_abs_error"] <= 1e-5 and out["samples"] == 3


def test_train_evaluate_resume_and_determinism(tmp_path, capsys):
    common = ["train", "--dataset", "digits", "--limit", "120", "--batch", "16", "--seed", "3", "--json"]
    # a in a subprocess, b in this one: the same figures from two processes (two hash seeds)
    a = last_json(run(*common, "--epochs", "1", "--out", str(tmp_path / "a")))
    b = last_json(call(capsys, *common, "--epochs", "1", "--out", str(tmp_path / "b")))
    for key in ("test_accuracy", "train_accuracy", "epochs", "train_samples_per_s", "seconds", "checkpoint"):
        assert key in a
    assert a["test_accuracy"] == b["test_accuracy"] and a["train_accuracy"] == b["train_accuracy"]
    ev = last_json(call(capsys, "evaluate", "--checkpoint", a["checkpoint"], "--json"))
    assert ev["test_accuracy"] == a["test_accuracy"]
    # one epoch + one resumed epoch == two epochs straight
    resumed = last_json(
        call(capsys, *common, "--epochs", "2", "--out", str(tmp_path / "a"), "--resume", a["checkpoint"])
    )
    straight = last_json(call(capsys, *common, "--epochs", "2", "--out", str(tmp_path / "c")))
    assert resumed["epochs"] == 2
    assert resumed["test_accuracy"] == straight["test_accuracy"]
    assert resumed["train_accuracy"] == straight["train_accuracy"]


def test_compiled_circuit_is_deterministic(tmp_path, capsys):
    a, b = tmp_path / "a.qasm", tmp_path / "b.qasm"
    # one compile in a subprocess, one in this process: string hashing and set order differ
    run("compile", "--bind", "random:5", "--emit-qasm", str(a))
    call(capsys, "compile", "--bind", "random:5", "--emit-qasm", str(b))
    assert a.read_text() == b.read_text()


@pytest.mark.parametrize(
    "args,needle",
    [
        (["compile", "--patch", "3x3"], "power of two"),
        (["compile", "--image", "8x8", "--patch", "16x16"], "does not tile"),
        (["compile", "--image", "eight"], "HxW"),
        (["verify", "--image", "1024x1024", "--patch", "2x2"], "qubits"),
        (["train", "--image", "1024x1024", "--patch", "2x2"], "qubits"),
        (["evaluate", "--checkpoint", "/nonexistent/ckpt.pt"], "does not exist"),
        (["compile", "--emit-qasm", "x.qasm"], "--bind"),
        (["compile", "--bind", "sometimes"], "random:SEED"),
    ],
)
def test_bad_input_gives_one_error_line(args, needle, capsys):
    proc = call(capsys, *args, check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, needle)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["compile", "--optimise", "3"], "--optimise"),  # refused by argparse, before any command runs
        (["train", "--image", "1024x1024", "--patch", "2x2"], "qubits"),  # by the command, torch loaded
    ],
)
def test_the_installed_command_exits_2_with_one_error_line(args, needle):
    """What the shell sees: status 2 and one line on stderr, also with every library a fresh
    interpreter imports (and may warn from) loaded."""
    proc = run(*args, check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, needle)


def test_bad_files_give_one_error_line(tmp_path, rng, capsys):
    def refused(*args: str) -> subprocess.CompletedProcess:
        proc = call(capsys, *args, check=False)
        assert proc.returncode == 2, proc.stderr
        return proc

    bad = tmp_path / "bad.qasm"
    bad.write_text("OPENQASM 2.0;\nqreg q[2];\ncx q[0] q[1];\n")
    assert_one_line_error(refused("compile", "--qasm", str(bad)), "malformed OpenQASM")
    assert_one_line_error(refused("compile", "--qasm", str(tmp_path / "none.qasm")), "cannot read")
    assert_one_line_error(refused("train", "--dataset", f"idx:{tmp_path / 'missing'}"), "does not exist")
    imgs = rng.uniform(0, 1, size=(12, 8, 8)).astype(np.float32)
    imgs[5, 0, 0] = np.nan
    write_mnist_dir(tmp_path / "nan", imgs, np.arange(12) % 10)
    assert_one_line_error(refused("train", "--dataset", f"idx:{tmp_path / 'nan'}"), "NaN")
    zero = rng.integers(1, 255, size=(12, 8, 8), dtype=np.uint8)
    zero[7] = 0
    write_mnist_dir(tmp_path / "zero", zero, np.arange(12) % 10)
    assert_one_line_error(refused("verify", "--dataset", f"idx:{tmp_path / 'zero'}"), "all zero")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert_one_line_error(refused("evaluate", "--checkpoint", str(junk)), "not readable")


def test_targets_list_show_export(tmp_path, capsys):
    names = [t["name"] for t in last_json(call(capsys, "targets", "list", "--json"))["targets"]]
    for expected in ("line:N", "heavy-hex:D", "sycamore23", "willow105", "ionq-aria", "quantinuum-h2", "ibm-torino"):
        assert expected in names
    shown = last_json(call(capsys, "targets", "show", "grid:2x3", "--json"))
    for key in (
        "name",
        "num_qubits",
        "edges",
        "native_gates",
        "median_errors",
        "t1_us",
        "t2_us",
        "durations_ns",
        "rep_delay_us",
        "source",
    ):
        assert key in shown
    assert shown["num_qubits"] == 6 and [0, 1] in shown["edges"]
    out = tmp_path / "t.json"
    call(capsys, "targets", "export", "ibm-sherbrooke", "--out", str(out))
    again = last_json(call(capsys, "targets", "show", f"file:{out}", "--json"))
    assert again["edges"] == last_json(call(capsys, "targets", "show", "ibm-sherbrooke", "--json"))["edges"]


@pytest.mark.parametrize("target", ["heavy-hex:3", "ibm-torino", "quantinuum-h2", "sycamore23"])
def test_compile_for_a_target_reports_esp_and_duration(target, tmp_path, capsys):
    qasm = tmp_path / "phys.qasm"
    out = last_json(
        call(
            capsys, "compile", "--target", target, "--verify", "--bind", "random:1", "--emit-qasm", str(qasm), "--json"
        )
    )
    assert out["verified"] is True and 0 < out["esp"] < 1 and out["duration_ns"] > 0
    assert len(out["initial_layout"]) == len(out["final_layout"]) == 12
    shown = last_json(call(capsys, "targets", "show", target, "--json"))
    edges = {tuple(e) for e in shown["edges"]}
    text = qasm.read_text()
    assert f"qreg q[{shown['num_qubits']}];" in text  # the target's own numbering
    import re

    for a, b in re.findall(r"^\w+ q\[(\d+)\],q\[(\d+)\];", text, flags=re.M):
        assert (min(int(a), int(b)), max(int(a), int(b))) in edges


def test_noise_scale_changes_esp(capsys):
    half = last_json(call(capsys, "compile", "--target", "grid:4x4", "--noise-scale", "0.5", "--json"))
    full = last_json(call(capsys, "compile", "--target", "grid:4x4", "--json"))
    assert half["esp"] > full["esp"] and half["two_qubit_gates"] == full["two_qubit_gates"]


@pytest.mark.parametrize(
    "args,needle",
    [
        (["compile", "--target", "line:5"], "needs 12 qubits"),
        (["compile", "--target", "warp:3"], "unknown target"),
        (["targets", "show"], "needs a target NAME"),
        (["targets", "show", "file:/nonexistent.json"], "cannot read target file"),
        (["compile", "--noise-scale", "-1", "--target", "grid:4x4"], "--noise-scale"),
    ],
)
def test_bad_target_input(args, needle, capsys):
    proc = call(capsys, *args, check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, needle)


def test_invalid_target_file_is_one_error_line(tmp_path, capsys):
    bad = tmp_path / "t.json"
    bad.write_text(
        '{"name": "x", "num_qubits": 2, "native_gates": {"one_qubit": "any", "two_qubit": "cx"}, '
        '"durations_ns": {"one_qubit": 1, "two_qubit": 1, "measure": 1}, "qubits": [], "couplers": []}'
    )
    proc = call(capsys, "targets", "show", f"file:{bad}", check=False)
    assert proc.returncode == 2
    assert_one_line_error(proc, "field 'qubits'")


HEAVY = ("torch", "cirq", "qsimcirq", "sympy", "matplotlib", "numba", "hqvit.compiler.pipeline")


def test_targets_list_and_the_parser_load_no_heavy_library():
    """``hqvit --help`` and ``hqvit targets list`` must start fast: torch, cirq and the pipeline are
    imported by the commands that run circuits, never by building the parser."""
    code = (
        "import json, sys; from hqvit.cli.main import build_parser, main; build_parser();"
        "assert main(['targets', 'list']) == 0;"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "sycamore23" in proc.stdout
    assert json.loads(proc.stdout.splitlines()[-1]) == []


def test_version_is_the_installed_distribution():
    want = f"hqvit {version('hqvit-compiler')}"
    assert run("--version").stdout.strip() == want
    module = subprocess.run([sys.executable, "-m", "hqvit.cli", "--version"], capture_output=True, text=True)
    assert module.returncode == 0 and module.stdout.strip() == want


def test_every_option_says_its_default():
    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in subcommands.choices.items():
        formatter = HelpFormatter(f"hqvit {name}")
        for action in parser._actions:
            if not action.option_strings or action.default == argparse.SUPPRESS:  # positionals, --help
                continue
            text = formatter._get_help_string(action) or ""
            assert "(default" in text or "(required)" in text or "(no default" in text, f"{name} {action.dest}: {text}"


def test_opt_choices_are_the_pipeline_presets():
    from hqvit.cli.args import OPT_LEVELS
    from hqvit.compiler.pipeline import PRESETS

    assert OPT_LEVELS == tuple(sorted(PRESETS))  # a copy, so that the parser need not load the pipeline
