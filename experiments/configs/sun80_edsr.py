"""edsr width 48, 8 blocks, L1, flips/rotations, cosine, 5,500 steps of 32 (configs/photo.py: pretrained:photo)."""
from configs import photo


def get_config():
  return photo.get_config()
