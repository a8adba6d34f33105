"""ONNX and StableHLO exports compute what `Upscaler.upscale` computes, and an autoencoder's
what `Coder.encode` and `Coder.decode` compute."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import flax_srae
from flax_srae import export
from flax_srae.data import image_io
from flax_srae.data import image_ops
from flax_srae import inference
from flax_srae.data import input_pipeline
from flax_srae import models
from flax_srae.errors import UserError
from conftest import MNIST_DIR, SUN80_DIR

onnxruntime = pytest.importorskip('onnxruntime', reason="the onnx extra: pip install -e '.[onnx]'")

# Float rounding: the same function computed by another runtime (an 8-bit step is 0.0039).
TOLERANCE = 1e-5


def _random_upscaler(model: str, channels: int) -> inference.Upscaler:
  """A small model of each architecture with every weight random (zero-initialised last
  layers would hide a wrong layer order); a grayscale one of the literature's protocol, so
  that its studio-range luma is part of what is compared."""
  from configs import default
  config = default.get_config()
  config.update(model=model, channels=channels, features=(4, 8, 8), width=8, num_blocks=2,
                protocol='literature' if channels == 1 else 'patches')
  # Shapes alone, every weight being drawn anew: tracing beats running init's ops one by one.
  params = jax.eval_shape(models.create_model(config).init, jax.random.key(0),
                          jnp.zeros((1, 8, 8, channels)))
  leaves, tree = jax.tree_util.tree_flatten(params['params'])
  keys = jax.random.split(jax.random.key(1), len(leaves))
  params = tree.unflatten([0.2 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
  return inference.Upscaler(config, params, step=0)


def _onnx_session(upscaler):
  data = export._onnx(upscaler)  # pylint: disable=protected-access
  return onnxruntime.InferenceSession(data, providers=['CPUExecutionProvider'])


def _run(session, x):
  return session.run(None, {'images': np.asarray(x, np.float32)})[0]


UPSCALERS = [m for m in models.MODELS if m != 'autoencoder']


def test_onnx_export_of_a_model_without_a_graph_is_refused_and_names_stablehlo():
  with pytest.raises(UserError, match='^no ONNX graph is written for model safmn: export it '
                                      'with --format=stablehlo$'):
    export._onnx(_random_upscaler('safmn', 1))  # pylint: disable=protected-access


@pytest.mark.slow
@pytest.mark.parametrize('model', [m for m in UPSCALERS if models.REGISTRY[m].onnx])
@pytest.mark.parametrize('channels', [1, 3])
def test_the_onnx_graph_of_every_architecture_equals_upscale(model, channels):
  upscaler = _random_upscaler(model, channels)
  session = _onnx_session(upscaler)
  rng = np.random.default_rng(0)
  # Even; a 1-pixel side (edge padding) and an odd width; an odd height (reflect padding).
  for shape in [(2, 10, 12), (1, 1, 5), (1, 3, 4)]:
    x = rng.random(shape + (channels,), np.float32)
    y = _run(session, x)
    expected = upscaler.upscale(x)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, atol=TOLERANCE, rtol=0)


def test_a_bfloat16_model_exports_its_float32_function_and_says_so(capsys):
  upscaler = _random_upscaler('edsr', 1)
  upscaler.config.dtype = 'bfloat16'
  session = _onnx_session(inference.Upscaler(upscaler.config, upscaler.params, step=0))
  assert 'the ONNX graph in float32: they differ by up to' in capsys.readouterr().out
  x = np.random.default_rng(0).random((1, 9, 7, 1), np.float32)
  upscaler.config.dtype = 'float32'
  expected = inference.Upscaler(upscaler.config, upscaler.params, step=0).upscale(x)
  np.testing.assert_allclose(_run(session, x), expected, atol=TOLERANCE, rtol=0)


def _sun80_eval_luma(count: int):
  """Luma of real photos the shipped model never saw (sun80 files [70, 80)), float in [0, 1]."""
  if not os.path.isdir(SUN80_DIR):
    pytest.skip('needs ../shared/data/sun80')
  names = sorted(f for f in os.listdir(SUN80_DIR) if f.lower().endswith(image_io.IMAGE_SUFFIXES))
  return [np.asarray(image_ops.luma(image_ops.to_float(image_io.read_array(
      os.path.join(SUN80_DIR, name))))) for name in names[70:70 + count]]


@pytest.mark.slow
def test_pretrained_photo_in_onnx_equals_upscale_on_real_photos(tmp_path):
  upscaler = flax_srae.load('pretrained:photo')
  out = str(tmp_path / 'photo.onnx')
  export.export('pretrained:photo', out, format='onnx')
  session = onnxruntime.InferenceSession(out, providers=['CPUExecutionProvider'])
  first, second = _sun80_eval_luma(2)
  # A whole photo (upscale tiles it; the graph takes it whole), an odd-sized crop, a batch.
  for x in [first[None], second[None, :121, :203], np.stack([first[:64, :96], second[:64, :96]])]:
    y = _run(session, x)
    assert y.shape == (x.shape[0], 2 * x.shape[1], 2 * x.shape[2], 1)
    np.testing.assert_allclose(y, upscaler.upscale(x), atol=TOLERANCE, rtol=0)


def test_pretrained_mnist_in_onnx_equals_upscale_on_real_digits(tmp_path):
  if not os.path.isdir(MNIST_DIR):
    pytest.skip('needs ../shared/data/mnist')
  upscaler = flax_srae.load('pretrained:mnist')
  out = str(tmp_path / 'mnist.onnx')
  export.export('pretrained:mnist', out, format='onnx')
  session = onnxruntime.InferenceSession(out, providers=['CPUExecutionProvider'])
  config = upscaler.config.copy_and_resolve_references()
  config.data_dir = MNIST_DIR
  hr = np.stack(input_pipeline.load_split(config, 'test[8000:8064]'))
  low_res = np.asarray(image_ops.degrade(hr, config.degradation))
  for x in [low_res, hr[:5]]:  # 14x14 digits, as trained; 28x28 ones, a size it never saw
    np.testing.assert_allclose(_run(session, x), upscaler.upscale(x), atol=TOLERANCE, rtol=0)


def test_the_stablehlo_export_of_pretrained_photo_equals_upscale_and_refuses_odd_sizes(
    tmp_path):
  upscaler = flax_srae.load('pretrained:photo')
  out = str(tmp_path / 'photo.stablehlo')
  export.export('pretrained:photo', out, format='stablehlo')
  with open(out, 'rb') as f:
    exported = jax.export.deserialize(f.read())
  assert set(exported.platforms) == {'cpu', 'cuda', 'tpu'}
  rng = np.random.default_rng(0)
  for shape in [(1, 16, 24, 1), (3, 40, 10, 1)]:
    x = rng.random(shape, np.float32)
    np.testing.assert_allclose(np.asarray(exported.call(x)), upscaler.upscale(x),
                               atol=TOLERANCE, rtol=0)
  with pytest.raises(ValueError, match='remainder'):
    exported.call(np.zeros((1, 15, 16, 1), np.float32))


@pytest.mark.slow
@pytest.mark.parametrize('model', UPSCALERS)
def test_the_stablehlo_export_of_every_architecture_equals_upscale(model):
  upscaler = _random_upscaler(model, 3 if model == 'espcn' else 1)
  exported = jax.export.deserialize(export._stablehlo(upscaler))  # pylint: disable=protected-access
  x = np.random.default_rng(0).random((2, 10, 6, upscaler.config.channels), np.float32)
  np.testing.assert_allclose(np.asarray(exported.call(x)), upscaler.upscale(x), atol=TOLERANCE,
                             rtol=0)


def _random_coder(channels: int) -> inference.Coder:
  """A small autoencoder with every weight random."""
  from configs import default
  config = default.get_config()
  config.update(model='autoencoder', channels=channels, features=(4, 8, 3), latent_dim=6,
                hr_size=16)
  params = models.create_model(config).init(jax.random.key(0), jnp.zeros((1, 16, 16, channels)))
  leaves, tree = jax.tree_util.tree_flatten(params['params'])
  keys = jax.random.split(jax.random.key(1), len(leaves))
  params = tree.unflatten([0.3 * jax.random.normal(k, x.shape) for k, x in zip(keys, leaves)])
  return inference.Coder(config, params, step=0)


@pytest.mark.slow
@pytest.mark.parametrize('channels', [1, 3])
def test_an_autoencoder_exports_as_an_encoder_and_a_decoder(channels, tmp_path, monkeypatch):
  coder = _random_coder(channels)
  monkeypatch.setattr(inference, 'load', lambda workdir, step: coder)
  rng = np.random.default_rng(3)
  x = rng.random((5, 16, 16, channels), np.float32)
  x[0, 0, 0] = 1.5  # the graphs clip their input, as `encode`'s checks keep it in [0, 1]
  codes = coder.encode(np.clip(x, 0, 1))
  assert float(np.abs(codes).max()) > 0.1
  export.export('ae', str(tmp_path / 'onnx'), format='onnx')
  assert sorted(os.listdir(tmp_path / 'onnx')) == ['decoder.onnx', 'encoder.onnx']
  sessions = {name: onnxruntime.InferenceSession(str(tmp_path / 'onnx' / f'{name}.onnx'),
                                                 providers=['CPUExecutionProvider'])
              for name in ('encoder', 'decoder')}
  onnx_codes = sessions['encoder'].run(None, {'images': x})[0]
  np.testing.assert_allclose(onnx_codes, codes, atol=1e-5 * float(np.abs(codes).max()), rtol=0)
  np.testing.assert_allclose(sessions['decoder'].run(None, {'codes': codes})[0],
                             coder.decode(codes), atol=TOLERANCE, rtol=0)

  export.export('ae', str(tmp_path / 'hlo'), format='stablehlo')
  programs = {}
  for name in ('encoder', 'decoder'):
    with open(tmp_path / 'hlo' / f'{name}.stablehlo', 'rb') as f:
      programs[name] = jax.export.deserialize(f.read())
  np.testing.assert_allclose(np.asarray(programs['encoder'].call(x)), codes,
                             atol=1e-5 * float(np.abs(codes).max()), rtol=0)
  np.testing.assert_allclose(np.asarray(programs['decoder'].call(codes[:2])),
                             coder.decode(codes[:2]), atol=TOLERANCE, rtol=0)
  # Nothing is overwritten; a failed export leaves no folder.
  with pytest.raises(UserError, match='onnx exists: remove it or choose another --output'):
    export.export('ae', str(tmp_path / 'onnx'), format='onnx')
  monkeypatch.setattr(export, '_write_new', lambda *a: (_ for _ in ()).throw(OSError('full')))
  with pytest.raises(OSError):
    export.export('ae', str(tmp_path / 'half'), format='onnx')
  assert sorted(os.listdir(tmp_path)) == ['hlo', 'onnx']


def test_export_formats_refuse_bad_requests_and_overwrite_nothing(tmp_path):
  out = tmp_path / 'model.onnx'
  out.write_bytes(b'mine')
  with pytest.raises(UserError, match='exists'):
    export.export('pretrained:mnist', str(out), format='onnx')
  assert out.read_bytes() == b'mine'
  with pytest.raises(UserError, match='does not exist: create it'):
    export.export('pretrained:mnist', str(tmp_path / 'no' / 'm.onnx'), format='onnx')
  with pytest.raises(UserError, match='orbax exports only'):
    export.export('pretrained:mnist', str(tmp_path / 'm.onnx'), data_dir='x', format='onnx')
  with pytest.raises(UserError, match='unknown format'):
    export.export('pretrained:mnist', str(tmp_path / 'm.tflite'), format='tflite')
  # A file made at --output while the export ran (after the first check) is kept.
  with pytest.raises(UserError, match='exists'):
    export._write_new(str(out), b'theirs')  # pylint: disable=protected-access
  assert out.read_bytes() == b'mine'
  # A write the OS refuses is one line; one that fails midway leaves no file.
  with pytest.raises(UserError, match='cannot write /dev/null/m.onnx: Not a directory'):
    export._write_new('/dev/null/m.onnx', b'x')  # pylint: disable=protected-access
  with pytest.raises(TypeError):
    export._write_new(str(tmp_path / 'half.onnx'), 'not bytes')  # pylint: disable=protected-access
  assert sorted(os.listdir(tmp_path)) == ['model.onnx']


def test_onnx_export_without_the_extra_names_the_install_command(tmp_path, monkeypatch):
  monkeypatch.setitem(sys.modules, 'onnxruntime', None)  # what `import` meets when absent
  with pytest.raises(UserError, match=r"pip install -e '\.\[onnx\]'"):
    export.export('pretrained:mnist', str(tmp_path / 'm.onnx'), format='onnx')
  assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_export_cli_writes_onnx_and_refuses_in_one_line(tmp_path):
  out = str(tmp_path / 'mnist.onnx')
  command = [sys.executable, '-m', 'flax_srae.export', '--workdir=pretrained:mnist',
             '--format=onnx', f'--output={out}']
  done = subprocess.run(command, capture_output=True, text=True, check=True)
  assert done.stdout.startswith(f'wrote {out}: edsr step')
  again = subprocess.run(command, capture_output=True, text=True)
  assert again.returncode == 1 and again.stderr.strip().startswith('error: ')
  assert len(again.stderr.strip().splitlines()) == 1 and 'Traceback' not in again.stderr
