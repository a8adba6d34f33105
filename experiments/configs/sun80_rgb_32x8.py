"""configs/photo.py in RGB: 3 channels in and out of edsr 32x8, 36,000 steps, otherwise as sun80_edsr32x8 (configs/photo_rgb_32x8.py; 152,332 parameters, over the photo models' 150,000)."""
from configs import photo_rgb_32x8


def get_config():
  return photo_rgb_32x8.get_config()
