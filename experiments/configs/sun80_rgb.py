"""configs/photo.py in RGB: 3 channels in and out of the model, 36,000 steps, otherwise as sun80_edsr32x8 (configs/photo_rgb.py: pretrained:photo_rgb)."""
from configs import photo_rgb


def get_config():
  return photo_rgb.get_config()
