"""x2 super-resolution 14x14 -> 28x28 (the default config).

  python -m flax_srae.main --config=configs/sr28.py --workdir=/tmp/sr28

The default: edsr (width 32, 4 residual blocks at low resolution, sub-pixel output, added to
cubic upsampling), trained on the photos inside scikit-image. Measured on 2 CPU cores
(python experiments/run.py OUT builtin28_edsr): 2,000 steps of 128 patches in 3.6
minutes wall in all, eval PSNR 38.54 dB / SSIM 0.9393 on 2,000 fixed 28x28
patches of the held-out photos, against bicubic 38.03 dB / 0.9270 (+0.51 dB).

The same model on MNIST (configs/mnist.py) reaches 30.12 dB / SSIM 0.9851 in 3.5 minutes
(bicubic 20.20 dB). All rows: experiments/README.md.
"""
from configs import default


def get_config():
  return default.get_config()
