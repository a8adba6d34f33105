import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.extend.core
import numpy as np
import png
import pytest
from PIL import Image

import flax_srae
from flax_srae import evaluate
from flax_srae.data import image_io
from flax_srae import predict
from flax_srae.errors import UserError
from flax_srae.training import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def upscaler(trained_workdir):
  return flax_srae.load(trained_workdir)


def _direct(upscaler, x_nhwc):
  """The model applied by hand, output clipped: what upscale must equal on even sizes."""
  return np.clip(np.asarray(upscaler.model.apply({'params': upscaler.params}, x_nhwc)), 0, 1)


def test_load_restores_config_and_step(upscaler):
  assert upscaler.step == 3 and upscaler.config.model == 'encoder_decoder_residual'
  assert upscaler.config.features == [4, 8, 8] or tuple(upscaler.config.features) == (4, 8, 8)


@pytest.mark.parametrize('shape,expected', [
    ((28, 28), (56, 56)), ((28, 28, 1), (56, 56, 1)), ((5, 28, 28), (5, 56, 56)),
    ((5, 28, 28, 1), (5, 56, 56, 1)), ((37, 51), (74, 102)), ((2, 9, 8, 1), (2, 18, 16, 1))])
@pytest.mark.parametrize('dtype', [np.uint8, np.uint16, np.float32, np.float64])
def test_upscale_layouts_and_dtypes(upscaler, shape, expected, dtype):
  rng = np.random.default_rng(0)
  if np.issubdtype(dtype, np.integer):
    images = rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
  else:
    images = rng.random(shape).astype(dtype)
  out = upscaler.upscale(images)
  assert out.shape == expected and out.dtype == dtype
  # Every layout and dtype gives the values of the same images passed as float32 NHWC.
  top = np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else 1.0
  nhwc = images[None] if images.ndim == 3 and shape[-1] <= 4 else images
  nhwc = nhwc[None, ..., None] if images.ndim == 2 else nhwc
  nhwc = nhwc[..., None] if nhwc.ndim == 3 else nhwc
  reference = upscaler.upscale((nhwc / top).astype(np.float32))
  np.testing.assert_allclose(out.reshape(reference.shape) / top, reference,
                             atol=0.51 / top if top > 1 else 1e-5)


def test_upscale_equals_the_model_on_even_sizes(upscaler):
  x = np.random.default_rng(1).random((3, 14, 14, 1), dtype=np.float32)
  np.testing.assert_allclose(upscaler.upscale(x), _direct(upscaler, x), atol=1e-6)
  u8 = np.round(x[0, ..., 0] * 255).astype(np.uint8)
  expected = np.round(_direct(upscaler, (u8 / 255.0).astype(np.float32)[None, ..., None])
                      * 255).astype(np.uint8)[0, ..., 0]
  np.testing.assert_array_equal(upscaler.upscale(u8), expected)


def test_odd_sizes_are_padded_and_cropped_back(upscaler):
  x = np.random.default_rng(2).random((1, 15, 13, 1), dtype=np.float32)
  out = upscaler.upscale(x)
  assert out.shape == (1, 30, 26, 1)
  # Away from the padded edge the result is that of the even-sized crop's neighbourhood.
  padded = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)), mode='reflect')
  np.testing.assert_allclose(out, _direct(upscaler, padded)[:, :30, :26], atol=1e-6)


def test_tiles_match_the_whole_image(upscaler):
  x = np.random.default_rng(3).random((1, 64, 50, 1), dtype=np.float32)
  whole = upscaler.upscale(x)
  tiled = upscaler.upscale(x, tile=40, overlap=12)
  np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_colour_through_a_grayscale_model(upscaler):
  rng = np.random.default_rng(4)
  grey = rng.random((14, 14), dtype=np.float32)
  rgb = np.repeat(grey[..., None], 3, -1)
  out = upscaler.upscale(rgb)
  assert out.shape == (28, 28, 3)
  # Grey RGB has no chroma: every channel is the model's output on the luma.
  for c in range(3):
    np.testing.assert_allclose(out[..., c], upscaler.upscale(grey), atol=1e-5)
  rgba = np.concatenate([rgb, np.full((14, 14, 1), 0.25, np.float32)], -1)
  out = upscaler.upscale(rgba)
  assert out.shape == (28, 28, 4)
  np.testing.assert_allclose(out[..., 3], 0.25, atol=1e-6)  # alpha kept (bicubic of a constant)


