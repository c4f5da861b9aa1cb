# Two commands on a fresh machine with Python 3.11 and pip:
#   make run   - compile the default digits model, print its resources, train it on qsim
#   make test  - lint and run the test suite (what CI runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench lint clean

# The torch requirement, installed first. Where the default index resolves it to the CUDA build,
# point pip at the CPU wheels: make TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH ?= torch==2.13.0
# setuptools announces every editable install with a warning box; the install is the intended one
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build first, pinned: an unpinned torch pulls several GB of CUDA packages
	$(BIN)/pip install --quiet $(TORCH)
	$(QUIET_EDITABLE) $(BIN)/pip install --quiet -e '.[dev,mnist,google]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hqvit compile --image 8x8 --patch 4x4
	$(BIN)/hqvit train --dataset digits --image 8x8 --patch 4x4 --backend qsim --epochs 10 --out runs/digits

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# results of one bench run: benchmarks/results/<date>-<machine>-<figure>
MACHINE := $(shell hostname)
# each run writes a directory of its own: a second run never replaces an earlier run's files
BENCH_DIR := benchmarks/results/$(shell date +%F-%H%M)-$(MACHINE)-bench
RESULTS := $(BENCH_DIR)/$(shell date +%F)-$(MACHINE)

bench: $(STAMP)
	$(QUIET_EDITABLE) $(BIN)/pip install --quiet -e '.[bench]'
	# torchquantum without its declared dependencies (torchvision would replace the CPU torch;
	# the reasons and what it imports instead: the bench extra in pyproject.toml);
	# compare_runtime.py stands in an empty module for its torchvision data-set loaders
	$(BIN)/pip install --quiet --no-deps torchquantum-ng==0.2.0 torchpack==0.3.1
	mkdir -p $(BENCH_DIR)
	$(BIN)/python -m pytest benchmarks -p no:cacheprovider --benchmark-columns=mean,stddev,rounds \
		--benchmark-json $(RESULTS)-pytest-benchmark.json
	$(BIN)/python -W ignore benchmarks/compare_compilers.py --out-dir $(BENCH_DIR)
	$(BIN)/python -W ignore benchmarks/compare_runtime.py --out-dir $(BENCH_DIR)
	$(BIN)/python -W ignore benchmarks/compare_runtime.py --gradients --out-dir $(BENCH_DIR)
	$(BIN)/python -W ignore benchmarks/compare_runtime.py --peers --out-dir $(BENCH_DIR)
	# noisy simulation and threads, in configurations of a few minutes each (the scripts' defaults
	# are longer); every JSON / Markdown / PNG of the run lands in $(BENCH_DIR)
	$(BIN)/python -W ignore benchmarks/thread_scaling.py --windows 3 --seconds 2 --out $(RESULTS)-threads.json
	# qiskit-aer on the same noisy circuits (its JSON joins the noisy tables), then this code against
	# the last commit with one qsim call per trajectory, in interleaved rounds (needs the full history)
	$(BIN)/python -W ignore benchmarks/compare_noisy.py --trajectories 32 --check-shots 100 --models markovian,zz \
		--out-dir $(BENCH_DIR)
	$(BIN)/python -W ignore benchmarks/noisy_rounds.py --rounds 3 --images 8 --aer $(RESULTS)-noisy-aer.json \
		--out-dir $(BENCH_DIR)
	$(BIN)/python -W ignore benchmarks/dd_fidelity.py --bindings 8 --trajectories 32 --machine $(MACHINE) \
		--out $(BENCH_DIR)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache .benchmarks
