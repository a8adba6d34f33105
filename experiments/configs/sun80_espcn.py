"""ESPCN-style sub-pixel network, width 64, otherwise as sun80_edsr."""
from configs import photo


def get_config():
  config = photo.get_config()
  config.model = 'espcn'
  config.width = 64
  return config
