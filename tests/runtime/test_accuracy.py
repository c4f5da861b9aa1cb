"""Acceptance: the hybrid model trained on qsim reaches >= 95% on the real digits test split.

About a minute on two cores: the full 1437-image training set, 10 epochs, every gradient by
parameter shift through qsim. The classical twin is trained by the same code path.
"""

from hqvit.runtime.train import TrainConfig, train


def test_qsim_training_reaches_95_percent_on_digits(tmp_path):
    result = train(TrainConfig(backend="qsim", epochs=10, seed=0, out=str(tmp_path / "q")), log=lambda m: None)
    assert result["train_samples"] == 1437 and result["test_samples"] == 360
    assert result["test_accuracy"] >= 0.95, result["history"]


def test_classical_twin_trains_with_the_same_command(tmp_path):
    result = train(TrainConfig(attention="classical", epochs=10, seed=0, out=str(tmp_path / "c")), log=lambda m: None)
    assert result["test_accuracy"] >= 0.90, result["history"]
