"""x2 super-resolution of colour photographs, RGB in and out of the model (`pretrained:photo_rgb`).

  python -m flax_srae.main --config=configs/photo_rgb.py --workdir=$HOME/runs/photo_rgb \
      --chunk_minutes=110

configs/photo_deep.py with 3 channels: the same data, protocol and recipe, the network (edsr of
width 24 with 14 blocks) seeing and producing RGB where the luma models see Y alone. In colour
edsr 32x8 would have 152,332 parameters, over the photo models' 150,000 (its first and last
convolutions grow with the channels); edsr 24x14 has 149,100, and validates no worse than it
(experiments/README.md, "photo_rgb under 150,000 parameters"). The steps are photo_deep's, fewer
by the share a colour step costs more. Evaluated as the literature does, on studio-range luma of
the 8-bit output (python -m flax_srae.evaluate --workdir=... --rgb measures RGB instead).
Measured (python experiments/run.py --record sun80_rgb, a run of this command): 40.1 minutes
on 2 CPU cores; on Y 36.41 dB / SSIM 0.9484 against bicubic 34.17 (the luma model: 36.38); on
RGB 35.04 dB / 0.9433 against bicubic 32.82, Lanczos 33.29.
"""
from configs import photo_deep


def get_config():
  config = photo_deep.get_config()
  config.channels = 3
  config.num_train_steps = 30500
  config.eval_every_steps = 3050
  return config
