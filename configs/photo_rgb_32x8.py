"""configs/photo.py in colour: edsr 32x8 with RGB in and out (over the photo models' limit).

  python -m flax_srae.main --config=configs/photo_rgb_32x8.py --workdir=$HOME/runs/photo_rgb_32x8

The luma model's network and recipe with 3 channels (36,000 steps in place of 37,000, for the
same CPU time). Its colour input and output layers bring it to 152,332 parameters, over the
150,000 the photo models keep to, so `pretrained:photo_rgb` is configs/photo_rgb.py's edsr
24x14 instead. Measured on the validation photos (sun80 [0, 60) train, [60, 70) eval, on Y;
experiments/README.md, "photo_rgb under 150,000 parameters"): 35.09 dB in 0.59 hours on 2 CPU
cores, against edsr 24x14's 35.11.
"""
from configs import photo


def get_config():
  config = photo.get_config()
  config.channels = 3
  config.num_train_steps = 36000
  config.eval_every_steps = 3600
  return config
