"""configs/photo_rgb.py with configs/photo_deep.py's network: edsr 24x14 in RGB (candidate).

  python -m flax_srae.main --config=configs/photo_rgb_deep.py --workdir=~/runs/photo_rgb_deep \
      --chunk_minutes=110

In colour, edsr 32x8 has 152,332 parameters, over the photo models' limit of 150,000 (its
first and last convolutions grow with the channels); edsr 24x14 has 149,100, and in luma it
validates equal to edsr 32x8 (configs/photo_deep.py). The steps are configs/photo_deep.py's,
fewer by the share photo_rgb gives up to photo for the cost of colour, so that it trains in
the CPU time of configs/photo_rgb.py.
"""
from configs import photo_deep


def get_config():
  config = photo_deep.get_config()
  config.channels = 3
  config.num_train_steps = 30500
  config.eval_every_steps = 3050
  return config
