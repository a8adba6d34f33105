"""The compressing autoencoder: its baselines (PCA, the area code), metrics, training with noise,
the encode/decode API and the command-line tools on autoencoder workdirs."""
import json
import os
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest
from PIL import Image

import flax_srae
from flax_srae import evaluate
from flax_srae.training import evaluation
from flax_srae.data import image_ops
from flax_srae import inference
from flax_srae.data import input_pipeline
from flax_srae.training import metrics
from flax_srae import models
from flax_srae.platform import parallel
from flax_srae.training import pca
from flax_srae import predict
from flax_srae.training import train
from flax_srae.errors import UserError
from conftest import MNIST_DIR, make_tiny_ae_config, restore_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----- Baselines and metrics: pure functions ----------------------------------------------

def test_pca_of_a_hand_computed_case():
  # Four 1x2 images around the mean (0.5, 0.5): the spread lies along the first pixel.
  images = np.array([[0.9, 0.5], [0.1, 0.5], [0.5, 0.55], [0.5, 0.45]],
                    np.float32).reshape(4, 1, 2, 1)
  fit = pca.fit(images, 1)
  np.testing.assert_allclose(fit.mean, [0.5, 0.5], atol=1e-7)
  np.testing.assert_allclose(np.abs(fit.components), [[1.0, 0.0]], atol=1e-6)
  codes = np.asarray(fit.encode(images))[:, 0] * np.sign(fit.components[0, 0])
  np.testing.assert_allclose(codes, [0.4, -0.4, 0.0, 0.0], atol=1e-6)
  expected = np.array([[0.9, 0.5], [0.1, 0.5], [0.5, 0.5], [0.5, 0.5]]).reshape(4, 1, 2, 1)
  np.testing.assert_allclose(fit.reconstruct(images), expected, atol=1e-6)
  # Reconstructions are images: clipped to [0, 1].
  far = np.asarray(fit.decode(np.array([[10.0]], np.float32)))
  assert far.shape == (1, 1, 2, 1) and far.min() >= 0 and far.max() <= 1
  with pytest.raises(UserError, match='PCA with 4 components needs more than 4 training images'):
    pca.fit(images, 4)


def test_pca_reconstruction_is_the_best_rank_k_fit_of_the_training_data():
  rng = np.random.default_rng(0)
  images = (0.5 + 0.1 * rng.standard_normal((50, 3, 3, 1))).astype(np.float32)
  fit = pca.fit(images, 3)
  flat = images.reshape(50, -1).astype(np.float64)
  centred = flat - flat.mean(0)
  u, s, vt = np.linalg.svd(centred, full_matrices=False)
  best = (u[:, :3] * s[:3]) @ vt[:3] + flat.mean(0)
  np.testing.assert_allclose(np.asarray(fit.reconstruct(images)).reshape(50, -1), best,
                             atol=1e-5)
  np.testing.assert_allclose(fit.components @ fit.components.T, np.eye(3), atol=1e-5)


def test_area_resize_averages_the_area_each_pixel_covers():
  x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) / 16
  np.testing.assert_allclose(image_ops.area_resize(x, 2, 2), image_ops.degrade(x, 'area'),
                             atol=1e-6)
  # 3 -> 2 pixels: each output covers one and a half input pixels.
  line = np.array([0.0, 0.3, 0.9], np.float32).reshape(1, 1, 3, 1)
  expected = [(0.0 + 0.5 * 0.3) / 1.5, (0.5 * 0.3 + 0.9) / 1.5]
  np.testing.assert_allclose(np.asarray(image_ops.area_resize(line, 1, 2))[0, 0, :, 0],
                             expected, atol=1e-6)


@pytest.mark.parametrize('latent_dim,channels,side', [
    (32, 1, 6), (2, 1, 1), (16, 1, 4), (30, 1, 5), (128, 1, 11), (48, 3, 4)])
def test_the_area_code_has_the_nearest_size(latent_dim, channels, side):
  config = ml_collections.ConfigDict(dict(latent_dim=latent_dim, channels=channels, hr_size=28))
  assert evaluation.area_side(config) == side


def test_squared_error_is_summed_over_each_image():
  target = np.zeros((2, 2, 2, 1), np.float32)
  pred = target.copy()
  pred[0, 0, 0] = 0.5      # image 0: one value off by 0.5
  pred[1] = 0.1            # image 1: four values off by 0.1
  np.testing.assert_allclose(metrics.squared_error(pred, target), [0.25, 0.04], atol=1e-7)


