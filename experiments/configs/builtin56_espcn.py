"""ESPCN-style sub-pixel network, width 64, otherwise as builtin56_edsr."""
from configs import sr56


def get_config():
  config = sr56.get_config()
  config.model = 'espcn'
  config.width = 64
  return config
