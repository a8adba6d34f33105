"""Evaluation: a model against its baselines, PSNR and SSIM per image, then averaged.

An upscaler is measured against the classic upscalers under one of two protocols
(`config.protocol`): 'patches', fixed high-resolution patches degraded on the device and
measured in batches split over a mesh's devices; 'literature', whole images one by one, the
output rounded to 8 bits, colour measured on studio-range luma, a shaved border
(`metrics.whole_image`). An autoencoder is measured against codes of its size: PCA fitted on
the training images and the area downscale to about as many values, upscaled bicubically
(`evaluate_coder`). Training's evaluations, `python -m flax_srae.evaluate` and the benchmark
all measure here, through `inference.forward`.
"""
import functools
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from flax_srae.platform import cpu_speedups
from flax_srae.data import image_ops
from flax_srae import inference
from flax_srae.data import input_pipeline
from flax_srae.training import metrics
from flax_srae import models
from flax_srae.platform import parallel
from flax_srae.training import pca

# The classic upscalers, by their usual names: `jax.image.resize` methods.
BASELINES = {'nearest': 'nearest', 'bilinear': 'linear', 'bicubic': 'cubic', 'lanczos': 'lanczos3'}


@functools.partial(jax.jit, static_argnames=('name',))
def baseline(x, name: str = 'bicubic'):
  """The classic upscaler `name` applied to the low-resolution input, x2, clipped to [0, 1]."""
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


@functools.partial(jax.jit, static_argnames=('model', 'degradation', 'methods', 'shave',
                                             'y_channel', 'chunk_pixels', 'ensemble'))
def eval_step(model, params, hr, degradation: str, methods: Sequence[str], shave: int = 0,
              y_channel: bool = False, chunk_pixels=cpu_speedups.CHUNK_PIXELS,
              ensemble: bool = False):
  """{method: (per-image PSNR, per-image SSIM)} of x2 upscalers on a high-resolution batch,
  for 'model' (its self-ensemble with `ensemble`) and the baselines named in `methods`."""
  x = input_pipeline.model_input(hr, degradation, 2)
  outputs = {'model': _model_upscaler(model, params, ensemble, chunk_pixels=chunk_pixels)(x)}
  outputs.update({name: baseline(x, name) for name in methods})
  return {name: _measure(y, hr, shave, y_channel) for name, y in outputs.items()}


def _chunk_pixels(mesh: jax.sharding.Mesh):
  # A batch split over devices is not chunked: its chunks would cross the devices' rows.
  return cpu_speedups.CHUNK_PIXELS if mesh.devices.size == 1 else None


