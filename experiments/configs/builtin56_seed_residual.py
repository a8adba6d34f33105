"""The seed network added to bicubic, otherwise as builtin56_edsr."""
from configs import sr56


def get_config():
  config = sr56.get_config()
  config.model = 'seed_residual'
  return config
