"""The models shipped inside the package: offline, small, and measured as their cards say."""
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
import skimage.data
from PIL import Image

import flax_srae
from flax_srae import evaluate
from flax_srae.training import evaluation
from flax_srae.data import image_ops
from flax_srae import inference
from flax_srae.data import input_pipeline
from flax_srae.training import metrics
from conftest import MNIST_DIR, SUN80_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = {'photo': SUN80_DIR, 'photo_rgb': SUN80_DIR, 'mnist': MNIST_DIR, 'mnist_ae': MNIST_DIR}
UPSCALERS = ('mnist', 'photo', 'photo_rgb')


def _folder(name):
  return inference.resolve(f'pretrained:{name}')


def test_the_models_ship_small_with_their_config_and_figures():
  assert inference.pretrained_names() == ['mnist', 'mnist_ae', 'photo', 'photo_rgb']
  for name in DATA:
    folder = _folder(name)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)
    assert size < 1e6, (name, size)
    with open(os.path.join(folder, 'results.json')) as f:
      assert json.load(f)['eval']['psnr'] > 0


@pytest.mark.parametrize('name', ['photo', 'photo_rgb'])
def test_the_photo_models_keep_to_150000_parameters_as_their_results_say(name):
  params = flax_srae.load(f'pretrained:{name}').params
  count = sum(x.size for x in jax.tree_util.tree_leaves(params))
  with open(os.path.join(_folder(name), 'results.json')) as f:
    assert json.load(f)['parameters'] == count
  assert count <= 150_000


@pytest.mark.slow
def test_the_package_build_carries_the_shipped_models_and_the_page(tmp_path):
  # build_py is the step that puts package data into wheels and installs, configured by
  # pyproject.toml; run on a clean copy, since a checkout's stale *.egg-info could supply the
  # file list instead. Nothing is downloaded.
  src = tmp_path / 'src'
  shutil.copytree(os.path.join(ROOT, 'flax_srae'), src / 'flax_srae',
                  ignore=shutil.ignore_patterns('__pycache__'))
  for f in ('pyproject.toml', 'README.md'):
    shutil.copy(os.path.join(ROOT, f), src / f)
  proc = subprocess.run([sys.executable, '-c', 'import setuptools; setuptools.setup()', '-q',
                         'build_py', '--build-lib', str(tmp_path / 'lib')], cwd=src,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  for name in DATA:
    folder = _folder(name)
    shipped = {os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder)
               for f in fs}
    built = os.path.join(tmp_path, 'lib', 'flax_srae', 'pretrained', name)
    assert shipped and all(os.path.isfile(os.path.join(built, p)) for p in shipped)
  assert os.path.isfile(os.path.join(tmp_path, 'lib', 'flax_srae', 'web', 'index.html'))


def _y_psnr(a, b):
  return metrics.whole_image(a, b, shave=2)[0]


def test_pretrained_photo_beats_bicubic_on_a_photo_it_never_saw():
  model = flax_srae.load('pretrained:photo')
  assert model.config.protocol == 'literature' and model.config.channels == 1
  [(low_res, hr)] = input_pipeline.bicubic_pairs([skimage.data.astronaut()[:192, 128:320]], 1)
  sr = model.apply(low_res[None])[0]
  bicubic = np.asarray(evaluation.baseline(low_res[None]))[0]
  assert _y_psnr(sr, hr) > _y_psnr(bicubic, hr) + 0.5
  # Colour in, colour out: the luma goes through the model, the chroma bicubically.
  rgb = skimage.data.astronaut()[:96:2, 128:320:2]
  out = model.upscale(rgb)
  assert out.shape == (96, 192, 3) and out.dtype == np.uint8


def test_pretrained_mnist_beats_bicubic_on_digits_it_never_saw():
  model = flax_srae.load('pretrained:mnist')
  config = model.config.copy_and_resolve_references()
  config.data_dir = MNIST_DIR
  if not os.path.isdir(MNIST_DIR):
    pytest.skip('needs ../shared/data/mnist')
  hr = np.stack(input_pipeline.load_split(config, 'test[9990:]'))
  low_res = np.asarray(image_ops.degrade(hr, config.degradation))
  sr = model.upscale(low_res)
  bicubic = evaluation.baseline(low_res)
  assert float(np.mean(metrics.psnr(sr, hr))) > float(np.mean(metrics.psnr(bicubic, hr))) + 5


@pytest.mark.slow
@pytest.mark.parametrize('name', UPSCALERS)
def test_evaluate_reproduces_the_shipped_figures(name, tmp_path):
  if not os.path.isdir(DATA[name]):
    pytest.skip(f'needs {DATA[name]}')
  result = evaluate.evaluate(f'pretrained:{name}', data_dir=DATA[name], output_dir=str(tmp_path))
  with open(os.path.join(_folder(name), 'results.json')) as f:
    shipped = json.load(f)['eval']
  assert abs(result['methods']['model']['psnr'] - shipped['psnr']) < 0.01
  assert abs(result['methods']['bicubic']['psnr'] - shipped['bicubic_psnr']) < 0.01
  assert abs(result['methods']['model']['ssim'] - shipped['ssim']) < 1e-4
  assert os.listdir(tmp_path)  # written here, not inside the package


