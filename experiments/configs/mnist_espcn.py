"""ESPCN-style sub-pixel network, width 64, otherwise as mnist_edsr."""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.model = 'espcn'
  config.width = 64
  return config