def _in_batches(step, arrays: Sequence[np.ndarray], batch_size: int, mesh: jax.sharding.Mesh):
  """`step(*batches)` over `arrays` (of equal length) in fixed-size batches, the last one
  padded, split over the devices of `mesh`; its outputs (trees of per-row values) on the host,
  concatenated, the padding dropped. Every process passes all rows and gets all of them."""
  n, devices = len(arrays[0]), mesh.devices.size
  bs = -(-min(batch_size, n) // devices) * devices
  padded = [np.concatenate([a, np.zeros((-n % bs,) + a.shape[1:], a.dtype)]) for a in arrays]
  rows = parallel.process_rows(mesh, bs)
  parts = [step(*(parallel.shard_rows(mesh, a[i:i + bs][rows], bs) for a in padded))
           for i in range(0, len(padded[0]), bs)]
  return jax.tree.map(lambda *p: np.concatenate(p)[:n], *parallel.to_host(parts))


def evaluate_patches(model, params, hr: np.ndarray, config, mesh: jax.sharding.Mesh, *,
                     methods: Sequence[str], shave: int = 0, y_channel: bool = False,
                     ensemble: bool = False) -> dict:
  """{method: {'psnr', 'ssim'}} of x2 upscalers over the patches `hr`."""
  step = functools.partial(eval_step, model, params, degradation=config.degradation,
                           methods=tuple(methods), shave=shave, y_channel=y_channel,
                           chunk_pixels=_chunk_pixels(mesh), ensemble=ensemble)
  per_image = _in_batches(step, [hr], config.eval_batch_size, mesh)
  return {name: {'psnr': float(np.mean(p)), 'ssim': float(np.mean(q))}
          for name, (p, q) in per_image.items()}


def evaluate_whole(model, params, pairs, mesh: jax.sharding.Mesh, *, methods: Sequence[str],
                   shave: int, with_ssim: bool = True, ensemble: bool = False,
                   rgb: bool = False) -> dict:
  """{method: {'psnr', 'ssim'}} averaged over whole (low, high)-resolution image pairs, the
  literature's way (`metrics.whole_image`, colour on luma or with `rgb` on RGB); 'ssim' is
  None without `with_ssim`."""
  upscalers = {'model': _model_upscaler(model, params, ensemble)}
  upscalers.update({name: functools.partial(baseline, name=name) for name in methods})
  scores = {name: [] for name in upscalers}
  for low_res, hr in pairs:
    x = parallel.replicate(mesh, low_res[None])
    for name, upscale in upscalers.items():
      sr = parallel.to_host(upscale(x))[0]
      scores[name].append(metrics.whole_image(sr, hr, shave, with_ssim, rgb))
  return {name: {'psnr': float(np.mean([p for p, _ in s])),
                 'ssim': float(np.mean([q for _, q in s])) if with_ssim else None}
          for name, s in scores.items()}


def evaluate(model, params, eval_data, config, mesh: jax.sharding.Mesh, *,
             methods: Sequence[str] = ('bicubic',), shave: Optional[int] = None,
             y_channel: bool = False, ensemble: bool = False, rgb: bool = False,
             pca_fit: Optional[pca.PCA] = None) -> dict:
  """{method: {'psnr', 'ssim'}} of the model and `methods` on `eval_data` (as
  `input_pipeline.load_eval` gives it) under `config.protocol`. `shave` (default: the
  config's under the literature protocol, else 0) leaves a border out; `y_channel` measures
  colour patches on studio-range luma (whole colour images are, unless `rgb`); `ensemble`
  measures the model's self-ensemble (`inference.self_ensemble`). An autoencoder is measured
  by `evaluate_coder` against `pca_fit` (`fit_pca`) and the area code, whatever `methods`."""
  if models.is_coder(config):
    return evaluate_coder(model, params, eval_data, config, mesh, pca_fit)
  if input_pipeline.protocol_of(config).whole_images:
    return evaluate_whole(model, params, eval_data, mesh, methods=methods,
                          shave=config.shave if shave is None else shave, ensemble=ensemble,
                          rgb=rgb)
  return evaluate_patches(model, params, eval_data, config, mesh, methods=methods,
                          shave=shave or 0, y_channel=y_channel, ensemble=ensemble)


def sample_columns(model, params, eval_data, config, mesh: jax.sharding.Mesh,
                   ensemble: bool = False, pca_fit: Optional[pca.PCA] = None):
  """([low-res input, bicubic, model, ground truth], their labels) of the first
  `config.num_samples` eval images (under the literature protocol, of their central crops),
  as numpy arrays; the model's column its self-ensemble with `ensemble`. An autoencoder's
  are `coder_sample_columns`."""
  if models.is_coder(config):
    return coder_sample_columns(model, params, eval_data, config, mesh, pca_fit)
  if input_pipeline.protocol_of(config).whole_images:
    low_res, hr = input_pipeline.center_crops(eval_data, input_pipeline.SAMPLE_CROP,
                                         config.num_samples)
  else:
    hr = eval_data[:config.num_samples]
    low_res = input_pipeline.model_input(hr, config.degradation, 2)
  x = parallel.replicate(mesh, np.asarray(low_res))
  columns = parallel.to_host([x, baseline(x), _model_upscaler(model, params, ensemble)(x)])
  labels = ['input', 'bicubic', 'model + ensemble' if ensemble else 'model', 'original']
  return [*columns, np.asarray(hr)], labels


# ----- Autoencoders: codes of the same size -------------------------------------------------

# What an autoencoder is measured against, in the order tables list them.
CODER_METHODS = ('model', 'pca', 'area_bicubic', 'noisy_input')
# Fixed, apart from the training noise, so every evaluation of a denoiser sees the same inputs.
EVAL_NOISE_SEED = 4321
# How many fixed patches of training images larger than hr_size to fit PCA on (images of
# exactly hr_size are all used).
PCA_FIT_PATCHES = 8000


def area_side(config) -> int:
  """The side s of the s x s area downscale whose s*s*channels values come nearest to the
  autoencoder's code size: the classic code of about that size."""
  return min(range(1, config.hr_size),
             key=lambda s: abs(s * s * config.channels - config.latent_dim))


def area_bicubic(x, side: int):
  """Images shrunk to `side` x `side` by area averaging and brought back by bicubic
  resampling, clipped to [0, 1]."""
  small = image_ops.area_resize(x, side, side)
  return jnp.clip(jax.image.resize(small, x.shape, 'cubic'), 0.0, 1.0)


def coding_summary(config) -> dict:
  """An autoencoder's code size against its images', and the area code's size."""
  values, side = models.input_values(config), area_side(config)
  return {'latent_dim': config.latent_dim, 'input_values': values,
          'compression_ratio': values / config.latent_dim, 'noise_std': config.noise_std,
          'area_code': {'side': side, 'values': side * side * config.channels}}


def fit_pca(train_images, config) -> pca.PCA:
  """PCA with `config.latent_dim` components, fitted on the training images (fixed patches of
  them when they are larger than hr_size)."""
  return pca.fit(input_pipeline.eval_patches(train_images, config.hr_size, PCA_FIT_PATCHES),
                 config.latent_dim)


def coder_inputs(images: np.ndarray, config) -> np.ndarray:
  """What an autoencoder is given of its eval images: the images, or for a denoiser the
  images with the fixed eval noise."""
  return np.asarray(input_pipeline.model_input(
      images, config.degradation, 1, config.noise_std, jax.random.key(EVAL_NOISE_SEED)))


@functools.partial(jax.jit, static_argnames=('model', 'side', 'noisy', 'chunk_pixels'))
def coder_eval_step(model, params, pca_fit, images, x, side: int, noisy: bool,
                    chunk_pixels=cpu_speedups.CHUNK_PIXELS):
  """{method: (per-image PSNR, SSIM, summed squared error)} of the reconstructions of
  `images` from their inputs `x`: the model's, PCA's and the area code's (and, for a
  denoiser, of the noisy input itself)."""
  outputs = {'model': inference.forward(model, params, x, chunk_pixels),
             'pca': pca_fit.reconstruct(x), 'area_bicubic': area_bicubic(x, side)}
  if noisy:
    outputs['noisy_input'] = x
  return {name: (metrics.psnr(y, images), metrics.ssim(y, images),
                 metrics.squared_error(y, images)) for name, y in outputs.items()}


def evaluate_coder(model, params, images: np.ndarray, config, mesh: jax.sharding.Mesh,
                   pca_fit: pca.PCA) -> dict:
  """{method: {'psnr', 'ssim', 'psnr_of_mean_mse', 'squared_error_per_image'}} of an
  autoencoder and the codes of its size on the eval images: 'psnr' is the mean of per-image
  PSNR (this project's convention), 'psnr_of_mean_mse' the PSNR of the mean squared error
  and 'squared_error_per_image' the squared error summed over an image's values, averaged
  (the autoencoder literature's)."""
  step = functools.partial(coder_eval_step, model, params,
                           jax.tree.map(functools.partial(parallel.replicate, mesh), pca_fit),
                           side=area_side(config), noisy=bool(config.noise_std),
                           chunk_pixels=_chunk_pixels(mesh))
  inputs = coder_inputs(images, config)
  per_image = _in_batches(step, [images, inputs], config.eval_batch_size, mesh)
  values = images[0].size
  return {name: {'psnr': float(np.mean(p)), 'ssim': float(np.mean(q)),
                 'psnr_of_mean_mse': float(10 * np.log10(values / np.mean(e))),
                 'squared_error_per_image': float(np.mean(e))}
          for name in CODER_METHODS if name in per_image for p, q, e in [per_image[name]]}


def coder_sample_columns(model, params, images: np.ndarray, config, mesh: jax.sharding.Mesh,
                         pca_fit: pca.PCA):
  """([original, PCA, autoencoder] columns, their labels) of the first `config.num_samples`
  eval images; for a denoiser, [noisy input, PCA, autoencoder, original]."""
  # The noise is drawn for all eval images and sliced, so the pictures show the inputs the
  # figures measured.
  inputs = coder_inputs(images, config)[:config.num_samples]
  images = images[:config.num_samples]
  x = parallel.replicate(mesh, inputs)
  columns = parallel.to_host([pca_fit.reconstruct(x), inference.forward(model, params, x)])
  labels = [f'PCA {config.latent_dim}', f'autoencoder {config.latent_dim}']
  if config.noise_std:
    return [inputs, *columns, images], [f'noisy ({config.noise_std:g})', *labels, 'original']
  return [images, *columns], ['original', *labels]
