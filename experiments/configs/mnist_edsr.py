"""edsr width 32, 4 blocks, MSE, 2,000 steps of 128 (configs/mnist.py, the default model)."""
from configs import mnist


def get_config():
  return mnist.get_config()
