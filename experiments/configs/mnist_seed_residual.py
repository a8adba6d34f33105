"""The seed network added to bicubic, otherwise as mnist_edsr."""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model = 'seed_residual'
  return config
