"""Why `export --format=onnx` builds its graph itself: jax2onnx on the operations upscale needs.

  python -m venv /tmp/j2o && /tmp/j2o/bin/pip install -e . jax2onnx onnxruntime
  /tmp/j2o/bin/python experiments/jax2onnx_probe.py

(In a venv of its own: jax2onnx's requirements move orbax-checkpoint below the version this
package needs.) Each case converts a JAX function with jax2onnx, for free batch, height and
width unless said otherwise, runs it with onnxruntime on two shapes and prints OK with the
largest difference from JAX, or FAIL with the first line of the error. jax2onnx is run twice:
as it is, and under `jax.disable_jit()` (its lowering of jitted calls expects
`jax._src.core.ClosedJaxpr`, which JAX 0.12 no longer has).
"""
import contextlib
import importlib.metadata
import logging
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from flax_srae.data import image_ops  # pylint: disable=g-import-not-at-top
from flax_srae import inference  # pylint: disable=g-import-not-at-top
from flax_srae import models  # pylint: disable=g-import-not-at-top


def _cases():
  upscaler = inference.load('pretrained:photo')
  model = models.create_model(upscaler.config)
  return {
      'edge pad (cubic upsampling)': lambda x: jnp.pad(x, ((0, 0), (2, 2), (0, 0), (0, 0)),
                                                       mode='edge'),
      'reflect pad of odd sizes': lambda x: jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)),
                                                    mode='reflect'),
      'crop to the input size': lambda x: jnp.concatenate([x, x], 1)[:, :x.shape[1]],
      'cubic_upscale2x': image_ops.cubic_upscale2x,
      'cubic_upscale2x, fixed 1x8x8': (image_ops.cubic_upscale2x, (1, 8, 8, 1)),
      'pretrained:photo network': lambda x: model.apply({'params': upscaler.params}, x),
  }


def _check(name, fn, spec, context):
  from jax2onnx import to_onnx  # pylint: disable=g-import-not-at-top
  import onnxruntime  # pylint: disable=g-import-not-at-top
  try:
    with context():
      onnx_model = to_onnx(fn, inputs=[spec])
    session = onnxruntime.InferenceSession(onnx_model.SerializeToString())
    worst = 0.0
    for shape in ([spec] if isinstance(spec[0], int) else [(1, 8, 8, 1), (2, 7, 9, 1)]):
      x = np.random.default_rng(0).random(shape, np.float32)
      y = session.run(None, {session.get_inputs()[0].name: x})[0]
      expected = np.asarray(fn(x))
      if y.shape != expected.shape:
        raise ValueError(f'shape {y.shape}, JAX gives {expected.shape}')
      worst = max(worst, float(np.abs(y - expected).max()))
    print(f'  OK    {name}: max difference {worst:.2g}')
  except Exception as e:  # pylint: disable=broad-except
    print(f'  FAIL  {name}: {type(e).__name__}: {str(e).splitlines()[0][:200]}')


def main():
  logging.getLogger('onnx_ir').setLevel(logging.ERROR)
  versions = {p: importlib.metadata.version(p)
              for p in ('jax', 'jax2onnx', 'onnxruntime', 'orbax-checkpoint')}
  print(', '.join(f'{p} {v}' for p, v in versions.items()))
  for label, context in [('as it is', contextlib.nullcontext),
                         ('under jax.disable_jit()', jax.disable_jit)]:
    print(label)
    for name, case in _cases().items():
      fn, spec = case if isinstance(case, tuple) else (case, ('B', 'H', 'W', 1))
      _check(name, fn, spec, context)


if __name__ == '__main__':
  main()
