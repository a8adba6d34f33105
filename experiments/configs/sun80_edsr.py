"""edsr width 32, 6 blocks, L1, flips/rotations, cosine, 12,000 steps of 32 (configs/photo.py: pretrained:photo)."""
from configs import photo


def get_config():
  return photo.get_config()
