"""x2 super-resolution 14x14 -> 28x28 (the default config).

  python -m flax_srae.main --config=configs/sr28.py --workdir=/tmp/sr28

The default: edsr (width 32, 4 residual blocks at low resolution, sub-pixel output, added to
cubic upsampling), trained on grayscale patches of the photos inside scikit-image. Measured on
2 CPU cores (python experiments/run.py OUT builtin28_edsr): 2,000 steps of 128 patches in 4.6
minutes wall in all, eval PSNR 38.48 dB / SSIM 0.9391 on 2,000 fixed 28x28 patches of the
held-out photos, against bicubic 38.03 dB / 0.9270 (+0.45 dB) and Lanczos-3 38.48 dB / 0.9326
(+0.01 dB: it does not beat Lanczos-3).

The same model on MNIST (configs/mnist.py) reaches 30.13 dB / SSIM 0.9851 in 2.1 minutes
(bicubic 20.20 dB). All rows: experiments/README.md.
"""
from configs import default


def get_config():
  return default.get_config()
