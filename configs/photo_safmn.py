"""x2 super-resolution of photographs with safmn, SAFMN-style feature modulation (candidate).

  python -m flax_srae.main --config=configs/photo_safmn.py --workdir=~/runs/photo_safmn \
      --chunk_minutes=110

configs/photo.py's data, protocol, loss and schedule with the network swapped: safmn of width
32 and 6 blocks (133,956 parameters, under the 150k a shipped photo model may have; its
forward runs within 1.5x of edsr 32x8's). A step costs about 2.7x edsr 32x8's on a CPU, so
the steps are those that train in about the CPU time configs/photo.py takes. On the
validation photos (sun80 [0, 60) train, [60, 70) eval; experiments/README.md, "Long runs in
chunks") it learned no faster per step than edsr 32x8 and so fell behind it at equal hours
(34.74 dB at 0.36 hours against 34.87 at 0.29); that run is paused at step 5,300.
"""
from configs import photo


def get_config():
  config = photo.get_config()
  config.model = 'safmn'
  config.width = 32
  config.num_blocks = 6
  config.num_train_steps = 16000
  config.eval_every_steps = 1600
  return config
