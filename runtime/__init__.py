"""The runtime: qsim execution, the hybrid PyTorch model, training and noisy evaluation."""
