"""edsr width 48, 8 blocks, L1, flips/rotations, cosine, 5,500 steps of 32 (pretrained:photo until 2026-11-26)."""
from experiments.configs import sun80_edsr


def get_config():
  config = sun80_edsr.get_config()
  config.width = 48
  config.num_blocks = 8
  config.num_train_steps = 5500
  config.eval_every_steps = 1000
  return config