def _random_coder_config(**overrides):
  config = make_tiny_ae_config()
  config.update(hr_size=12, eval_batch_size=7, **overrides)
  return config


def test_evaluate_coder_is_each_method_measured_image_by_image():
  config = _random_coder_config(noise_std=0.3)
  model = models.create_model(config)
  rng = np.random.default_rng(1)
  train_images = rng.random((40, 12, 12, 1), np.float32)
  images = rng.random((10, 12, 12, 1), np.float32)
  params = model.init(jax.random.key(0), images[:1])['params']
  fit = evaluation.fit_pca(list(train_images), config)
  mesh = parallel.create_mesh(jax.local_devices()[:1])
  result = evaluation.evaluate(model, params, images, config, mesh, pca_fit=fit)
  assert set(result) == {'model', 'pca', 'area_bicubic', 'noisy_input'}

  noisy = evaluation.coder_inputs(images, config)
  assert 0 < np.abs(noisy - images).mean() and noisy.min() >= 0 and noisy.max() <= 1
  np.testing.assert_array_equal(noisy, evaluation.coder_inputs(images, config))  # fixed
  outputs = {'model': inference.forward(model, params, noisy), 'pca': fit.reconstruct(noisy),
             'area_bicubic': evaluation.area_bicubic(noisy, evaluation.area_side(config)),
             'noisy_input': noisy}
  for name, y in outputs.items():
    y = np.asarray(y, np.float64)
    sse = ((y - images) ** 2).sum(axis=(1, 2, 3))
    assert result[name]['squared_error_per_image'] == pytest.approx(sse.mean(), rel=1e-4)
    assert result[name]['psnr'] == pytest.approx(np.mean(10 * np.log10(144 / sse)), abs=1e-3)
    assert result[name]['psnr_of_mean_mse'] == pytest.approx(10 * np.log10(144 / sse.mean()),
                                                             abs=1e-3)
    assert result[name]['ssim'] == pytest.approx(
        float(np.mean(metrics.ssim(y.astype(np.float32), images))), abs=1e-4)

  config.num_samples = 3  # the pictures show the noisy inputs the figures measured
  columns, labels = evaluation.coder_sample_columns(model, params, images, config, mesh, fit)
  assert labels == ['noisy (0.3)', 'PCA 5', 'autoencoder 5', 'original']
  np.testing.assert_array_equal(columns[0], noisy[:3])
  np.testing.assert_array_equal(columns[3], images[:3])


# ----- Config checks -------------------------------------------------------------------------

@pytest.mark.parametrize('overrides,message', [
    (dict(latent_dim=144), r'latent_dim must be a whole number from 1 to 143: the code must '
                           r'hold fewer values than the 12x12x1 image \(144\), got 144'),
    (dict(latent_dim=0), 'latent_dim must be a whole number from 1 to 143'),
    (dict(channels=3, latent_dim=500), r'fewer values than the 12x12x3 image \(432\)'),
    (dict(hr_size=14), 'hr_size must be a multiple of 4'),
    (dict(noise_std=-0.1), 'noise_std must be a finite value >= 0'),
    (dict(noise_std=float('nan')), 'noise_std must be a finite number, got nan'),
    (dict(model='edsr', noise_std=0.2), 'noise_std .* applies to model autoencoder, not edsr'),
    (dict(protocol='literature', degradation='bicubic'), 'model espcn or edsr'),
])
def test_bad_autoencoder_configs_are_refused_before_any_work(overrides, message, tmp_path):
  config = make_tiny_ae_config()
  config.update(overrides)
  with pytest.raises(UserError, match=message):
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


@pytest.mark.slow
def test_a_latent_not_smaller_than_the_image_is_one_line_on_the_command_line(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'flax_srae.main', '--config=configs/ae28.py',
       f'--workdir={tmp_path}/run', '--config.latent_dim=784'], cwd=ROOT, capture_output=True,
      text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      'error: latent_dim must be a whole number from 1 to 783: the code must hold fewer values '
      'than the 28x28x1 image (784), got 784')
  assert 'Traceback' not in proc.stderr


# ----- Training --------------------------------------------------------------------------------

def test_the_training_noise_is_a_function_of_seed_and_step():
  config = make_tiny_ae_config()
  hr = np.full((2, 12, 12, 1), 0.5, np.float32)
  draw = lambda step: np.asarray(input_pipeline.model_input(
      hr, 'area', 1, 0.2, jax.random.fold_in(train.noise_key(config), step)))
  np.testing.assert_array_equal(draw(3), draw(3))
  assert not np.array_equal(draw(3), draw(4))
  assert abs(float(np.std(draw(3) - hr)) - 0.2) < 0.03
  np.testing.assert_array_equal(input_pipeline.model_input(hr, 'area', 1), hr)


