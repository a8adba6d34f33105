"""Gradient global norm clipped to 0.05 (typical norms 0.01-0.09) (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.grad_clip = 0.05
  return config
