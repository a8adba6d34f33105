"""configs/photo_rgb.py extended as configs/photo_extend.py extends configs/photo.py.

  python -m flax_srae.main --config=configs/photo_rgb_extend.py \
      --workdir=$HOME/runs/photo_rgb_extend --chunk_minutes=110

Starts from `pretrained:photo_rgb` (`--config.init_from=RUN` for another run of
configs/photo_rgb.py) with photo_extend's schedule: a fresh Adam, 100 warmup steps to half the
first run's peak learning rate, cosine decay over as many steps as the first run. The recipe
is chosen on the luma model's validation chain (experiments/README.md, "Long runs in chunks").
"""
from configs import photo_extend
from configs import photo_rgb


def get_config():
  config = photo_rgb.get_config()
  config.init_from = 'pretrained:photo_rgb'
  config.learning_rate = photo_extend.get_config().learning_rate
  return config
