"""configs/photo.py extended: a finished photo run's weights trained on with a new schedule.

  python -m flax_srae.main --config=configs/photo_extend.py --workdir=$HOME/runs/photo_extend \
      --chunk_minutes=110

Starts from `pretrained:photo` (`--config.init_from=RUN` for another run of configs/photo.py)
and trains it for another 37,000 steps with a fresh Adam, 100 warmup steps to half the first
run's peak learning rate and cosine decay to zero: a warm restart. A cosine run ends at a
learning rate of zero, so training on means a new schedule, not more steps of the old one
(docs/training.md, "Long runs in chunks"). Measured on the validation photos (sun80 [0, 60)
train, [60, 70) eval; experiments/README.md, "Long runs in chunks"): after configs/photo.py's
35.07 dB it reaches 35.09, +0.02 for 0.89 more hours on 2 CPU cores, within seed noise.
"""
from configs import photo


def get_config():
  config = photo.get_config()
  config.init_from = 'pretrained:photo'
  # Half the first run's peak: the restart starts from a trained network, which a full-size
  # step would first undo.
  config.learning_rate = 5e-4
  config.num_train_steps = 37000
  config.eval_every_steps = 3700
  return config
