"""The seed network (encoder-decoder), otherwise as mnist_edsr."""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model = 'seed'
  return config
