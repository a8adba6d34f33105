"""x2 super-resolution 14x14 -> 28x28 (the default config).

  python -m flax_srae.main --config=configs/sr28.py --workdir=/tmp/sr28

The default: the seed network added to bicubic upsampling ('seed_residual'), trained on the
photos inside scikit-image. Measured on 2 CPU cores from a fresh clone (2026-11-25): 2,000 steps
of 128 patches, 7.5 minutes wall in all (590 patches/s), eval PSNR 38.74 dB / SSIM 0.9417 on
2,000 fixed 28x28 patches of the held-out photos, against bicubic 38.03 dB / 0.9270 (+0.72 dB).

On the MNIST convention (images [0, 8000) train, [8000, 10000) eval; bicubic 20.20 dB):

  python -m flax_srae.main --config=configs/sr28.py --workdir=/tmp/mnist \
    --config.dataset=idx --config.data_dir=../shared/data/mnist \
    --config.train_split='test[:8000]' --config.eval_split='test[8000:]'

reaches 29.42 dB / SSIM 0.9836 after 2,000 steps (28.44 dB after 500) in 7.9 minutes;
with --config.model=seed, 28.41 dB / 0.9811 in 7.7 minutes.
"""
from configs import default


def get_config():
  return default.get_config()
