"""x2 super-resolution 28x28 -> 56x56.

  python -m flax_srae.main --config=configs/sr56.py --workdir=/tmp/sr56

RESULTS_PLACEHOLDER
"""
from configs import default


def get_config():
  config = default.get_config()
  config.hr_size = 56
  config.batch_size = 32    # 4x the pixels per image: the same pixels per step as sr28
  return config
