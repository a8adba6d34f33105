"""edsr width 32, 6 blocks, L1, flips/rotations, cosine, 12,000 steps of 32 (pretrained:photo until 2026-12-02)."""
from configs import photo


def get_config():
  config = photo.get_config()
  config.num_blocks = 6
  config.batch_size = 32
  config.warmup_steps = 200
  config.num_train_steps = 12000
  config.eval_every_steps = 2000
  return config
