"""edsr with 8 residual blocks in place of 4 (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.num_blocks = 8
  return config
