"""Autoencoder 28x28 -> 14x14x128 latent -> 28x28 (reconstruction).

  python -m flax_srae.main --config=configs/ae28.py --workdir=/tmp/ae28

The 'bicubic' baseline of an autoencoder is the bicubic upscaling of the image's 2x2 area
downscale: what a half-resolution code without features would give.

Measured on 2 CPU cores (python experiments/run.py OUT builtin28_autoencoder):
2,000 steps of 32 patches in 1.9 minutes, reconstruction PSNR 53.93 dB / SSIM 0.9993 on the held-out photos'
2,000 fixed 28x28 patches (that baseline: 38.03 dB / 0.9270).
"""
from configs import default


def get_config():
  config = default.get_config()
  config.model = 'autoencoder'
  config.batch_size = 32    # the encoder sees 28x28, 4x the pixels of sr28's 14x14 input
  return config
