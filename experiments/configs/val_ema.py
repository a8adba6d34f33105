"""Evaluated on an EMA of the weights (decay 0.999) (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.ema = 0.999
  return config
