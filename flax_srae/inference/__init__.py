"""Use a trained model: `flax_srae.load(workdir).upscale(images)`, or a shipped one:
`flax_srae.load('pretrained:photo')`.

Only the weights are restored (never the optimizer state), onto this process's first local
device, whatever device kind or count wrote the checkpoint.
"""
import dataclasses
import functools
import itertools
import os
from typing import Callable, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from flax_srae.training import checkpointing
from flax_srae.platform import cpu_speedups
from flax_srae.data import image_ops
from flax_srae.data import input_pipeline
from flax_srae import models
from flax_srae.errors import UserError

PRETRAINED_PREFIX = 'pretrained:'
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              'pretrained')


def pretrained_names():
  if not os.path.isdir(PRETRAINED_DIR):
    return []
  return sorted(n for n in os.listdir(PRETRAINED_DIR)
                if os.path.isdir(os.path.join(PRETRAINED_DIR, n)))


def resolve(path: str) -> str:
  """'pretrained:NAME' -> the folder of that model inside this package; other paths as given."""
  if not path.startswith(PRETRAINED_PREFIX):
    return path
  name = path[len(PRETRAINED_PREFIX):]
  if name not in pretrained_names():
    raise UserError(f'no pretrained model {name!r}: choose one of '
                    f'{", ".join(PRETRAINED_PREFIX + n for n in pretrained_names())}')
  return os.path.join(PRETRAINED_DIR, name)


@functools.partial(jax.jit, static_argnames=('model', 'chunk_pixels', 'method'))
def forward(model, params, x, chunk_pixels: Optional[int] = cpu_speedups.CHUNK_PIXELS,
            method: Optional[str] = None):
  """The model's output on the NHWC batch `x`, clipped to [0, 1]: the one forward pass of
  training-time evaluation, `evaluate`, `predict`, `Upscaler`, `Coder` and the benchmark. On a
  CPU an image batch runs in chunks of `chunk_pixels` input pixels
  (`cpu_speedups.apply_in_chunks`; None: all at once). An autoencoder's `method` 'encode'
  maps images to their codes (not clipped), 'decode' codes to images."""
  apply = lambda z: model.apply({'params': params}, z, method=method)
  chunked = chunk_pixels is not None and x.ndim == 4
  y = cpu_speedups.apply_in_chunks(apply, x, chunk_pixels) if chunked else apply(x)
  return y if method == 'encode' else jnp.clip(y, 0.0, 1.0)


# The 8 rotations and flips of an image: (transpose height and width, flip rows, flip columns).
_DIHEDRAL = tuple(itertools.product((False, True), repeat=3))


def _turn(x, transpose: bool, flip_rows: bool, flip_columns: bool):
  x = x.transpose(0, 2, 1, 3) if transpose else x
  x = x[:, ::-1] if flip_rows else x
  return x[:, :, ::-1] if flip_columns else x


def _turn_back(y, transpose: bool, flip_rows: bool, flip_columns: bool):
  y = y[:, :, ::-1] if flip_columns else y
  y = y[:, ::-1] if flip_rows else y
  return y.transpose(0, 2, 1, 3) if transpose else y


def self_ensemble(run, x):
  """EDSR's "+" (geometric self-ensemble): the mean of `run` over the 8 rotations and flips
  of the NHWC batch `x`, each output turned back. Numpy or JAX arrays, inside jit or not; 8
  times the work of one `run`."""
  return sum(_turn_back(run(_turn(x, *t)), *t) for t in _DIHEDRAL) / len(_DIHEDRAL)


def network_input(x, studio_luma: bool):
  """Float images -> what an upscaling network takes: clipped to [0, 1] and, for a model of
  the literature's luma protocol, moved to the studio range it was trained on. numpy or JAX:
  `upscale`, the StableHLO export and (in ONNX operators, checked against `upscale`) the ONNX
  graph all go through it."""
  x = x.clip(0.0, 1.0)
  return image_ops.to_studio_range(x) if studio_luma else x


