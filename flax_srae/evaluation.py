"""Evaluation: a model against classic upscalers, PSNR and SSIM per image, then averaged.

Two protocols (`config.protocol`): 'patches', fixed high-resolution patches degraded on the
device and measured in batches split over a mesh's devices; 'literature', whole images one by
one, the output rounded to 8 bits, colour measured on studio-range luma, a shaved border
(`metrics.whole_image`). Training's evaluations, `python -m flax_srae.evaluate` and the
benchmark all measure here, through `inference.forward`.
"""
import functools
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from flax_srae import cpu_speedups
from flax_srae import image_ops
from flax_srae import inference
from flax_srae import input_pipeline
from flax_srae import metrics
from flax_srae import models
from flax_srae import parallel

# The classic upscalers, by their usual names: `jax.image.resize` methods.
BASELINES = {'nearest': 'nearest', 'bilinear': 'linear', 'bicubic': 'cubic', 'lanczos': 'lanczos3'}


@functools.partial(jax.jit, static_argnames=('scale', 'name'))
def baseline(x, scale: int, name: str = 'bicubic'):
  """The classic upscaler `name` applied to the model input, clipped to [0, 1]. For the
  autoencoder (scale 1) it upscales the input's 2x area downscale: what a half-resolution
  code without learned features would give."""
  if scale == 1:
    x = image_ops.degrade(x, 'area')
  return jnp.clip(image_ops.resize2x(x, BASELINES[name]), 0.0, 1.0)


def _measure(images, hr, shave: int, y_channel: bool):
  """Per-image (PSNR, SSIM); `y_channel`: on studio-range luma of 8-bit-rounded images."""
  if y_channel:
    images, hr = (image_ops.studio_luma(image_ops.round_to_8_bits(a)) for a in (images, hr))
  if shave:
    images, hr = images[:, shave:-shave, shave:-shave], hr[:, shave:-shave, shave:-shave]
  return metrics.psnr(images, hr), metrics.ssim(images, hr)


def _model_upscaler(model, params, ensemble: bool, **options):
  """The model's forward pass on a batch, or its self-ensemble (`inference.self_ensemble`)."""
  forward = functools.partial(inference.forward, model, params, **options)
  return functools.partial(inference.self_ensemble, forward) if ensemble else forward


@functools.partial(jax.jit, static_argnames=('model', 'degradation', 'scale', 'methods', 'shave',
                                             'y_channel', 'chunk_pixels', 'ensemble'))
def eval_step(model, params, hr, degradation: str, scale: int, methods: Sequence[str],
              shave: int = 0, y_channel: bool = False, chunk_pixels=cpu_speedups.CHUNK_PIXELS,
              ensemble: bool = False):
  """{method: (per-image PSNR, per-image SSIM)} on a high-resolution batch, for 'model' (its
  self-ensemble with `ensemble`) and the baselines named in `methods`."""
  x = input_pipeline.model_input(hr, degradation, scale)
  outputs = {'model': _model_upscaler(model, params, ensemble, chunk_pixels=chunk_pixels)(x)}
  outputs.update({name: baseline(x, scale, name) for name in methods})
  return {name: _measure(y, hr, shave, y_channel) for name, y in outputs.items()}


def evaluate_patches(model, params, hr: np.ndarray, config, mesh: jax.sharding.Mesh, *,
                     methods: Sequence[str], shave: int = 0, y_channel: bool = False,
                     ensemble: bool = False) -> dict:
  """{method: {'psnr', 'ssim'}} over the patches `hr`, in fixed-shape batches (the last one
  padded) split over the devices of `mesh`. Every process passes all of `hr` and gets the
  result."""
  # A batch split over devices is not chunked: its chunks would cross the devices' rows.
  chunk_pixels = cpu_speedups.CHUNK_PIXELS if mesh.devices.size == 1 else None
  n, devices = len(hr), mesh.devices.size
  bs = -(-min(config.eval_batch_size, n) // devices) * devices
  padded = np.concatenate([hr, np.zeros((-n % bs,) + hr.shape[1:], hr.dtype)])
  rows = parallel.process_rows(mesh, bs)
  parts = [eval_step(model, params, parallel.shard_rows(mesh, padded[i:i + bs][rows], bs),
                     config.degradation, models.scale_of(config), tuple(methods), shave,
                     y_channel, chunk_pixels, ensemble)
           for i in range(0, len(padded), bs)]
  parts = parallel.to_host(parts)
  return {name: {key: float(np.mean(np.concatenate([p[name][j] for p in parts])[:n]))
                 for j, key in enumerate(('psnr', 'ssim'))}
          for name in parts[0]}


def evaluate_whole(model, params, pairs, mesh: jax.sharding.Mesh, *, methods: Sequence[str],
                   shave: int, with_ssim: bool = True, ensemble: bool = False,
                   rgb: bool = False) -> dict:
  """{method: {'psnr', 'ssim'}} averaged over whole (low, high)-resolution image pairs, the
  literature's way (`metrics.whole_image`, colour on luma or with `rgb` on RGB); 'ssim' is
  None without `with_ssim`."""
  upscalers = {'model': _model_upscaler(model, params, ensemble)}
  upscalers.update({name: functools.partial(baseline, scale=2, name=name) for name in methods})
  scores = {name: [] for name in upscalers}
  for lr, hr in pairs:
    x = parallel.replicate(mesh, lr[None])
    for name, upscale in upscalers.items():
      sr = parallel.to_host(upscale(x))[0]
      scores[name].append(metrics.whole_image(sr, hr, shave, with_ssim, rgb))
  return {name: {'psnr': float(np.mean([p for p, _ in s])),
                 'ssim': float(np.mean([q for _, q in s])) if with_ssim else None}
          for name, s in scores.items()}


def evaluate(model, params, eval_data, config, mesh: jax.sharding.Mesh, *,
             methods: Sequence[str] = ('bicubic',), shave: Optional[int] = None,
             y_channel: bool = False, ensemble: bool = False, rgb: bool = False) -> dict:
  """{method: {'psnr', 'ssim'}} of the model and `methods` on `eval_data` (as
  `input_pipeline.load_eval` gives it) under `config.protocol`. `shave` (default: the
  config's under the literature protocol, else 0) leaves a border out; `y_channel` measures
  colour patches on studio-range luma (whole colour images are, unless `rgb`); `ensemble`
  measures the model's self-ensemble (`inference.self_ensemble`)."""
  if config.protocol == 'literature':
    return evaluate_whole(model, params, eval_data, mesh, methods=methods,
                          shave=config.shave if shave is None else shave, ensemble=ensemble,
                          rgb=rgb)
  return evaluate_patches(model, params, eval_data, config, mesh, methods=methods,
                          shave=shave or 0, y_channel=y_channel, ensemble=ensemble)


def sample_columns(model, params, eval_data, config, mesh: jax.sharding.Mesh,
                   ensemble: bool = False) -> list:
  """[low-res input, bicubic, model, ground truth] of the first `config.num_samples` eval
  images (under the literature protocol, of their central crops), as numpy arrays; the
  model's column its self-ensemble with `ensemble`."""
  scale = models.scale_of(config)
  if config.protocol == 'literature':
    lr, hr = input_pipeline.center_crops(eval_data, input_pipeline.SAMPLE_CROP,
                                         config.num_samples)
  else:
    hr = eval_data[:config.num_samples]
    lr = input_pipeline.model_input(hr, config.degradation, scale)
  x = parallel.replicate(mesh, np.asarray(lr))
  columns = parallel.to_host([x, baseline(x, scale), _model_upscaler(model, params, ensemble)(x)])
  return [*columns, np.asarray(hr)]
