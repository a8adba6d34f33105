"""x2 super-resolution of photographs with a deeper, narrower edsr (candidate).

  python -m flax_srae.main --config=configs/photo_deep.py --workdir=~/runs/photo_deep \
      --chunk_minutes=110

configs/photo.py with edsr of width 24 and 14 blocks in place of 32 and 8: 146,932 parameters
against 149,444, and an output pixel looks 30 input pixels away on each side against 18. A
step costs about 1.2x edsr 32x8's on a CPU, so the steps are those that train in about the
CPU time configs/photo.py takes. Measured on the validation photos (sun80 [0, 60) train,
[60, 70) eval; experiments/README.md, "Long runs in chunks"): 35.07 dB in 1.01 hours on 2 CPU
cores, the same as configs/photo.py's 35.07: the wider reach buys nothing there, so the
shipped model stays edsr 32x8.
"""
from configs import photo


def get_config():
  config = photo.get_config()
  config.width = 24
  config.num_blocks = 14
  config.num_train_steps = 31400
  config.eval_every_steps = 3140
  return config
