"""edsr width 32, 4 blocks, MSE, EMA 0.999, 5,500 steps of 128 (pretrained:mnist until 2026-11-26)."""
from configs import mnist


def get_config():
  config = mnist.get_config()
  # The val rows' winners: MSE, constant learning rate, no augmentation or clipping, EMA; and
  # neither 8 blocks nor width 48, which fell behind at equal steps.
  config.ema = 0.999
  config.num_train_steps = 5500
  config.eval_every_steps = 1000
  config.checkpoint_every_steps = 1000
  return config
