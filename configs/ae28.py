"""Autoencoder 28x28 -> 14x14x128 latent -> 28x28 (reconstruction).

  python -m flax_srae.main --config=configs/ae28.py --workdir=/tmp/ae28

The 'bicubic' baseline of an autoencoder is the bicubic upscaling of the image's 2x2 area
downscale: what a half-resolution code without features would give.

RESULTS_PLACEHOLDER
"""
from configs import default


def get_config():
  config = default.get_config()
  config.model = 'autoencoder'
  config.batch_size = 32    # the encoder sees 28x28, 4x the pixels of sr28's 14x14 input
  return config