@pytest.mark.slow
def test_a_denoiser_resumes_exactly_and_reports_its_noisy_input(tmp_path):
  config = make_tiny_ae_config()
  config.update(noise_std=0.3, num_train_steps=6)
  straight = train.train_and_evaluate(config, str(tmp_path / 'straight'))
  config.num_train_steps = 3
  train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  config.num_train_steps = 6
  resumed = train.train_and_evaluate(config, str(tmp_path / 'resumed'))
  a, b = (restore_state(tmp_path / d, config) for d in ('straight', 'resumed'))
  assert int(a.step) == int(b.step) == 6
  for x, y in zip(jax.tree.leaves((a.params, a.opt_state)),
                  jax.tree.leaves((b.params, b.opt_state))):
    np.testing.assert_array_equal(x, y)
  assert resumed['coding'] == straight['coding']
  # Another noise level trains other weights: the noise reaches the model.
  config.update(noise_std=0.1)
  other = train.train_and_evaluate(config, str(tmp_path / 'other'))
  assert other['coding']['methods']['model'] != straight['coding']['methods']['model']
  methods = straight['coding']['methods']
  assert set(methods) == {'model', 'pca', 'area_bicubic', 'noisy_input'}
  assert methods['noisy_input']['psnr'] < 15  # noise of 0.3 on [0, 1] images


def test_an_autoencoder_run_reports_its_code_and_its_baselines(trained_ae_workdir):
  with open(os.path.join(trained_ae_workdir, 'results.json')) as f:
    results = json.load(f)
  coding = results['coding']
  assert coding['latent_dim'] == 5 and coding['input_values'] == 144
  assert coding['compression_ratio'] == pytest.approx(28.8)
  assert coding['area_code'] == {'side': 2, 'values': 4}
  assert set(coding['methods']) == {'model', 'pca', 'area_bicubic'}
  for m in coding['methods'].values():
    assert set(m) == {'psnr', 'ssim', 'psnr_of_mean_mse', 'squared_error_per_image'}
  assert results['eval'] == {
      'psnr': coding['methods']['model']['psnr'], 'ssim': coding['methods']['model']['ssim'],
      'pca_psnr': coding['methods']['pca']['psnr'], 'pca_ssim': coding['methods']['pca']['ssim']}
  # PCA with 5 components keeps more of these patches than a 2x2 thumbnail does.
  assert coding['methods']['pca']['psnr'] > coding['methods']['area_bicubic']['psnr']
  curves = json.loads(open(os.path.join(trained_ae_workdir, 'curves.json')).read())
  assert curves['baseline'] == 'pca'
  assert curves['baseline_psnr'] == pytest.approx(results['eval']['pca_psnr'])
  grid = np.asarray(Image.open(os.path.join(trained_ae_workdir, 'samples.png')))
  assert grid.shape[1] > grid.shape[0] / 3  # three columns: original, PCA, autoencoder


@pytest.mark.slow
def test_mnist_training_moves_off_black_at_once(tmp_path):
  """The trap a sigmoid output fell into: under MSE it saturated at black (9.3 dB) and stayed.
  This model leaves it within a few hundred steps."""
  if not os.path.isdir(MNIST_DIR):
    pytest.skip('needs ../shared/data/mnist')
  from configs import ae28
  config = ae28.get_config()
  config.update(data_dir=MNIST_DIR, num_train_steps=150, eval_every_steps=150,
                checkpoint_every_steps=150, lr_schedule='constant', warmup_steps=0)
  results = train.train_and_evaluate(config, str(tmp_path))
  assert results['eval']['psnr'] > 14.0


# ----- Using the code ------------------------------------------------------------------------

