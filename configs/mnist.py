"""x2 super-resolution 14x14 -> 28x28 of MNIST digits (the default model).

  python -m flax_srae.main --config=configs/mnist.py --workdir=/tmp/mnist

Trains on images [0, 8000) of ../shared/data/mnist (the MNIST test set's IDX files) and
evaluates on [8000, 10000), the project's convention (bicubic 20.20 dB). Measured on 2 CPU
cores (python experiments/run.py OUT mnist_edsr): 30.13 dB / SSIM 0.9851 after
2,000 steps in 2.1 minutes. Its variants (pretrained:mnist among them): experiments/README.md.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.dataset = 'idx'
  config.data_dir = '../shared/data/mnist'
  config.train_split = 'test[:8000]'
  config.eval_split = 'test[8000:]'
  return config
