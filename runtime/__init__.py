"""Execution of compiled HQViT circuits (qsim, closed form), autograd bridge, model and training."""
