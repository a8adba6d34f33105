import jax
import ml_collections
import numpy as np
import pytest

from flax_srae.training import evaluation
from flax_srae.data import image_ops
from flax_srae.training import metrics
from flax_srae import models
from flax_srae.platform import parallel


def _edsr_at_its_start():
  """edsr as initialised: its zero last layer makes it cubic upsampling, a known output."""
  config = ml_collections.ConfigDict(dict(
      model='edsr', channels=1, width=4, num_blocks=1, hr_size=16, degradation='area',
      eval_batch_size=4, protocol='patches', shave=2))
  model = models.create_model(config)
  params = model.init(jax.random.key(0), np.zeros((1, 8, 8, 1), np.float32))['params']
  return config, model, params


def test_patches_are_measured_per_image_in_padded_batches():
  config, model, params = _edsr_at_its_start()
  hr = np.random.default_rng(0).random((7, 16, 16, 1)).astype(np.float32)  # 7 = 4 + 3, padded
  mesh = parallel.create_mesh(jax.devices()[:1])
  r = evaluation.evaluate(model, params, hr, config, mesh, methods=('bicubic', 'nearest'))
  low_res = image_ops.degrade(hr, 'area')
  cubic = np.clip(image_ops.cubic_upscale2x(low_res), 0, 1)
  assert r['model']['psnr'] == pytest.approx(float(np.mean(metrics.psnr(cubic, hr))), abs=1e-4)
  assert r['model']['ssim'] == pytest.approx(float(np.mean(metrics.ssim(cubic, hr))), abs=1e-5)
  nearest = low_res.repeat(2, 1).repeat(2, 2)
  assert r['nearest']['psnr'] == pytest.approx(float(np.mean(metrics.psnr(nearest, hr))),
                                               abs=1e-4)
  shaved = evaluation.evaluate(model, params, hr, config, mesh, methods=(), shave=2)
  inner = (slice(None), slice(2, -2), slice(2, -2))
  assert shaved['model']['psnr'] == pytest.approx(
      float(np.mean(metrics.psnr(cubic[inner], hr[inner]))), abs=1e-4)


def test_whole_images_are_measured_one_by_one_the_literatures_way():
  config, model, params = _edsr_at_its_start()
  config.protocol = 'literature'
  rng = np.random.default_rng(1)
  pairs = [(rng.random((h, w, 1)).astype(np.float32), rng.random((2 * h, 2 * w, 1)).astype(
      np.float32)) for h, w in ((9, 12), (10, 8))]
  mesh = parallel.create_mesh(jax.devices()[:1])
  r = evaluation.evaluate(model, params, pairs, config, mesh)
  expected = [metrics.whole_image(np.asarray(image_ops.cubic_upscale2x(low_res[None]))[0], hr, 2)
              for low_res, hr in pairs]
  assert r['model']['psnr'] == pytest.approx(np.mean([p for p, _ in expected]), abs=1e-6)
  assert r['model']['ssim'] == pytest.approx(np.mean([s for _, s in expected]), abs=1e-6)
  assert set(r) == {'model', 'bicubic'}


def test_the_classic_baselines_upscale_x2():
  x = np.random.default_rng(2).random((2, 8, 8, 1)).astype(np.float32)
  np.testing.assert_allclose(evaluation.baseline(x), np.clip(image_ops.resize2x(x), 0, 1),
                             atol=1e-6)
  assert evaluation.baseline(x, 'lanczos').shape == (2, 16, 16, 1)