@pytest.mark.parametrize('images,message', [
    (np.zeros((2, 2, 2, 2, 2)), 'must be'), (np.zeros((0, 4)), 'must be'),
    (np.zeros((4, 4, 4, 6)), 'channels'), (np.zeros((4, 4), np.int32), 'uint8, uint16 or float')])
def test_bad_images_rejected(upscaler, images, message):
  with pytest.raises(UserError, match=message):
    upscaler.upscale(images)


def test_missing_or_incomplete_checkpoints_rejected(tmp_path, trained_workdir):
  with pytest.raises(UserError, match='does not exist'):
    flax_srae.load(str(tmp_path / 'nothing'))
  # An unfinished save (Orbax's temporary folder) is not a checkpoint.
  os.makedirs(tmp_path / 'checkpoints' / '7.orbax-checkpoint-tmp-1234')
  with pytest.raises(UserError, match='no complete checkpoint'):
    flax_srae.load(str(tmp_path))
  with pytest.raises(UserError, match='no checkpoint for step 99'):
    flax_srae.load(trained_workdir, step=99)


@pytest.mark.slow
def test_restore_on_one_cpu_of_a_checkpoint_saved_on_four_devices(tmp_path, tiny_config):
  """A state replicated over 4 (forced host) devices, saved, restores on this 1-device process."""
  script = textwrap.dedent(f'''
      import functools, jax, numpy as np, ml_collections
      from flax_srae.training import checkpointing
      from flax_srae import models
      from flax_srae.training import train
      assert jax.device_count() == 4
      config = ml_collections.ConfigDict({tiny_config.to_dict()!r})
      state = train.create_train_state(config, models.create_model(config), jax.random.key(5))
      mesh = jax.sharding.Mesh(np.array(jax.devices()), ('data',))
      state = jax.device_put(state, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
      mngr = checkpointing.manager({str(tmp_path)!r})
      checkpointing.save(mngr, 1, state, config)
      mngr.wait_until_finished()
      x = np.random.default_rng(0).random((2, 14, 14, 1), dtype=np.float32)
      np.save({str(tmp_path / 'expected.npy')!r},
              np.clip(np.asarray(state.apply_fn({{'params': state.params}}, x)), 0, 1))
  ''')
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4',
             PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, '-c', script], env=env, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert jax.device_count() == 1
  up = flax_srae.load(str(tmp_path))
  x = np.random.default_rng(0).random((2, 14, 14, 1), dtype=np.float32)
  np.testing.assert_allclose(up.upscale(x), np.load(tmp_path / 'expected.npy'), atol=1e-6)


def test_predict_npy_is_bit_identical_to_the_api(upscaler, trained_workdir, tmp_path):
  arr = np.random.default_rng(5).random((4, 28, 28), dtype=np.float32)
  np.save(tmp_path / 'in.npy', arr)
  predict.predict(trained_workdir, str(tmp_path / 'in.npy'), str(tmp_path / 'out.npy'))
  np.testing.assert_array_equal(np.load(tmp_path / 'out.npy'), upscaler.upscale(arr))


