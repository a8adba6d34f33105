import numpy as np
import pytest
from skimage.metrics import structural_similarity

from flax_srae.training import metrics


def test_psnr_hand_values():
  target = np.zeros((2, 8, 8, 1), np.float32)
  pred = target.copy()
  pred[0] += 0.1          # MSE 0.01 -> 20 dB
  pred[1, :4] = 1.0       # half the pixels off by 1: MSE 0.5 -> 10 log10(2) = 3.0103 dB
  np.testing.assert_allclose(metrics.psnr(pred, target), [20.0, 3.0103], atol=1e-4)
  assert float(metrics.psnr(target, target)[0]) == pytest.approx(100.0)


def test_ssim_of_constant_images_hand_value():
  # Constant images: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1).
  a, b, c1 = 0.2, 0.5, 0.01 ** 2
  x = np.full((1, 16, 16, 1), a, np.float32)
  y = np.full((1, 16, 16, 1), b, np.float32)
  expected = (2 * a * b + c1) / (a * a + b * b + c1)
  assert float(metrics.ssim(x, y)[0]) == pytest.approx(expected, rel=1e-4)
  assert float(metrics.ssim(y, y)[0]) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize('channels', [1, 3])
def test_ssim_matches_skimage_gaussian_protocol(channels):
  rng = np.random.default_rng(0)
  x = rng.random((2, 28, 28, channels)).astype(np.float32)
  y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
  ours = np.asarray(metrics.ssim(x, y))
  for i in range(2):
    ref = structural_similarity(x[i], y[i], gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1.0, channel_axis=-1)
    assert ours[i] == pytest.approx(ref, abs=1e-4)


def test_whole_image_rounds_to_8_bits_shaves_and_measures_colour_on_studio_luma():
  hr = np.full((20, 24, 1), 100 / 255, np.float32)
  sr = hr + 1.2 / 255      # rounds to one level off: 20 log10(255) dB
  sr[:2] = 0.0             # wrong only inside the shaved border
  psnr, ssim = metrics.whole_image(sr, hr, shave=2)
  assert psnr == pytest.approx(20 * np.log10(255), abs=1e-6)
  assert 0.99 < ssim <= 1.0 + 1e-6
  assert metrics.whole_image(sr, hr, shave=0)[0] < 20
  rgb = np.zeros((16, 16, 3), np.float32)
  grey = rgb + 10 / 255    # Y of a grey step of 10 levels: 219/255 of that
  psnr, _ = metrics.whole_image(grey, rgb, shave=0)
  assert psnr == pytest.approx(20 * np.log10(255 / (10 * 219 / 255)), abs=1e-4)
  red = rgb.copy()
  red[..., 0] = 10 / 255   # 10 levels off in one channel of three: the RGB mean squared error
  psnr, _ = metrics.whole_image(red, rgb, shave=0, rgb=True)
  assert psnr == pytest.approx(10 * np.log10(3 * 255 ** 2 / 10 ** 2), abs=1e-4)


@pytest.mark.parametrize('channels,rgb', [(1, False), (3, True)])
def test_whole_image_ssim_on_the_host_equals_ssim(channels, rgb):
  rng = np.random.default_rng(1)
  hr = rng.random((37, 30, channels)).astype(np.float32)
  sr = np.round(np.clip(hr + 0.1 * rng.standard_normal(hr.shape), 0, 1) * 255) / 255
  _, ours = metrics.whole_image(sr.astype(np.float32), hr, shave=0, rgb=rgb)
  assert ours == pytest.approx(float(metrics.ssim(sr[None], hr[None])[0]), abs=1e-6)
