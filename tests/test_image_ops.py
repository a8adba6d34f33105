import re

import jax.numpy as jnp
import numpy as np
import pytest

from flax_srae.data import image_ops
import conftest


def test_area_degradation_is_block_mean():
  hr = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
  low_res = np.asarray(image_ops.degrade(hr, 'area'))
  np.testing.assert_allclose(low_res[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_bicubic_degradation_is_antialiased():
  # A 1-pixel checkerboard averages out under an antialiased downscale (plain subsampling
  # would keep one phase: all zeros or all ones).
  hr = (np.indices((16, 16)).sum(0) % 2).astype(np.float32)[None, ..., None]
  low_res = np.asarray(image_ops.degrade(hr, 'bicubic'))
  assert low_res.shape == (1, 8, 8, 1)
  np.testing.assert_allclose(low_res[0, 2:-2, 2:-2], 0.5, atol=0.05)
  flat = np.full((1, 8, 8, 1), 0.3, np.float32)
  np.testing.assert_allclose(image_ops.degrade(flat, 'bicubic'), 0.3, atol=1e-6)


def test_unknown_degradation_rejected():
  with pytest.raises(ValueError, match='unknown degradation'):
    image_ops.degrade(np.zeros((1, 4, 4, 1), np.float32), 'gaussian')


def test_cubic_upscale2x_matches_pytorch_bicubic():
  # torch.nn.functional.interpolate(x, scale_factor=2, mode='bicubic', align_corners=False)
  # of x = arange(12).reshape(3, 4) ** 2 / 10, computed once with PyTorch 2.13 (rows 0 and 5).
  x = (np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1) ** 2) / 10
  y = np.asarray(image_ops.cubic_upscale2x(jnp.asarray(x)))[0, :, :, 0]
  assert y.shape == (6, 8)
  np.testing.assert_allclose(y[0], [-0.170398, -0.172791, -0.179407, -0.117236, -0.029639,
                                    0.179407, 0.39154, 0.52196], atol=2e-6)
  np.testing.assert_allclose(y[5], [6.718055, 7.24076, 8.077064, 9.251613, 10.057764,
                                    11.379188, 12.434241, 13.089759], atol=2e-6)
  np.testing.assert_allclose(image_ops.cubic_upscale2x(jnp.full((1, 5, 3, 2), 0.4)), 0.4, atol=1e-6)


def test_studio_luma_is_the_literatures_rgb2ycbcr():
  rgb = np.random.default_rng(0).random((5, 4, 3))
  expected = (16 + rgb @ np.array([65.481, 128.553, 24.966])) / 255
  np.testing.assert_allclose(image_ops.studio_luma(rgb)[..., 0], expected, rtol=1e-12)
  np.testing.assert_allclose(image_ops.from_studio_range(image_ops.to_studio_range(rgb)), rgb,
                             atol=1e-12)


def test_ycbcr_round_trip_and_grey_has_no_chroma():
  rgb = np.random.default_rng(1).random((6, 3)).astype(np.float32)
  ycc = rgb @ image_ops.RGB_TO_YCBCR.T
  np.testing.assert_allclose(ycc @ image_ops.YCBCR_TO_RGB.T, rgb, atol=1e-6)
  grey = np.full((1, 3), 0.4, np.float32) @ image_ops.RGB_TO_YCBCR.T
  np.testing.assert_allclose(grey, [[0.4, 0, 0]], atol=1e-6)


def test_round_to_8_bits_keeps_what_a_file_keeps():
  x = np.array([-0.1, 0.0, 1.2 / 255, 0.5, 1.3], np.float32)
  np.testing.assert_allclose(image_ops.round_to_8_bits(x), [0, 0, 1 / 255, 128 / 255, 1])


@pytest.mark.parametrize('dtype', [np.uint8, np.uint16])
def test_integer_pixels_round_trip_through_floats(dtype):
  top = np.iinfo(dtype).max
  pixels = np.array([0, 1, top // 2, top - 1, top], dtype)
  x = image_ops.to_float(pixels)
  assert x.dtype == np.float32 and x[0] == 0.0 and x[-1] == 1.0
  np.testing.assert_array_equal(image_ops.to_pixels(x, dtype), pixels)


def test_to_pixels_clips_and_rounds():
  x = np.array([-0.5, 0.0, 0.499 / 255, 0.501 / 255, 1.0, 1.5], np.float32)
  np.testing.assert_array_equal(image_ops.to_pixels(x, np.uint8), [0, 0, 0, 1, 255, 255])
  np.testing.assert_array_equal(image_ops.to_pixels(x, np.float32), [0, 0, x[2], x[3], 1, 1])


def test_no_module_outside_image_ops_converts_pixel_integers_or_luma_ranges():
  # One pre- and post-processing: integer pixels, and the studio range a literature model
  # sees, are converted in image_ops (the network's side of it in inference) and nowhere else.
  owners = {r'iinfo|\* 255\b|/ 255\b': ('data/image_ops.py',),
            r'(to|from)_studio_range\(': ('data/image_ops.py', 'inference/__init__.py')}
  for name, lines in conftest.package_sources():
    for i, line in enumerate(lines, 1):
      for pattern, allowed in owners.items():
        if name not in allowed:
          assert not re.search(pattern, line.split('#')[0]), f'{name}:{i}: {line.strip()}'
