"""edsr width 32, 8 blocks, L1, flips/rotations, cosine, 37,000 steps of 16: 30 minutes (configs/photo.py: pretrained:photo)."""
from configs import photo


def get_config():
  return photo.get_config()