def test_encode_decode_reconstruct(trained_ae_workdir):
  model = flax_srae.load(trained_ae_workdir)
  assert isinstance(model, flax_srae.Coder) and (model.size, model.latent_dim) == (12, 5)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (7, 12, 12), np.uint8)
  codes = model.encode(images)
  assert codes.shape == (7, 5) and codes.dtype == np.float32
  decoded = model.decode(codes)
  assert decoded.shape == (7, 12, 12, 1) and decoded.dtype == np.float32
  assert decoded.min() >= 0 and decoded.max() <= 1
  as_bytes = model.decode(codes, dtype=np.uint8)
  assert as_bytes.dtype == np.uint8
  np.testing.assert_array_equal(as_bytes, np.round(decoded * 255).astype(np.uint8))
  # reconstruct = decode(encode), in the input's layout and dtype.
  out = model.reconstruct(images)
  assert out.shape == images.shape and out.dtype == np.uint8
  np.testing.assert_array_equal(out, as_bytes[..., 0])
  floats = images / 255.0
  np.testing.assert_allclose(model.reconstruct(floats), decoded[..., 0], atol=1e-6)
  np.testing.assert_allclose(model.encode(floats), codes, atol=1e-5)
  single = model.reconstruct(images[0])
  assert single.shape == (12, 12) and model.encode(images[0]).shape == (1, 5)
  # Colour through a grayscale autoencoder: its luma is coded.
  rgb = rng.integers(0, 256, (12, 12, 3), np.uint8)
  luma = np.asarray(image_ops.luma(rgb / 255.0), np.float32)
  np.testing.assert_allclose(model.encode(rgb), model.encode(luma), atol=1e-5)
  assert model.reconstruct(rgb).shape == (12, 12, 1)
  out, z = model.reconstruct(images, with_codes=True)
  np.testing.assert_array_equal(z, codes)


@pytest.mark.parametrize('call,message', [
    (lambda m: m.encode(np.zeros((3, 16, 16))), 'images are 16x16, and this autoencoder codes '
                                                '12x12 images: resize or crop them to 12x12'),
    (lambda m: m.reconstruct(np.zeros((10, 12))), 'images are 10x12'),
    (lambda m: m.decode(np.zeros((2, 4))), r'codes must be a numeric \(N, 5\) array with N >= '
                                           r'1, got float64 of shape \(2, 4\)'),
    (lambda m: m.decode(np.zeros(5)), r'codes must be a numeric \(N, 5\) array'),
    (lambda m: m.decode(np.zeros((0, 5))), r'with N >= 1, got float64 of shape \(0, 5\)'),
    (lambda m: m.decode(np.full((1, 5), np.nan)), 'codes hold NaN or infinite values'),
    (lambda m: m.encode(np.full((12, 12), np.nan)), 'images hold NaN or infinite values'),
    (lambda m: m.upscale(np.zeros((12, 12))), r'this model is an autoencoder \(5 values per '
                                              r'12x12 image\): it does not upscale; call encode, '
                                              r'decode or reconstruct'),
    (lambda m: m.apply(np.zeros((1, 12, 12, 1))), 'it does not upscale; call encode'),
])
def test_wrong_sizes_and_calls_are_one_line_errors(trained_ae_workdir, call, message):
  with pytest.raises(UserError, match=message):
    call(flax_srae.load(trained_ae_workdir))


def test_a_checkpoint_of_the_former_uncompressing_autoencoder_is_refused(tmp_path):
  from flax_srae.training import checkpointing  # pylint: disable=g-import-not-at-top
  config = make_tiny_ae_config()
  model = models.create_model(config)
  params = model.init(jax.random.key(0), np.zeros((1, 12, 12, 1), np.float32))['params']
  with config.unlocked():
    del config['latent_dim']  # as the former model's configs were saved
  checkpointing.save_weights(str(tmp_path), 3, params, config)
  message = ('holds a checkpoint of the former uncompressing autoencoder, which this version no '
             r'longer has: train configs/ae28.py \(the compressing autoencoder\) in another '
             '--workdir')
  with pytest.raises(UserError, match=message):
    flax_srae.load(str(tmp_path))
  with pytest.raises(UserError, match=message):  # resuming it
    restore_state(tmp_path, make_tiny_ae_config())


def test_an_upscaler_has_no_code(trained_workdir):
  model = flax_srae.load(trained_workdir)
  for method in ('encode', 'decode', 'reconstruct'):
    with pytest.raises(UserError, match=r'x2 super-resolution model \(encoder_decoder_residual\): it has '
                                        r'no code; call upscale'):
      getattr(model, method)(np.zeros((8, 8)))