def test_predict_folder_of_pngs_keeps_names_modes_and_depth(trained_workdir, tmp_path):
  src, dst = tmp_path / 'in', tmp_path / 'out'
  src.mkdir()
  rng = np.random.default_rng(6)
  Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(src / 'digit.png')
  Image.fromarray(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)).save(src / 'photo.png')
  Image.fromarray(rng.integers(0, 256, (10, 12, 4), dtype=np.uint8)).save(src / 'icon.png')
  deep = rng.integers(0, 65536, (9, 10, 3), dtype=np.uint16)
  png.from_array(deep.reshape(9, -1).tolist(), 'RGB;16').save(str(src / 'deep.png'))
  predict.predict(trained_workdir, str(src), str(dst))
  shapes = {n: image_io.read_array(str(dst / n)) for n in os.listdir(dst)}
  assert sorted(shapes) == ['deep.png', 'digit.png', 'icon.png', 'photo.png']
  assert shapes['digit.png'].shape == (56, 56) and shapes['digit.png'].dtype == np.uint8
  assert shapes['photo.png'].shape == (20, 24, 3)
  assert shapes['icon.png'].shape == (20, 24, 4)
  assert shapes['deep.png'].shape == (18, 20, 3) and shapes['deep.png'].dtype == np.uint16


def test_predict_bad_inputs_write_nothing(trained_workdir, tmp_path):
  src = tmp_path / 'in'
  src.mkdir()
  with pytest.raises(UserError, match='no image files'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out'))
  Image.fromarray(np.zeros((8, 8), np.uint8)).save(src / 'a.png')
  (src / 'b.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
  with pytest.raises(UserError, match='2 of 2 inputs left out'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out'), max_pixels=10)
  assert not (tmp_path / 'out').exists()
  with pytest.raises(UserError, match='overwrite or sit inside the input'):
    predict.predict(trained_workdir, str(src / 'a.png'), str(src / 'a.png'))
  with pytest.raises(UserError, match='overwrite or sit inside the input'):
    predict.predict(trained_workdir, str(src), str(src / 'up'))
  with pytest.raises(UserError, match='does not exist'):
    predict.predict(trained_workdir, str(tmp_path / 'missing.png'), str(tmp_path / 'o.png'))
  with pytest.raises(UserError, match='.npy input needs a .npy output'):
    predict.predict(trained_workdir, str(src / 'a.png'), str(tmp_path / 'o.npy'))
  (tmp_path / 'bad.npy').write_bytes(b'not numpy')
  with pytest.raises(UserError, match='cannot read array'):
    predict.predict(trained_workdir, str(tmp_path / 'bad.npy'), str(tmp_path / 'o.npy'))


def test_evaluate_reproduces_results_and_compares_baselines(trained_workdir):
  result = evaluate.evaluate(trained_workdir)
  results = json.loads(open(os.path.join(trained_workdir, 'results.json')).read())
  assert result['methods']['model']['psnr'] == pytest.approx(results['eval']['psnr'], abs=0.01)
  assert result['methods']['bicubic']['psnr'] == pytest.approx(
      results['eval']['bicubic_psnr'], abs=0.01)
  assert result['methods']['model']['ssim'] == pytest.approx(results['eval']['ssim'], abs=1e-4)
  assert set(result['methods']) == {'model', 'nearest', 'bilinear', 'bicubic', 'lanczos'}
  assert os.path.exists(os.path.join(trained_workdir, 'eval_builtin_test.json'))
  assert os.path.exists(os.path.join(trained_workdir, 'eval_builtin_test.png'))
  sliced = evaluate.evaluate(trained_workdir, split='test[:2]')
  assert sliced['num_images'] == 20 and sliced['split'] == 'test[:2]'


def test_evaluate_protocol_errors(trained_workdir):
  with pytest.raises(UserError, match='grayscale: drop --y_channel'):
    evaluate.evaluate(trained_workdir, y_channel=True)
  with pytest.raises(UserError, match='--rgb .*grayscale: drop --rgb'):
    evaluate.evaluate(trained_workdir, rgb=True)
  with pytest.raises(UserError, match='SSIM'):
    evaluate.evaluate(trained_workdir, shave=1)


@pytest.mark.slow
def test_cli_errors_are_one_line(tmp_path):
  for module, flags in (('predict', [f'--input={tmp_path}', f'--output={tmp_path}/o']),
                        ('evaluate', [])):
    proc = subprocess.run([sys.executable, '-m', f'flax_srae.{module}',
                           f'--workdir={tmp_path}/none', *flags], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith('error: ')


def test_more_bad_inputs(upscaler, trained_workdir, tmp_path):
  with pytest.raises(UserError, match='must be in \\[0, 1\\]'):
    upscaler.upscale(np.full((8, 8), 200.0, np.float32))
  with pytest.raises(UserError, match='must be even'):
    upscaler.upscale(np.zeros((8, 8), np.float32), tile=40, overlap=7)
  # RGBA cannot become a JPEG: refused before anything is written.
  src = tmp_path / 'in'
  src.mkdir()
  Image.fromarray(np.zeros((8, 8, 4), np.uint8)).save(src / 'icon.png')
  with pytest.raises(UserError, match='JPEG cannot hold an alpha'):
    predict.predict(trained_workdir, str(src / 'icon.png'), str(tmp_path / 'icon.jpg'))
  assert not (tmp_path / 'icon.jpg').exists()
  with pytest.raises(UserError, match='cannot write into'):
    predict.predict(trained_workdir, str(src / 'icon.png'), str(tmp_path / 'no' / 'x.png'))
  with pytest.raises(UserError, match='no complete checkpoint'):
    predict.predict(str(src), str(src / 'icon.png'), str(tmp_path / 'o.png'))


def test_damaged_checkpoint_is_a_clear_error(trained_workdir, tmp_path):
  import shutil
  work = tmp_path / 'copy'
  shutil.copytree(trained_workdir, work)
  step_dir = work / 'checkpoints' / '3'
  shutil.rmtree(step_dir / 'state')
  with pytest.raises(UserError, match='checkpoint 3 .* incomplete or damaged'):
    flax_srae.load(str(work))



def test_a_checkpoint_saved_before_the_added_config_fields_loads_evaluates_and_resumes(
    trained_workdir, tmp_path):
  """A workdir trained before protocol, dtype, ema, expansion, latent_dim and noise_std were
  config fields: its saved config lacks them, and the values they default to are what it ran
  with."""
  import shutil  # pylint: disable=import-outside-toplevel
  from conftest import make_tiny_config, restore_state  # pylint: disable=import-outside-toplevel
  work = tmp_path / 'old'
  shutil.copytree(trained_workdir, work)
  metadata = work / 'checkpoints' / '3' / 'config' / 'metadata'
  saved = json.loads(metadata.read_text())
  for field in ('protocol', 'dtype', 'ema', 'expansion', 'latent_dim', 'noise_std'):
    del saved[field]
  metadata.write_text(json.dumps(saved))
  old, new = flax_srae.load(str(work)), flax_srae.load(trained_workdir)
  x = np.random.default_rng(0).random((9, 8), np.float32)
  np.testing.assert_array_equal(old.upscale(x), new.upscale(x))
  assert evaluate.evaluate(str(work))['methods']['model']['psnr'] == pytest.approx(
      evaluate.evaluate(trained_workdir)['methods']['model']['psnr'], abs=1e-6)
  assert restore_state(work, make_tiny_config()) is not None

@pytest.mark.slow
def test_evaluate_shave_and_y_channel_on_an_rgb_model(trained_rgb_workdir):
  plain = evaluate.evaluate(trained_rgb_workdir)
  assert '16x16, RGB, shave 0' in plain['protocol']
  y = evaluate.evaluate(trained_rgb_workdir, shave=0, y_channel=True)
  assert '16x16, Y (BT.601)' in y['protocol']
  assert y['methods']['bicubic']['psnr'] != plain['methods']['bicubic']['psnr']
  shaved = evaluate.evaluate(trained_rgb_workdir, shave=2)
  assert '16x16, RGB, shave 2' in shaved['protocol']
  assert shaved['methods']['model']['psnr'] != plain['methods']['model']['psnr']


def test_evaluate_errors_and_distinct_file_names(trained_workdir):
  with pytest.raises(UserError, match='is empty'):
    evaluate.evaluate(trained_workdir, split='test[99:]')
  assert evaluate._file_part('test[:8000]') != evaluate._file_part('test[8000:]')
  assert evaluate._file_part('train[:90%]') == 'train_start-90pct'
  assert evaluate._file_part('emnist/balanced') == 'emnist_balanced'


def test_export_ships_only_the_weights_and_loads_the_same(upscaler, trained_workdir, tmp_path):
  from flax_srae import export
  out = str(tmp_path / 'shipped')
  export.export(trained_workdir, out)
  shipped = flax_srae.load(out)
  assert shipped.step == upscaler.step and shipped.config.to_dict() == upscaler.config.to_dict()
  x = np.random.default_rng(0).random((2, 10, 12)).astype(np.float32)
  np.testing.assert_array_equal(shipped.upscale(x), upscaler.upscale(x))
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
  assert os.path.exists(os.path.join(out, 'results.json'))
  with pytest.raises(UserError, match='exists: remove it or choose another --output'):
    export.export(trained_workdir, out)
  # The shipped config names where users find the data, not the training machine's folder.
  export.export(trained_workdir, str(tmp_path / 'moved'), data_dir='../shared/data/x')
  assert flax_srae.load(str(tmp_path / 'moved')).config.data_dir == '../shared/data/x'
  # No optimizer state: smaller than the training checkpoint it came from.
  step_dir = os.path.join(trained_workdir, 'checkpoints', str(upscaler.step))
  assert size < sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(step_dir)
                    for f in fs)


def test_unknown_pretrained_model_names_the_shipped_ones():
  with pytest.raises(UserError, match="no pretrained model 'nope': choose one of pretrained:"):
    flax_srae.load('pretrained:nope')


@pytest.mark.slow
def test_predict_takes_a_model_flag(trained_workdir, tmp_path):
  Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / 'in.png')
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.predict', f'--model={trained_workdir}',
                         f'--input={tmp_path}/in.png', f'--output={tmp_path}/out.png'], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert Image.open(tmp_path / 'out.png').size == (24, 20)
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.predict', f'--model={trained_workdir}',
                         f'--workdir={trained_workdir}', f'--input={tmp_path}/in.png',
                         f'--output={tmp_path}/o.png'], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode != 0 and 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_tiles_of_a_deep_edsr_match_the_whole_image(tmp_path):
  import ml_collections
  from flax_srae import models
  config = ml_collections.ConfigDict(dict(model='edsr', channels=1, width=4, num_blocks=12,
                                          hr_size=28))
  model = models.create_model(config)
  # 3 x 4 tiles of 80 pixels, 28-pixel cores: the middle tiles have neighbours on every side,
  # and the tiles come in 4 shapes (each shape compiles the 12 blocks again).
  x = np.random.default_rng(0).random((1, 84, 112, 1)).astype(np.float32)
  # init's weights plus noise, the zero tail included, so the blocks' reach (26 input pixels)
  # shows at the tile borders; drawn by numpy from the parameters' shapes, since init runs op
  # by op and compiles each of its random draws on its own.
  rng, tail = np.random.default_rng(1), f'Conv_{2 * config.num_blocks + 1}'
  def draw(layer, name, shape):
    init = 1 / np.prod(shape[:-1]) if name == 'kernel' and layer != tail else 0  # lecun normal
    return (np.sqrt(init + 0.1 ** 2) * rng.standard_normal(shape)).astype(np.float32)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)['params']
  params = {layer: {name: draw(layer, name, s.shape) for name, s in p.items()}
            for layer, p in shapes.items()}
  up = flax_srae.Upscaler(config, params, 0)
  assert up.overlap == 26
  whole = up.upscale(x[0])
  tiles = []
  # Float rounding, which these random 12 blocks amplify to ~2e-5; a short overlap shows.
  np.testing.assert_allclose(up.upscale(x[0], tile=80, progress=lambda _, n: tiles.append(n)),
                             whole, atol=5e-5)
  assert tiles == [12] * 12
  assert np.abs(up.upscale(x[0], tile=80, overlap=16) - whole).max() > 1e-3


