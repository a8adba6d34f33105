"""Random 90-degree rotations and flips (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.augment = True
  return config