def test_predict_writes_reconstructions_and_codes(trained_ae_workdir, tmp_path):
  rng = np.random.default_rng(2)
  src = tmp_path / 'in'
  src.mkdir()
  images = rng.integers(0, 256, (3, 12, 12), np.uint8)
  for i, img in enumerate(images):
    Image.fromarray(img).save(src / f'{i}.png')
  written = predict.predict(trained_ae_workdir, str(src), str(tmp_path / 'out'),
                            codes=str(tmp_path / 'codes.npy'))
  assert len(written) == 4
  model = flax_srae.load(trained_ae_workdir)
  codes = np.load(tmp_path / 'codes.npy')
  np.testing.assert_allclose(codes, model.encode(images), atol=1e-6)
  for i, img in enumerate(images):
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / 'out' / f'{i}.png')),
                                  model.reconstruct(img))
  # An array in, an array and its codes out.
  np.save(tmp_path / 'batch.npy', images)
  predict.predict(trained_ae_workdir, str(tmp_path / 'batch.npy'),
                  str(tmp_path / 'batch_out.npy'), codes=str(tmp_path / 'batch_codes.npy'))
  np.testing.assert_array_equal(np.load(tmp_path / 'batch_out.npy'), model.reconstruct(images))
  assert np.load(tmp_path / 'batch_codes.npy').shape == (3, 5)
  # Nothing is overwritten.
  with pytest.raises(UserError, match='codes.npy exists: pass --overwrite to replace it'):
    predict.predict(trained_ae_workdir, str(src), str(tmp_path / 'out2'),
                    codes=str(tmp_path / 'codes.npy'))
  assert not (tmp_path / 'out2').exists()


def test_predict_refuses_wrong_sizes_and_options_before_writing(trained_ae_workdir,
                                                                trained_workdir, tmp_path,
                                                                monkeypatch):
  src = tmp_path / 'in'
  src.mkdir()
  Image.fromarray(np.zeros((12, 12), np.uint8)).save(src / 'a.png')
  Image.fromarray(np.zeros((16, 12), np.uint8)).save(src / 'b.png')
  with monkeypatch.context() as m, pytest.raises(
      UserError, match=r'b.png holds 12x16 images, and this autoencoder codes 12x12 images'):
    m.setattr(predict, '_read', lambda *_: pytest.fail('an image was decoded before the sizes '
                                                      'were checked from the headers'))
    predict.predict(trained_ae_workdir, str(src / 'b.png'), str(tmp_path / 'b.png'))
  with pytest.raises(UserError, match='this model is an autoencoder: drop --ensemble'):
    predict.predict(trained_ae_workdir, str(src / 'a.png'), str(tmp_path / 'a.png'),
                    ensemble=True)
  with pytest.raises(UserError, match="--codes writes an autoencoder's codes; this model "
                                      "upscales: drop --codes"):
    predict.predict(trained_workdir, str(src / 'a.png'), str(tmp_path / 'a.png'),
                    codes=str(tmp_path / 'c.npy'))
  with pytest.raises(UserError, match='name it \\*.npy'):
    predict.predict(trained_ae_workdir, str(src / 'a.png'), str(tmp_path / 'a.png'),
                    codes=str(tmp_path / 'c.txt'))
  assert sorted(os.listdir(tmp_path)) == ['in']


@pytest.mark.slow
def test_predict_cli_wrong_size_is_one_line(trained_ae_workdir, tmp_path):
  Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / 'big.png')
  proc = subprocess.run(
      [sys.executable, '-m', 'flax_srae.predict', f'--workdir={trained_ae_workdir}',
       f'--input={tmp_path}/big.png', f'--output={tmp_path}/out.png',
       f'--codes={tmp_path}/codes.npy'], cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines() == [
      f'error: {tmp_path}/big.png holds 20x20 images, and this autoencoder codes 12x12 images: '
      f'resize or crop them to 12x12']
  assert sorted(os.listdir(tmp_path)) == ['big.png']


def test_evaluate_reproduces_the_runs_figures(trained_ae_workdir, tmp_path, capsys):
  result = evaluate.evaluate(trained_ae_workdir, output_dir=str(tmp_path))
  with open(os.path.join(trained_ae_workdir, 'results.json')) as f:
    shipped = json.load(f)['coding']
  for name, m in shipped['methods'].items():
    for key, value in m.items():
      assert result['methods'][name][key] == pytest.approx(value, abs=1e-4), (name, key)
  assert result['coding']['compression_ratio'] == shipped['compression_ratio']
  assert 'codes of 5 values (28.8:1); PCA with 5 components fitted on train' in result['protocol']
  printed = capsys.readouterr().out
  assert 'PSNR(mean MSE)' in printed and 'area_bicubic' in printed
  assert sorted(os.listdir(tmp_path)) == ['eval_builtin_test.json', 'eval_builtin_test.png']
  with pytest.raises(UserError, match='--ensemble and --rgb apply to x2 upscalers; this model '
                                      'is an autoencoder: drop them'):
    evaluate.evaluate(trained_ae_workdir, output_dir=str(tmp_path), ensemble=True, rgb=True)