def test_evaluate_writes_into_a_new_output_dir(trained_workdir, tmp_path):
  evaluate.evaluate(trained_workdir, output_dir=str(tmp_path / 'new'))
  assert sorted(os.listdir(tmp_path / 'new')) == ['eval_builtin_test.json', 'eval_builtin_test.png']


def _eight_turns(x):
  """The 8 rotations and flips of an NHWC batch, by numpy's own rot90 and flip, with the
  function that turns an output of each back."""
  for k in range(4):
    for flip in (False, True):
      turned = np.rot90(x, k, axes=(1, 2))
      yield (turned[:, :, ::-1] if flip else turned,
             lambda y, k=k, flip=flip: np.rot90(y[:, :, ::-1] if flip else y, -k, axes=(1, 2)))


def test_self_ensemble_is_the_mean_over_the_eight_rotations_and_flips(upscaler):
  x = np.random.default_rng(6).random((2, 9, 12, 1), dtype=np.float32)  # odd, not square
  tiles = {'tile': 8, 'overlap': 2}  # so that progress is reported, and counted over the 8
  expected = np.mean([back(upscaler.upscale(turned, **tiles))
                      for turned, back in _eight_turns(x)], 0)
  assert not np.allclose(expected, upscaler.upscale(x, **tiles), atol=1e-3)  # not symmetric
  done = []
  out = upscaler.upscale(x, ensemble=True, progress=lambda d, t: done.append((d, t)), **tiles)
  np.testing.assert_allclose(out, expected, atol=1e-5)
  assert done == [(d, done[-1][1]) for d in range(1, done[-1][1] + 1)] and done[-1][1] % 8 == 0
  # Inside jit too, and on an upscaler that needs no turning: nothing changes.
  np.testing.assert_allclose(jax.jit(lambda z: flax_srae.inference.self_ensemble(
      lambda a: 2 * a, z))(x), 2 * x, atol=1e-6)


