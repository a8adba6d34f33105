"""edsr width 32, 4 blocks, MSE, 2,000 steps of 128 (configs/sr28.py, the default config)."""
from configs import sr28


def get_config():
  return sr28.get_config()
