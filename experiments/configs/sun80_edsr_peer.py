"""edsr width 32, 6 blocks (the network of torch_photo_sr.py), 5,500 steps, otherwise as sun80_edsr."""
from experiments.configs import sun80_edsr


def get_config():
  config = sun80_edsr.get_config()
  config.num_train_steps = 5500
  config.eval_every_steps = 1000
  return config
