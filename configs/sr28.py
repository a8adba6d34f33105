"""x2 super-resolution 14x14 -> 28x28 (the default config).

  python -m flax_srae.main --config=configs/sr28.py --workdir=/tmp/sr28

The default: edsr (width 32, 4 residual blocks at low resolution, sub-pixel output, added to
cubic upsampling), trained on the photos inside scikit-image. Measured on 2 CPU cores
(bash experiments/run.sh OUT sr28, 2026-11-26): 2,000 steps of 128 patches, 3.4 minutes wall
in all (1,291 patches/s), eval PSNR 38.54 dB / SSIM 0.9393 on 2,000 fixed 28x28 patches of the
held-out photos, against bicubic 38.03 dB / 0.9270 (+0.51 dB).

On the MNIST convention (images [0, 8000) train, [8000, 10000) eval; bicubic 20.20 dB):

  python -m flax_srae.main --config=configs/sr28.py --workdir=/tmp/mnist \
    --config.dataset=idx --config.data_dir=../shared/data/mnist \
    --config.train_split='test[:8000]' --config.eval_split='test[8000:]'

reaches 30.12 dB / SSIM 0.9851 after 2,000 steps in 3.4 minutes (28 dB after 250 steps);
with --config.model=seed_residual 29.40 dB / 0.9820 in 5.9 minutes, with --config.model=seed
28.69 dB / 0.9805 in 5.8 minutes.
"""
from configs import default


def get_config():
  return default.get_config()
