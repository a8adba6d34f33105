"""x2 super-resolution 14x14 -> 28x28 (the default config).

  python -m flax_srae.main --config=configs/sr28.py --workdir=/tmp/sr28

RESULTS_PLACEHOLDER
"""
from configs import default


def get_config():
  return default.get_config()
