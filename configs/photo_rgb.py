"""x2 super-resolution of colour photographs, RGB in and out of the model (`pretrained:photo_rgb`).

  python -m flax_srae.main --config=configs/photo_rgb.py --workdir=/tmp/photo_rgb

configs/photo.py with 3 channels: the same data, protocol, network and recipe (36,000 steps in
place of 37,000, for the same 30 minutes), the network seeing and producing RGB where the luma
model sees Y alone. Evaluated as the literature does
on studio-range luma of the 8-bit output (python -m flax_srae.evaluate --workdir=... --rgb
measures RGB instead). Measured (python experiments/run.py OUT sun80_rgb): 28.2 minutes on 2
CPU cores, 152,332 parameters; on Y 36.41 dB / SSIM 0.9483 against bicubic 34.17 (the luma
model: 36.38); on RGB 35.05 dB / 0.9433 against bicubic 32.82, Lanczos 33.29.
"""
from configs import photo


def get_config():
  config = photo.get_config()
  config.channels = 3
  # A step costs a little more in colour: 1,000 steps fewer keep it within the 30 minutes.
  config.num_train_steps = 36000
  config.eval_every_steps = 3600
  return config
