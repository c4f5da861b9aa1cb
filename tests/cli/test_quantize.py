"""``hqvit quantize`` as a user runs it: the sweep's files, a saved quantized model that
``hqvit evaluate`` scores exactly as the sweep did, and bad input as one line with exit status 2."""

import json
from pathlib import Path

import pytest
import torch

from hqvit.cli.main import main
from hqvit.runtime.checkpoint import load_checkpoint
from hqvit.runtime.classical_quantization import QuantizedViT, build_plan, weight_range
from hqvit.runtime.quantized_model import quantized_angles, restore_quantized
from hqvit.studies.quantize_study import deploy_settings, load_setup, parse_options, save_deploy
from tests.cli.test_robustness import one_error_line, run_cli

TINY = ["--dataset", "digits", "--limit", "200", "--batch", "16", "--epochs", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A one-epoch digits HQViT on qsim (seconds)."""
    out = tmp_path_factory.mktemp("quantize") / "run"
    assert main(["train", *TINY, "--backend", "qsim", "--out", str(out)]) == 0
    return out / "checkpoint.pt"


@pytest.fixture(scope="module")
def swept(trained, tmp_path_factory) -> tuple[dict, Path, Path]:
    out = tmp_path_factory.mktemp("sweep")
    saved = out / "deploy.pt"
    argv = ["quantize", "--checkpoint", str(trained), "--weight-bits", "8,4", "--act-bits", "8", "--angle-bits", "8,3"]
    argv += ["--samples", "4", "--calibration", "20", "--out", str(out), "--save", str(saved), "--json"]
    assert main(argv) == 0
    return json.loads((out / "quantize.json").read_text()), out, saved


def test_sweep_writes_every_part_as_json_markdown_and_png(swept):
    result, out, _ = swept
    parts = {p["part"] for p in result["points"]}
    assert parts == {
        "weights",
        "activations",
        "activations + RepQ LN",
        "activations + log2 softmax",
        "activations + RepQ + log2",
        "W/A",
        "W/A + RepQ + log2",
        "angles (round)",
        "angles (interpolate)",
        "W8A8 + angles (round)",
        "W8A8 + angles (interpolate)",
    }
    assert len(result["points"]) == 2 + 4 + 2 * 2 + 2 * 2 + 2 * 2
    for p in result["points"]:
        assert 0 <= p["accuracy"] <= 1 and 0 < p["model_bytes"] and p["attention_score_error"] >= 0
        lo, hi = p["accuracy_ci95"]
        assert lo <= p["accuracy"] <= hi
    by = {(p["part"], p["bits"]): p for p in result["points"]}
    # classical quantization leaves the circuit's S alone (one block reads the raw image); angles move it
    assert by[("weights", 4)]["attention_score_error"] == 0
    assert by[("angles (round)", 3)]["attention_score_error"] > by[("angles (round)", 8)]["attention_score_error"] > 0
    assert by[("weights", 4)]["model_bytes"] < by[("weights", 8)]["model_bytes"] < result["reference"]["model_bytes"]
    assert by[("angles (interpolate)", 3)]["sampling_overhead"] > by[("angles (interpolate)", 8)]["sampling_overhead"]
    md = (out / "quantize.md").read_text()
    assert "| W \\ A | A8 |" in md and "angles (interpolate)" in md
    assert (out / "quantize.png").stat().st_size > 1000


def test_saved_model_is_quantized_and_evaluates_as_in_the_sweep(swept, capsys):
    result, _, saved = swept
    ckpt = torch.load(saved, weights_only=True)
    q = ckpt["quantization"]
    assert q["settings"]["weight_bits"] == 8 and q["settings"]["angle_bits"] == 8
    lo, hi = weight_range(8)
    for name, entry in q["linears"].items():
        assert entry["codes"].dtype == torch.int8 and lo <= int(entry["codes"].min()) <= int(entry["codes"].max()) <= hi
        assert f"{name}.weight" not in ckpt["model"]  # the float weights are not shipped
    for codes in q["angle_codes"].values():
        assert 0 <= int(codes.min()) and int(codes.max()) < 2**8
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(saved), "--json")
    assert code == 0, err
    evaluated = json.loads(out.strip().splitlines()[-1])
    point = next(p for p in result["points"] if p["part"] == "W8A8 + angles (round)" and p["bits"] == 8)
    assert evaluated["test_accuracy"] == point["accuracy"]
    assert evaluated["model_bytes"] == point["model_bytes"] == q["model_bytes"]
    assert evaluated["test_samples"] == result["test_samples"]


def test_saved_model_computes_the_same_logits_as_the_plan_it_was_saved_from(trained, swept):
    """Bit for bit: integer codes, scales, activation quantizers and angle codes all survive."""
    _, _, saved = swept
    opts = parse_options("8,4", "8", "8,3", "both", 20, 4, "repq", "log2", None, 0)
    setup = load_setup(str(trained), opts)
    settings = deploy_settings(opts)
    direct = QuantizedViT(setup.model, build_plan(setup.model, settings, setup.calibration))
    ckpt = load_checkpoint(saved, quantized=True)
    model, plan = restore_quantized(ckpt, setup.mcfg, saved, backend="qsim")
    assert plan.settings == settings
    with torch.no_grad():
        with quantized_angles(setup.model, settings):
            want = direct(setup.images)
        with quantized_angles(model, settings):
            got = QuantizedViT(model, plan)(setup.images)
        plain = setup.model(setup.images)
    assert torch.equal(got, want)
    assert not torch.equal(got, plain)  # and the quantization is really there


def test_evaluate_runs_an_aggressively_quantized_model_as_quantized(trained, capsys, tmp_path):
    """At 2 bits everywhere the test accuracy moves away from full precision, and ``hqvit evaluate``
    reports the quantized model's accuracy, not the float one's."""
    opts = parse_options("2", "2", "2", "round", 20, 4, "uniform", "uniform", None, 0)
    setup = load_setup(str(trained), opts)
    saved = tmp_path / "w2a2.pt"
    settings = save_deploy(setup, opts, str(saved))
    with torch.no_grad(), quantized_angles(setup.model, settings):
        logits = QuantizedViT(setup.model, build_plan(setup.model, settings, setup.calibration))(setup.images)
    n = len(setup.labels)
    want = int((logits.argmax(1) == setup.labels).sum()) / n
    full = int((setup.model(setup.images).argmax(1) == setup.labels).sum()) / n
    code, out, err = run_cli(capsys, "evaluate", "--checkpoint", str(saved), "--json")
    assert code == 0, err
    got = json.loads(out.strip().splitlines()[-1])["test_accuracy"]
    assert got == want and abs(got - full) > 0.05


def test_other_commands_refuse_a_quantized_checkpoint(swept, capsys, tmp_path):
    _, _, saved = swept
    for argv in (
        ["noise-sweep", "--checkpoint", str(saved), "--target", "ionq-aria", "--out", str(tmp_path / "n")],
        ["train", *TINY, "--out", str(tmp_path / "r"), "--resume", str(saved)],
        ["quantize", "--checkpoint", str(saved), "--out", str(tmp_path / "q")],
    ):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "is quantized (hqvit quantize --save)" in one_error_line(err)


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("codes", 127, "outside the 4-bit range"),
        ("settings", {"weight_bits": 40}, "--weight-bits"),
        ("scales", -1.0, "scales must be positive"),
    ],
)
def test_a_tampered_quantized_checkpoint_is_one_line(swept, capsys, tmp_path, field, value, needle):
    _, _, saved = swept
    ckpt = torch.load(saved, weights_only=True)
    q = ckpt["quantization"]
    if field == "codes":
        q["settings"]["weight_bits"] = 4  # int8 codes up to 127 do not fit 4 bits
        q["linears"]["head"]["codes"][0, 0] = value
    elif field == "settings":
        q["settings"].update(value)
    else:
        q["linears"]["head"]["scales"][0] = value
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    code, _, err = run_cli(capsys, "evaluate", "--checkpoint", str(bad))
    assert code == 2 and needle in one_error_line(err)


BAD = {
    "missing checkpoint": (["--checkpoint", "{missing}"], "does not exist"),
    "corrupt checkpoint": (["--checkpoint", "{corrupt}"], "not readable"),
    "weight bits 0": (["--weight-bits", "0"], "--weight-bits"),
    "act bits 33": (["--act-bits", "33"], "--act-bits"),
    "angle bits 33": (["--angle-bits", "8,33"], "--angle-bits"),
    "angle bits 1": (["--angle-bits", "1"], "--angle-bits"),
    "empty item": (["--weight-bits", "8,,4"], "--weight-bits"),
    "not a number": (["--act-bits", "8,x"], "--act-bits"),
    "empty list": (["--angle-bits", ""], "--angle-bits"),
    "negative": (["--weight-bits", "-8"], "--weight-bits"),
    "duplicate": (["--act-bits", "8,8"], "--act-bits"),
    "calibration 0": (["--calibration", "0"], "--calibration"),
    "calibration text": (["--calibration", "many"], "--calibration"),
    "samples 0": (["--samples", "0"], "--samples"),
    "limit 0": (["--limit", "0"], "--limit"),
    "threads 0": (["--threads", "0"], "--threads"),
    "angle mode": (["--angle-mode", "truncate"], "--angle-mode"),
    "out is a file": (["--out", "{corrupt}"], "--out"),
    "save is a directory": (["--save", "{dir}"], "--save"),
    "classical attention": (["--checkpoint", "{classical}"], "classical attention"),
}


@pytest.fixture(scope="module")
def classical(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("classical") / "run"
    assert main(["train", *TINY, "--attention", "classical", "--backend", "exact", "--out", str(out)]) == 0
    return out / "checkpoint.pt"


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_naming_the_argument(case, trained, classical, capsys, tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(bytes(range(256)) * 8)
    names = {"missing": tmp_path / "nope.pt", "corrupt": corrupt, "dir": tmp_path, "classical": classical}
    extra, needle = BAD[case]
    extra = [a.format(**{k: str(v) for k, v in names.items()}) for a in extra]
    argv = ["quantize", "--checkpoint", str(trained), "--out", str(tmp_path / "out"), *extra]
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert needle in one_error_line(err)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_an_interrupted_sweep_keeps_its_finished_settings(trained, monkeypatch):
    from hqvit.studies import quantize_study

    opts = parse_options("8", "8", "8", "round", 20, 4, "repq", "log2", 8, 0)
    setup = load_setup(str(trained), opts)
    real, calls = quantize_study.run_setting, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the reference, one setting, then Ctrl-C
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(quantize_study, "run_setting", flaky)
    seen = []
    result = quantize_study.sweep(setup, opts, on_point=lambda r: seen.append(len(r["points"])))
    assert result["interrupted"] and len(result["points"]) == 1 and seen == [1]
    assert "Interrupted" in quantize_study.markdown(result)
