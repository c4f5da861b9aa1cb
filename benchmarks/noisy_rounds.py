"""Noisy-simulation throughput before and after the batched trajectory engine, in one sitting.

``make bench`` runs this. Each round runs ``noisy_throughput.py`` (this checkout's copy, evaluation
and ``train --noise``, one thread) three times, each in its own process:

- after, Markovian: this code with ``zz=0,t2star_ratio=1`` on every target, the noise model the
  code before the engine had (the like-for-like comparison);
- before: the same script against an unpacked copy of ``--before`` (default 7578ae8, the last
  commit that ran one qsim call per trajectory). ``git archive`` writes it to a temporary
  directory and a directory of symbolic links, first on PYTHONPATH, makes it the ``hqvit``
  package (path entries are searched before the editable install's finder);
- after, default model (static ZZ and quasi-static detuning on where the target has them).

Rounds interleave the variants so that a change in the machine's load hits all three; the figures
are medians over the rounds. ``noisy_results.py`` then writes <date>-<machine>-noisy.{json,md},
with the qiskit-aer comparison if ``--aer`` names compare_noisy.py's JSON. The before commit must
be in the clone's history (a shallow clone lacks it: one error line, exit 2).

    python benchmarks/noisy_rounds.py [--rounds 3] [--images 8] [--aer AER.json] [--out-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PACKAGES = ("ir", "targets", "passes", "compiler", "runtime", "studies", "cli")
MARKOVIAN = "zz=0,t2star_ratio=1"


def unpack(commit: str, into: Path) -> Path:
    """The commit's tree under ``into``/src and a PYTHONPATH entry that imports it as ``hqvit``."""
    src, shim = into / "src", into / "shim" / "hqvit"
    src.mkdir(parents=True)
    shim.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=False)
    if archive.returncode != 0:
        sys.exit(f"noisy_rounds: --before {commit}: not in this clone's history (a full clone is needed)")
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    (shim / "__init__.py").write_text("")
    for name in PACKAGES:
        if (src / name).is_dir():
            (shim / name).symlink_to(src / name, target_is_directory=True)
    return shim.parent


def run_variant(out: Path, args: argparse.Namespace, options: str, pythonpath: Path | None) -> None:
    cmd = [
        sys.executable,
        "-W",
        "ignore",
        str(HERE / "noisy_throughput.py"),
        "--mode",
        "both",
        "--targets",
        args.targets,
        "--train-targets",
        args.train_targets,
        "--train-trajectories",
        args.train_trajectories,
        "--images",
        str(args.images),
        "--trajectories",
        str(args.trajectories),
        "--limit",
        str(args.train_limit),
        "--repeats",
        "1",
        "--out",
        str(out),
    ]
    if options:
        cmd += ["--target-options", options]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
        # the old code's numba kernels must not share this checkout's cache files
        env["NUMBA_CACHE_DIR"] = str(pythonpath.parent / "numba-cache")
    print(f"# {out.name}", flush=True)
    subprocess.run(cmd, env=env, check=True, cwd=REPO)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="7578ae8", help="commit to compare with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--targets", default="ibm-torino,sycamore23")
    ap.add_argument("--train-targets", default="ionq-aria,ibm-torino")
    ap.add_argument("--train-trajectories", default="2,8")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--trajectories", type=int, default=32)
    ap.add_argument("--train-limit", type=int, default=20, help="train: images (80 %% of them train)")
    ap.add_argument("--aer", help="compare_noisy.py's JSON, added to the tables")
    ap.add_argument("--out-dir", default="benchmarks/results")
    args = ap.parse_args()
    if args.rounds < 1:
        sys.exit("noisy_rounds: --rounds must be at least 1")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        old = unpack(args.before, work / "before")
        files: dict[str, list[str]] = {"after": [], "before": [], "default": []}
        for r in range(args.rounds):
            for variant, options, path in (("after", MARKOVIAN, None), ("before", "", old), ("default", "", None)):
                out = work / f"{variant}-{r}.json"
                run_variant(out, args, options, path)
                files[variant].append(str(out))
        cmd = [sys.executable, str(HERE / "noisy_results.py"), "--out-dir", args.out_dir]
        cmd += ["--before-commit", args.before, "--after-commit", head.stdout.strip()]
        cmd += ["--before-eval", *files["before"], "--after-eval", *files["after"]]
        cmd += ["--after-default-eval", *files["default"]]
        if args.aer:
            cmd += ["--aer", args.aer]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
