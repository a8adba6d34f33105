"""edsr width 32, 4 blocks, 2,000 steps of 32 (configs/sr56.py)."""
from configs import sr56


def get_config():
  return sr56.get_config()
