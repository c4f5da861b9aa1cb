"""The thread rule used when ``--threads`` is not given (runtime/threads.py)."""

from hqvit.runtime.threads import PAYS_FROM_QUBITS, idle_cores, threads_for
from hqvit.runtime.train import TrainConfig, resolved_threads


def test_small_circuits_use_one_thread_whatever_the_cores():
    assert threads_for(12, cores=2, load=0.0) == 1
    assert threads_for(PAYS_FROM_QUBITS - 1, cores=64, load=0.0) == 1


def test_large_circuits_use_the_idle_cores():
    assert threads_for(16, cores=2, load=0.2) == 2
    assert threads_for(20, cores=8, load=3.5) == 5
    assert threads_for(16, cores=2, load=7.0) == 1  # every core busy: never less than one
    assert idle_cores(cores=1, load=0.0) == 1


def test_train_config_resolves_threads_from_the_circuit():
    assert resolved_threads(TrainConfig(threads=3)) == 3
    assert resolved_threads(TrainConfig()) == 1  # digits: 12 logical qubits
    TrainConfig(threads=None).validate()
