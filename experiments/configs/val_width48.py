"""edsr width 48 in place of 32 (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.width = 48
  return config
