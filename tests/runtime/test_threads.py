"""The thread rule used when ``--threads`` is not given (runtime/threads.py)."""

import os

from hqvit.runtime.threads import PAYS_FROM_QUBITS, available_cores, idle_cores, threads_for
from hqvit.runtime.train import TrainConfig, resolved_threads


def test_small_circuits_use_one_thread_whatever_the_cores():
    assert threads_for(12, cores=2) == 1
    assert threads_for(PAYS_FROM_QUBITS - 1, cores=64) == 1


def test_large_circuits_use_every_available_core():
    assert threads_for(16, cores=2) == 1  # MNIST 16x16: measured slower on two threads
    assert threads_for(PAYS_FROM_QUBITS, cores=2) == 2
    assert threads_for(20, cores=8) == 8
    assert threads_for(20, cores=0) == 1  # never less than one
    assert threads_for(20) == available_cores()


def test_the_rule_does_not_read_the_load(monkeypatch):
    """Same circuit, same machine -> same thread count, however busy the machine is."""
    picks = set()
    for load in (0.0, 1.5, 7.0, 50.0):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        picks.add((threads_for(20), threads_for(20, load=load), idle_cores()))
    assert picks == {(available_cores(),) * 3}


def test_train_config_resolves_threads_from_the_circuit():
    assert resolved_threads(TrainConfig(threads=3)) == 3
    assert resolved_threads(TrainConfig()) == 1  # digits: 12 logical qubits
    TrainConfig(threads=None).validate()