@pytest.mark.slow
@pytest.mark.parametrize('name, option, shipped_file', [
    ('photo_rgb', 'rgb', 'eval_rgb.json'), ('mnist', 'ensemble', 'eval_ensemble.json')])
def test_evaluate_reproduces_the_figures_shipped_beside_results(name, option, shipped_file,
                                                                 tmp_path):
  """The cards' figures that results.json does not hold: photo_rgb's on RGB (`--rgb`) and
  mnist's with the self-ensemble (`--ensemble`), as evaluate wrote them when the model shipped."""
  if not os.path.isdir(DATA[name]):
    pytest.skip(f'needs {DATA[name]}')
  result = evaluate.evaluate(f'pretrained:{name}', data_dir=DATA[name], output_dir=str(tmp_path),
                             **{option: True})
  with open(os.path.join(_folder(name), shipped_file)) as f:
    shipped = json.load(f)
  assert result['protocol'] == shipped['protocol']
  assert {'rgb': 'RGB of 8-bit-rounded output', 'ensemble': 'self-ensemble'}[option] in (
      result['protocol'])
  assert result['workdir'] == shipped['workdir'] == f'pretrained:{name}'
  for method in ('model', 'bicubic'):
    for key, tolerance in (('psnr', 0.01), ('ssim', 1e-4)):
      assert abs(result['methods'][method][key] - shipped['methods'][method][key]) < tolerance
  if name == 'mnist':
    assert result['methods']['model']['psnr'] >= 31.0  # issue 18's target for MNIST


def test_pretrained_mnist_ae_codes_digits_it_never_saw_better_than_pca():
  model = flax_srae.load('pretrained:mnist_ae')
  assert isinstance(model, inference.Coder) and model.latent_dim == 32
  config = model.config.copy_and_resolve_references()
  config.data_dir = MNIST_DIR
  if not os.path.isdir(MNIST_DIR):
    pytest.skip('needs ../shared/data/mnist')
  train = np.stack(input_pipeline.load_split(config, config.train_split))
  digits = (np.stack(input_pipeline.load_split(config, 'test[9900:]')) * 255).round()
  digits = digits.astype(np.uint8)[..., 0]  # (N, 28, 28) uint8, as a user's files would be
  out, codes = model.reconstruct(digits, with_codes=True)
  assert out.shape == digits.shape and out.dtype == np.uint8
  assert codes.shape == (100, 32) and codes.dtype == np.float32
  x = digits[..., None] / 255.0
  pca_out = np.asarray(evaluation.fit_pca(train, config).reconstruct(x))
  ours = np.mean(metrics.psnr(out[..., None] / 255.0, x))
  assert ours > float(np.mean(metrics.psnr(pca_out, x))) + 5


@pytest.mark.slow
def test_evaluate_reproduces_the_shipped_autoencoder_figures(tmp_path):
  if not os.path.isdir(MNIST_DIR):
    pytest.skip(f'needs {MNIST_DIR}')
  result = evaluate.evaluate('pretrained:mnist_ae', data_dir=MNIST_DIR, output_dir=str(tmp_path))
  with open(os.path.join(_folder('mnist_ae'), 'results.json')) as f:
    shipped = json.load(f)['coding']
  assert result['coding']['compression_ratio'] == shipped['compression_ratio'] == 24.5
  for method in ('model', 'pca', 'area_bicubic'):
    for key, tolerance in (('psnr', 0.01), ('psnr_of_mean_mse', 0.01), ('ssim', 1e-4),
                           ('squared_error_per_image', 0.01)):
      assert abs(result['methods'][method][key] - shipped['methods'][method][key]) < tolerance


def test_the_autoencoder_card_gives_the_shipped_figures():
  with open(os.path.join(_folder('mnist_ae'), 'results.json')) as f:
    coding = json.load(f)['coding']
  with open(os.path.join(ROOT, 'docs', 'pretrained.md')) as f:
    card = f.read()
  cells = lambda m, bold='': ' | '.join(
      f'{bold}{v}{bold}' for v in (f'{m["psnr"]:.2f}', f'{m["psnr_of_mean_mse"]:.2f}',
                                   f'{m["ssim"]:.4f}', f'{m["squared_error_per_image"]:.2f}'))
  m, side = coding['methods'], coding['area_code']['side']
  assert (f'| area {side}x{side} + bicubic | {coding["area_code"]["values"]} | '
          f'{cells(m["area_bicubic"])} |') in card
  assert f'| PCA, 32 components | 32 | {cells(m["pca"])} |' in card
  assert f'| **pretrained:mnist_ae** | **32** | {cells(m["model"], "**")} |' in card
  assert f'{m["model"]["psnr"] - m["pca"]["psnr"]:+.2f} dB over PCA' in card


@pytest.mark.slow
def test_predict_with_the_pretrained_photo_model(tmp_path):
  Image.fromarray(skimage.data.astronaut()[:40, :50]).save(tmp_path / 'in.png')
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.predict', '--model=pretrained:photo',
                         f'--input={tmp_path}/in.png', f'--output={tmp_path}/out.png'], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  out = Image.open(tmp_path / 'out.png')
  assert out.size == (100, 80) and out.mode == 'RGB'
  # Its result, and no library chatter.
  printed = (proc.stdout + proc.stderr).strip().splitlines()
  assert len(printed) <= 3 and printed[-1].startswith(f'wrote {tmp_path}/out.png'), printed
