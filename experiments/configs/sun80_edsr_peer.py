"""edsr width 32, 6 blocks (the network of torch_photo_sr.py), otherwise as sun80_edsr."""
from configs import photo


def get_config():
  config = photo.get_config()
  config.width = 32
  config.num_blocks = 6
  return config
