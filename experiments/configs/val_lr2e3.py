"""Adam learning rate 2e-3 in place of 1e-3 (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.learning_rate = 2e-3
  return config
