"""L1 loss in place of MSE (otherwise val_mse)."""
from experiments.configs import val_mse


def get_config():
  config = val_mse.get_config()
  config.loss = 'l1'
  return config