def network_output(y, studio_luma: bool):
  """The inverse of `network_input` for the network's output, clipped to [0, 1]."""
  y = image_ops.from_studio_range(y) if studio_luma else y
  return y.clip(0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class _Layout:
  """How a caller laid out its images: given back the same way (`_from_batch`)."""
  shape: Tuple[int, ...]
  dtype: np.dtype
  single: bool        # one image, (H, W) or (H, W, C), not a batch
  has_channels: bool  # a channel axis, (H, W, C) or (N, H, W, C)


def _to_batch(images) -> Tuple[np.ndarray, _Layout]:
  """The one pre-processing of images for every model: (H, W), (H, W, C), (N, H, W) or
  (N, H, W, C) arrays of uint8, uint16 or float in [0, 1] -> an NHWC float32 batch in [0, 1]
  and the layout to give results back in. A 3-D array is (H, W, C) when its last axis is 1, 2,
  3 or 4 long, else (N, H, W)."""
  images = np.asarray(images)
  if images.ndim not in (2, 3, 4) or images.size == 0:
    raise UserError(f'images must be (H, W), (H, W, C), (N, H, W) or (N, H, W, C), got shape '
                    f'{images.shape}')
  hwc = images.ndim == 3 and images.shape[-1] <= 4
  layout = _Layout(images.shape, images.dtype, single=images.ndim == 2 or hwc,
                   has_channels=images.ndim == 4 or hwc)
  x = images.reshape(((1,) if layout.single else ()) + images.shape
                     + (() if layout.has_channels else (1,)))
  if x.shape[-1] > 4:
    raise UserError(f'images have {x.shape[-1]} channels: 1 (grey), 2 (grey+alpha), 3 (RGB) '
                    f'or 4 (RGBA) are supported')
  dtype = images.dtype
  if dtype == np.uint8 or dtype == np.uint16:
    return image_ops.to_float(x), layout
  if not np.issubdtype(dtype, np.floating):
    raise UserError(f'images must be uint8, uint16 or float in [0, 1], got {dtype}')
  if not np.isfinite(x).all():
    raise UserError('images hold NaN or infinite values: replace them with values in [0, 1]')
  lo, hi = float(x.min()), float(x.max())
  if lo < -1e-3 or hi > 1 + 1e-3:  # e.g. 0..255 floats: clipping would whiten them
    raise UserError(f'float images must be in [0, 1], these span [{lo:g}, {hi:g}]: divide '
                    f'by their maximum (255 for 8-bit values)')
  return np.clip(x.astype(np.float32), 0.0, 1.0), layout


def _from_batch(y: np.ndarray, layout: _Layout, scale: int = 1) -> np.ndarray:
  """The one post-processing: an NHWC float batch -> the caller's layout and dtype, its
  height and width `scale` times the input's, with `y`'s channels."""
  shape = list(layout.shape)
  spatial = 0 if layout.single else 1
  shape[spatial] *= scale
  shape[spatial + 1] *= scale
  if layout.has_channels:
    shape[-1] = y.shape[-1]
  elif y.shape[-1] != 1:  # channels where the input had none (grey into a colour model)
    shape.append(y.shape[-1])
  return image_ops.to_pixels(y, layout.dtype).reshape(shape)


class Model:
  """A trained model bound to its weights: an `Upscaler` (x2 super-resolution) or a `Coder`
  (an autoencoder). Each refuses the other's methods with a line that says what to call."""

  def __init__(self, config: ml_collections.ConfigDict, params, step: int):
    self.config = config
    self.params = params
    self.step = step
    self.model = models.create_model(config, **cpu_speedups.layers())
    self.scale = models.scale_of(config)

  def _batched(self, x: np.ndarray, batch_size: int, method: Optional[str] = None):
    """`forward` over `x` in fixed-size batches (the last one padded) so one compile serves
    every chunk."""
    n = len(x)
    bs = min(batch_size, n)
    x = np.concatenate([x, np.zeros((-n % bs,) + x.shape[1:], x.dtype)])
    out = [np.asarray(forward(self.model, self.params, x[i:i + bs], method=method))
           for i in range(0, len(x), bs)]
    return np.concatenate(out)[:n]

  def _not_an_upscaler(self, *args, **kwargs):
    raise UserError(f'this model is an autoencoder ({self.config.latent_dim} values per '
                    f'{self.config.hr_size}x{self.config.hr_size} image): it does not '
                    f'upscale; call encode, decode or reconstruct')

  def _not_a_coder(self, *args, **kwargs):
    raise UserError(f'this model is a x2 super-resolution model ({self.config.model}): it has '
                    f'no code; call upscale')

  upscale = apply = _not_an_upscaler
  encode = decode = reconstruct = _not_a_coder


class Upscaler(Model):
  """A x2 super-resolution model bound to its weights; `upscale` takes numpy images of any
  even/odd size."""

  def __init__(self, config: ml_collections.ConfigDict, params, step: int):
    super().__init__(config, params, step)
    self.studio_luma = input_pipeline.protocol_of(config).studio_luma(config)
    self.overlap = _overlap(config)

  def _run(self, x: np.ndarray, batch_size: int, tile: int, overlap: int,
           progress: Optional[Callable[[int, int], None]] = None) -> np.ndarray:
    """Model on an NHWC float batch with the model's channel count: pads, tiles, batches."""
    n, h, w, _ = x.shape
    # The encoder halves the input: reflect-pad odd sizes to even, crop the output back.
    ph, pw = h % 2, w % 2
    if ph or pw:
      mode = 'reflect' if min(h, w) > 1 else 'edge'
      x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    if max(x.shape[1:3]) > tile:
      one = lambda window: np.asarray(forward(self.model, self.params, window))
      out = _in_tiles(one, x, tile, overlap, self.scale, self.config.channels, progress)
    else:
      # No more pixels per call than one tile: activations stay bounded for any batch.
      per_call = max(1, min(batch_size, tile * tile // (x.shape[1] * x.shape[2])))
      out = self._batched(x, per_call)
    return out[:, :h * self.scale, :w * self.scale]

  def apply(self, x: np.ndarray, tile: int = 512, ensemble: bool = False) -> np.ndarray:
    """The model alone on NHWC float input in its own space (for a literature-protocol model,
    studio-range luma), clipped to [0, 1]: what training's evaluation measures. `ensemble`:
    averaged over the 8 rotations and flips (`self_ensemble`)."""
    run = functools.partial(self._run, batch_size=64, tile=tile, overlap=self.overlap)
    x = np.asarray(x, np.float32)
    return self_ensemble(run, x) if ensemble else run(x)

  def upscale(self, images: np.ndarray, batch_size: int = 64, tile: int = 512,
              overlap: Optional[int] = None,
              progress: Optional[Callable[[int, int], None]] = None,
              ensemble: bool = False) -> np.ndarray:
    """Upscales (H, W), (H, W, C), (N, H, W) or (N, H, W, C) images: uint8, uint16 or float in
    [0, 1].

    A 3-D array is (H, W, C) when its last axis is 1, 2, 3 or 4 long, else (N, H, W). The result
    has `scale` times the height and width, the same layout and the same dtype (floats clipped
    to [0, 1], integers rounded). A grayscale model on colour input upscales the luma (Y of
    BT.601 YCbCr) and takes the chroma bicubically; an RGB model on grayscale input sees the
    grey replicated and returns its luma; alpha is upscaled bicubically. Images larger than
    `tile` input pixels on a side are processed in overlapping tiles, `overlap` input pixels
    on each side (default: the model's receptive field, so tiles change nothing);
    `progress(tiles_done, tiles_total)`, when given, is called after each tile. With
    `ensemble`, the model's output is the mean over the input's 8 rotations and flips
    (`self_ensemble`, EDSR's "+"): 8 times the time, a little more quality. An image of one
    colour comes back as that colour.
    """
    overlap = self.overlap if overlap is None else overlap
    if tile % 2 or overlap % 2 or tile <= 2 * overlap:
      # Odd offsets would shift the tiles off the stride-2 encoder's grid.
      raise UserError(f'tile ({tile}) and overlap ({overlap}) must be even, tile larger than '
                      f'twice the overlap')
    x, layout = _to_batch(images)
    if progress and ensemble:  # one count over the 8 runs' tiles
      tiles_done, each_run = itertools.count(1), progress
      progress = lambda _, total: each_run(next(tiles_done), total * len(_DIHEDRAL))
    run = functools.partial(self._run, batch_size=batch_size, tile=tile, overlap=overlap,
                            progress=progress)
    if ensemble:
      run = functools.partial(self_ensemble, run)
    network = run
    run = lambda z: network_output(network(network_input(z, self.studio_luma)), self.studio_luma)
    y = _through_channels(run, x, self.config.channels, self.scale)
    return _from_batch(_keep_flat_images(x, y), layout, self.scale)


def _through_channels(run, x: np.ndarray, channels: int, scale: int) -> np.ndarray:
  """`run` (a model of `channels` channels) on images of any channels: colour through a
  grayscale model by its luma, the chroma bicubic; grey through an RGB model replicated, its
  luma kept; alpha bicubic."""
  c = x.shape[-1]
  colour, alpha = (x[..., :-1], x[..., -1:]) if c in (2, 4) else (x, None)
  if colour.shape[-1] == channels:
    y = run(colour)
  elif channels == 1:  # RGB through a grayscale model
    ycc = colour @ image_ops.RGB_TO_YCBCR.T
    luma = run(ycc[..., :1])
    chroma = _bicubic(ycc[..., 1:], scale)
    y = np.concatenate([luma, chroma], -1) @ image_ops.YCBCR_TO_RGB.T
  else:  # grey through an RGB model
    y = image_ops.luma(run(np.repeat(colour, 3, -1)))
  if alpha is not None:
    y = np.concatenate([y, _bicubic(alpha, scale)], -1)
  return y


def _in_tiles(run_one, x: np.ndarray, tile: int, overlap: int, scale: int, channels: int,
              progress=None) -> np.ndarray:
  """`run_one` (one NHWC image in, its x`scale` with `channels` out) over the images of `x` in overlapping
  tiles, one at a time; each tile keeps only its centre, so there are no seams.
  `progress(done, total)` follows the tiles.

  `overlap` input pixels on each side exceed the model's receptive field, so every kept
  output pixel is computed exactly as on the whole image.
  """
  n, h, w, _ = x.shape
  out = np.zeros((n, h * scale, w * scale, channels), np.float32)
  core = tile - 2 * overlap
  corners = [(i, y0, x0) for i in range(n) for y0 in range(0, h, core)
             for x0 in range(0, w, core)]
  for done, (i, y0, x0) in enumerate(corners, 1):
    # Window of at most `tile` pixels around the core, even-aligned, clipped to the image.
    ty0, tx0 = max(0, y0 - overlap), max(0, x0 - overlap)
    ty1, tx1 = min(h, y0 + core + overlap), min(w, x0 + core + overlap)
    y = run_one(x[i:i + 1, ty0:ty1, tx0:tx1])
    cy1, cx1 = min(h, y0 + core), min(w, x0 + core)
    out[i, y0 * scale:cy1 * scale, x0 * scale:cx1 * scale] = y[
        0, (y0 - ty0) * scale:(cy1 - ty0) * scale, (x0 - tx0) * scale:(cx1 - tx0) * scale]
    if progress:
      progress(done, len(corners))
  return out


def _keep_flat_images(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """`y`, with each image of `x` that holds one colour given back as that colour: it has no
  detail to add, and a model's zero-padded borders, most of a tiny image, would shift it by a
  level or two (through the luma path, every channel at once). Nearly flat tiny images still
  show that shift; from about 8x8 pixels it is below a level."""
  flat = (x == x[:, :1, :1]).all(axis=(1, 2, 3))
  return np.where(flat[:, None, None, None], x[:, :1, :1], y) if flat.any() else y


class Coder(Model):
  """An autoencoder bound to its weights: `encode` images of its size to codes of
  `latent_dim` values, `decode` codes to images, `reconstruct` both."""

  def __init__(self, config: ml_collections.ConfigDict, params, step: int):
    super().__init__(config, params, step)
    self.size, self.latent_dim = config.hr_size, config.latent_dim

  def _inputs(self, images) -> Tuple[np.ndarray, _Layout]:
    """Images as the model's NHWC float batch (colour to luma for a grayscale model, grey
    repeated for a colour one, alpha dropped), refused unless size x size."""
    x, layout = _to_batch(images)
    h, w = x.shape[1:3]
    if (h, w) != (self.size, self.size):
      raise UserError(f'images are {h}x{w}, and this autoencoder codes {self.size}x{self.size} '
                      f'images: resize or crop them to {self.size}x{self.size}')
    return input_pipeline.to_channels(x, self.config.channels), layout

  def encode(self, images, batch_size: int = 256) -> np.ndarray:
    """The codes of images laid out and typed as `Upscaler.upscale` takes them:
    (N, latent_dim) float32 (N = 1 for a single image)."""
    return self._batched(self._inputs(images)[0], batch_size, 'encode')

  def decode(self, codes, batch_size: int = 256, dtype=np.float32) -> np.ndarray:
    """Images from (N, latent_dim) codes: (N, size, size, channels) of `dtype` (float in
    [0, 1], or uint8 / uint16 rounded over their range)."""
    z = np.asarray(codes)
    if (z.ndim != 2 or z.shape[1] != self.latent_dim or not len(z)
        or not np.issubdtype(z.dtype, np.number)):
      raise UserError(f'codes must be a numeric (N, {self.latent_dim}) array with N >= 1, got '
                      f'{z.dtype} of shape {z.shape}')
    if not np.isfinite(z).all():
      raise UserError('codes hold NaN or infinite values: decode finite codes')
    return image_ops.to_pixels(self._batched(z.astype(np.float32), batch_size, 'decode'), dtype)

  def reconstruct(self, images, batch_size: int = 256, with_codes: bool = False):
    """decode(encode(images)), in the images' layout and dtype, with the model's channels;
    with `with_codes`, (that, the codes)."""
    x, layout = self._inputs(images)
    codes = self._batched(x, batch_size, 'encode')
    out = _from_batch(self._batched(codes, batch_size, 'decode'), layout)
    return (out, codes) if with_codes else out


def _overlap(config) -> int:
  """Input pixels beyond which an output pixel does not look (the model's `reach`: each 3x3
  convolution at input resolution reaches 1 further, a 5x5 2, the cubic upsampling beside them
  2), rounded up to even and at least 16, which covers the encoder-decoder family (measured: tiles equal
  the whole image)."""
  reach = models.spec(config).reach
  if reach is None:
    return 16
  return max(16, reach(config) + reach(config) % 2)


def _bicubic(x: np.ndarray, scale: int) -> np.ndarray:
  """What rides along with the model's output (chroma, alpha): upscaled bicubically."""
  return np.asarray(image_ops.resize2x(x, 'cubic')) if scale == 2 else x


def load(path: str, step: Optional[int] = None) -> Model:
  """The model saved in a training workdir (or its checkpoints folder), latest step by default,
  or a model shipped with the package ('pretrained:photo', 'pretrained:photo_rgb',
  'pretrained:mnist', 'pretrained:mnist_ae'): an `Upscaler`, or a `Coder` for an
  autoencoder."""
  config, params, step = checkpointing.load_weights(resolve(path), step)
  return (Coder if models.is_coder(config) else Upscaler)(config, params, step)
