"""configs/photo_deep.py in RGB: 3 channels in and out of edsr 24x14, 30,500 steps (configs/photo_rgb.py: pretrained:photo_rgb)."""
from configs import photo_rgb


def get_config():
  return photo_rgb.get_config()
