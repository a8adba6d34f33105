"""Pixel operations on NHWC arrays in [0, 1]: conversions from and to integer pixels, colour
conversions, resizing, degradation.

Pure jax.numpy (numpy arrays go in as well): the one home of the pixel scale, the luma
weights, the classic upscalers and the low-resolution input every model is trained on.
"""
import jax
import jax.numpy as jnp
import numpy as np

# BT.601 full-range (JPEG) YCbCr. Its first row, the luma, is what a grayscale model sees.
_LUMA = np.array([0.299, 0.587, 0.114])
RGB_TO_YCBCR = np.array([_LUMA, [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
                        np.float32)
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR).astype(np.float32)
# The super-resolution literature measures on studio-range luma (MATLAB's rgb2ycbcr), Y in
# [16, 235] / 255: 16/255 + 219/255 * full-range Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255.
STUDIO_OFFSET, STUDIO_GAIN = 16.0 / 255.0, 219.0 / 255.0

DEGRADATIONS = ('area', 'bicubic')


def to_float(pixels: np.ndarray) -> np.ndarray:
  """uint8 / uint16 pixels -> float32 in [0, 1], over the integer type's whole range."""
  return pixels.astype(np.float32) / np.iinfo(pixels.dtype).max


def to_pixels(x: np.ndarray, dtype) -> np.ndarray:
  """Float images -> `dtype`, clipped to [0, 1] first: integer types rounded over their whole
  range (the inverse of `to_float`), float types as they are."""
  x = np.clip(x, 0.0, 1.0)
  if np.issubdtype(dtype, np.integer):
    return np.round(x * np.iinfo(dtype).max).astype(dtype)
  return x.astype(dtype)


def luma(rgb):
  """(..., 3) RGB -> (..., 1) full-range BT.601 Y, in the input's precision."""
  return rgb @ _LUMA[:, None].astype(rgb.dtype)


def to_studio_range(y):
  """Full-range luma (or grey) in [0, 1] -> studio range [16, 235] / 255."""
  return STUDIO_OFFSET + STUDIO_GAIN * y


def from_studio_range(y):
  return (y - STUDIO_OFFSET) / STUDIO_GAIN


def studio_luma(rgb):
  """(..., 3) RGB -> (..., 1) studio-range Y, the literature's measuring channel."""
  return to_studio_range(luma(rgb))


def round_to_8_bits(x):
  """What an 8-bit image file keeps of values in [0, 1] (numpy or JAX, in their precision)."""
  return (x.clip(0.0, 1.0) * 255.0).round() / 255.0


def resize2x(x, method: str = 'cubic'):
  """x2 upscaling of an NHWC batch with a `jax.image.resize` method ('nearest', 'linear',
  'cubic', 'lanczos3', ...)."""
  n, h, w, c = x.shape
  return jax.image.resize(x, (n, 2 * h, 2 * w, c), method)


def degrade(hr, degradation: str, scale: int = 2):
  """Low-resolution version of an NHWC batch: 'area' (mean of each block) or 'bicubic'
  (antialiased)."""
  n, h, w, c = hr.shape
  if degradation == 'area':
    return hr.reshape(n, h // scale, scale, w // scale, scale, c).mean(axis=(2, 4))
  if degradation == 'bicubic':
    return jax.image.resize(hr, (n, h // scale, w // scale, c), 'bicubic', antialias=True)
  raise ValueError(f'unknown degradation {degradation!r}: choose one of {", ".join(DEGRADATIONS)}')


def _area_weights(n: int, m: int) -> np.ndarray:
  """(m, n): output pixel i of an `m`-pixel line averages the stretch [i n/m, (i+1) n/m) of
  the `n` input pixels, each input pixel weighted by how much of it the stretch covers."""
  edges = np.arange(m + 1) * n / m
  lo, hi = edges[:-1, None], edges[1:, None]
  pixels = np.arange(n)[None]
  overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0, None)
  return (overlap * m / n).astype(np.float32)


def area_resize(x, height: int, width: int):
  """An NHWC batch shrunk to `height` x `width` by area averaging (any ratio, as OpenCV's
  INTER_AREA): each output pixel the mean of the input area it covers."""
  rows, columns = _area_weights(x.shape[1], height), _area_weights(x.shape[2], width)
  return jnp.einsum('ih,nhwc,jw->nijc', rows, x, columns, precision='highest')


def _keys_cubic(t: float, a: float) -> float:
  t = abs(t)
  if t <= 1:
    return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
  return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0


def cubic_upscale2x(x, a: float = -0.75):
  """x2 cubic-convolution upsampling of NHWC, as PyTorch's `interpolate(mode='bicubic',
  align_corners=False)` (Keys kernel with a=-0.75, edge pixels repeated). Output pixel 2i+p
  samples the input at i - 1/4 + p/2, so each phase is a fixed 4-tap filter: a few fused
  multiply-adds instead of `jax.image.resize`'s dense resampling matrices."""
  even = [_keys_cubic(d, a) for d in (1.75, 0.75, 0.25, 1.25)]  # taps i-2 .. i+1
  odd = even[::-1]                                                # taps i-1 .. i+2
  for axis in (1, 2):
    n = x.shape[axis]
    pad = [(0, 0)] * 4
    pad[axis] = (2, 2)
    xp = jnp.pad(x, pad, mode='edge')
    tap = lambda start: jax.lax.slice_in_dim(xp, start, start + n, axis=axis)
    phases = [sum(w * tap(t) for t, w in enumerate(even)),
              sum(w * tap(t + 1) for t, w in enumerate(odd))]
    x = jnp.stack(phases, axis=axis + 1)
    shape = list(x.shape)
    x = x.reshape(shape[:axis] + [2 * n] + shape[axis + 2:])
  return x
