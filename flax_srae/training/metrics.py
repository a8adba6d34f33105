"""Image quality metrics on NHWC batches in [0, 1], one value per image.

SSIM follows Wang et al. (2004): 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
statistics over 'valid' window positions only, averaged over channels. This equals
`skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=1)`.
"""
import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage

from flax_srae.data import image_ops

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5


def psnr(pred, target, max_value=1.0):
  """Peak signal-to-noise ratio in dB per image; MSE floored at 1e-10 (identical images: 100 dB)."""
  mse = jnp.mean((pred - target) ** 2, axis=(1, 2, 3))
  return 10.0 * jnp.log10(max_value ** 2 / jnp.maximum(mse, 1e-10))


def squared_error(pred, target):
  """The squared error summed over each image's values: the autoencoder literature's "average
  squared error per image" once averaged (Hinton & Salakhutdinov, 2006)."""
  return jnp.sum((pred - target) ** 2, axis=(1, 2, 3))


def _gaussian_window():
  x = np.arange(SSIM_WINDOW) - (SSIM_WINDOW - 1) / 2
  g = np.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
  return jnp.asarray(g / g.sum(), jnp.float32)


def _blur(x):
  """Separable Gaussian filter over H and W of an NHWC batch, 'valid' positions only."""
  n, h, w, c = x.shape
  g = _gaussian_window()
  y = x.transpose(0, 3, 1, 2).reshape(n * c, 1, h, w)
  dn = ('NCHW', 'OIHW', 'NCHW')
  y = jax.lax.conv_general_dilated(y, g.reshape(1, 1, -1, 1), (1, 1), 'VALID', dimension_numbers=dn)
  y = jax.lax.conv_general_dilated(y, g.reshape(1, 1, 1, -1), (1, 1), 'VALID', dimension_numbers=dn)
  return y.reshape(n, c, h - SSIM_WINDOW + 1, w - SSIM_WINDOW + 1)


def _blur_on_host(x: np.ndarray) -> np.ndarray:
  """`_blur` on the host by scipy's filter, NHWC in and out: on a whole image several times
  faster than XLA:CPU's convolution run op by op, and nothing compiled for each new size."""
  g, r = np.asarray(_gaussian_window()), SSIM_WINDOW // 2
  y = scipy.ndimage.correlate1d(x, g, axis=1, mode='constant')[:, r:-r]
  return scipy.ndimage.correlate1d(y, g, axis=2, mode='constant')[:, :, r:-r]


def _ssim_map(pred, target, blur, max_value):
  """SSIM at each window position of each image and channel, its statistics from `blur`."""
  c1, c2 = (0.01 * max_value) ** 2, (0.03 * max_value) ** 2
  mu_x, mu_y = blur(pred), blur(target)
  var_x = blur(pred * pred) - mu_x ** 2
  var_y = blur(target * target) - mu_y ** 2
  cov = blur(pred * target) - mu_x * mu_y
  return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))


def ssim(pred, target, max_value=1.0):
  """Structural similarity per image (mean over window positions and channels)."""
  return jnp.mean(_ssim_map(pred, target, _blur, max_value), axis=(1, 2, 3))


def whole_image(sr: np.ndarray, hr: np.ndarray, shave: int, with_ssim: bool = True,
                rgb: bool = False):
  """(PSNR, SSIM or None) of one HWC image the super-resolution literature's way: the output
  rounded to 8 bits, colour measured on studio-range luma (Y in [16, 235]; with `rgb`, on the
  RGB channels), a `shave`-pixel border left out, PSNR in float64."""
  sr = image_ops.round_to_8_bits(np.asarray(sr))  # in the data's precision, as the files hold it
  if sr.shape[-1] == 3 and not rgb:
    sr, hr = (image_ops.studio_luma(a.astype(np.float64)) for a in (sr, hr))
  if shave:
    sr, hr = sr[shave:-shave, shave:-shave], hr[shave:-shave, shave:-shave]
  mse = np.mean((sr.astype(np.float64) - hr) ** 2)
  value = float(10.0 * np.log10(1.0 / max(mse, 1e-10)))
  if not with_ssim:
    return value, None
  # On the host: whole images come in many sizes, each of which JAX would compile for.
  sr, hr = (np.asarray(a[None], np.float32) for a in (sr, hr))
  return value, float(np.mean(_ssim_map(sr, hr, _blur_on_host, 1.0)))
