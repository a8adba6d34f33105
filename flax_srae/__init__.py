"""flax_srae: convolutional autoencoders and x2 super-resolution of small images in JAX/Flax."""
import importlib.metadata
import os
import re

# XLA:CPU can hand dots, and the convolutions it lowers to dots, to YNNPACK. Measured on 2 cores
# (experiments/README.md): training +16% (seed) and +27% (edsr), inference +20-65%. The flag is
# read when JAX starts its CPU backend, so it is set here, at import; XLA_FLAGS that already
# name it (e.g. `--xla_cpu_experimental_ynn_fusion_type=` to turn it off) are left alone.
YNN_FLAG = '--xla_cpu_experimental_ynn_fusion_type=dot'


def _jaxlib_knows_ynn() -> bool:
  # Older XLA aborts on unknown flags; 0.10 is the first version measured with it.
  try:
    version = importlib.metadata.version('jaxlib')
  except importlib.metadata.PackageNotFoundError:
    return False
  return tuple(int(v) for v in re.findall(r'\d+', version)[:2]) >= (0, 10)


if 'xla_cpu_experimental_ynn_fusion_type' not in os.environ.get('XLA_FLAGS', '') and (
    _jaxlib_knows_ynn()):
  os.environ['XLA_FLAGS'] = f'{os.environ.get("XLA_FLAGS", "")} {YNN_FLAG}'.strip()

from flax_srae.inference import load, Upscaler  # noqa: E402,F401  pylint: disable=g-import-not-at-top
