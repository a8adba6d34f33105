"""edsr width 32, 4 blocks, MSE, constant learning rate: the baseline of the option rows."""
from configs import mnist


def get_config():
  config = mnist.get_config()
  config.train_split = 'test[:7000]'   # validation slice: the eval split is never used to choose
  config.eval_split = 'test[7000:8000]'
  config.num_train_steps = 1000
  return config
