"""x2 super-resolution 28x28 -> 56x56.

  python -m flax_srae.main --config=configs/sr56.py --workdir=/tmp/sr56

Measured on 2 CPU cores (python experiments/run.py OUT builtin56_edsr): the
default edsr (width 32, 4 blocks), 2,000 steps of 32 patches in 2.6 minutes, eval PSNR 37.72 dB
/ SSIM 0.9404 on 2,000 fixed 56x56 patches of the held-out photos, against bicubic 36.96 dB /
0.9271 (+0.76 dB). Other models: experiments/README.md.
"""
from configs import default


def get_config():
  config = default.get_config()
  config.hr_size = 56
  config.batch_size = 32    # 4x the pixels per image: the same pixels per step as sr28
  return config
