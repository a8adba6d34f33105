"""Warmup (100 steps) and cosine decay of the learning rate (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.lr_schedule = 'cosine'
  config.warmup_steps = 100
  return config