@pytest.mark.slow
def test_predict_and_evaluate_take_the_self_ensemble(upscaler, trained_workdir, tmp_path):
  arr = np.random.default_rng(7).random((2, 10, 14), dtype=np.float32)
  np.save(tmp_path / 'in.npy', arr)
  predict.predict(trained_workdir, str(tmp_path / 'in.npy'), str(tmp_path / 'out.npy'),
                  ensemble=True)
  np.testing.assert_array_equal(np.load(tmp_path / 'out.npy'),
                                upscaler.upscale(arr, ensemble=True))
  plain = evaluate.evaluate(trained_workdir, split='test[:2]', output_dir=str(tmp_path))
  both = evaluate.evaluate(trained_workdir, split='test[:2]', output_dir=str(tmp_path),
                           ensemble=True)
  assert 'self-ensemble' in both['protocol'] and 'self-ensemble' not in plain['protocol']
  assert both['methods']['model']['psnr'] != plain['methods']['model']['psnr']
  assert both['methods']['bicubic'] == plain['methods']['bicubic']
  assert sorted(f for f in os.listdir(tmp_path) if f.endswith('.json')) == [
      'eval_builtin_test_start-2.json', 'eval_builtin_test_start-2_ensemble.json']


@pytest.mark.slow
def test_a_checkpoint_saved_under_a_former_model_name_loads_and_resumes(tiny_config, tmp_path):
  # Checkpoints written when encoder_decoder_residual was called seed_residual.
  tiny_config.update(model='seed_residual', num_train_steps=2, checkpoint_every_steps=2)
  train.train_and_evaluate(tiny_config, str(tmp_path))
  upscaler = flax_srae.load(str(tmp_path))
  assert upscaler.upscale(np.zeros((6, 6), np.uint8)).shape == (12, 12)
  tiny_config.update(model='encoder_decoder_residual', num_train_steps=3)
  assert train.train_and_evaluate(tiny_config, str(tmp_path))['step'] == 3
