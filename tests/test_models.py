import dataclasses
import functools
import os
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from flax_srae.data import image_ops
from flax_srae import inference
from flax_srae import models
from flax_srae.training import train
import conftest

# Random inputs and weights come from numpy: jax.random compiles a program for each shape, and
# XLA:CPU's LLVM is slow to optimize those (for some shapes far slower than the test itself).


def _init_like(model, x, seed=0):
  """Parameters of init's scale (lecun-normal kernels, zero biases) where the test needs no
  more of init than that: drawn by numpy from the parameters' shapes."""
  rng = np.random.default_rng(seed)
  def draw(path, s):
    if jax.tree_util.keystr(path).endswith("['kernel']"):
      return (rng.standard_normal(s.shape) / np.sqrt(np.prod(s.shape[:-1]))).astype(s.dtype)
    return np.zeros(s.shape, s.dtype)
  return jax.tree_util.tree_map_with_path(
      draw, jax.eval_shape(model.init, jax.random.key(0), x)['params'])

def _config(model='encoder_decoder', channels=1, features=(32, 64, 128), latent_dim=32,
            hr_size=28):
  return ml_collections.ConfigDict(dict(model=model, channels=channels, features=features,
                                        latent_dim=latent_dim, hr_size=hr_size))


def _out_shape(config, shape):
  model = models.create_model(config)
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  return jax.eval_shape(model.apply, variables, x).shape, variables


@pytest.mark.parametrize('model', ['encoder_decoder', 'encoder_decoder_residual'])
@pytest.mark.parametrize('shape,expected', [
    ((2, 14, 14, 1), (2, 28, 28, 1)), ((2, 28, 28, 1), (2, 56, 56, 1)),
    ((1, 100, 100, 1), (1, 200, 200, 1)), ((1, 12, 20, 1), (1, 24, 40, 1))])
def test_sr_output_is_twice_the_input(model, shape, expected):
  assert _out_shape(_config(model), shape)[0] == expected


@pytest.mark.parametrize('channels,side,latent_dim', [(1, 28, 32), (3, 16, 5), (1, 12, 2)])
def test_autoencoder_codes_fewer_values_and_reconstructs_at_input_size(channels, side,
                                                                       latent_dim):
  config = _config('autoencoder', channels, (8, 16, 4), latent_dim, side)
  model = models.create_model(config)
  x = jax.ShapeDtypeStruct((3, side, side, channels), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  code = jax.eval_shape(functools.partial(model.apply, method='encode'), variables, x)
  assert code.shape == (3, latent_dim) and code.dtype == jnp.float32
  assert jax.eval_shape(functools.partial(model.apply, method='decode'), variables,
                        code).shape == x.shape
  assert jax.eval_shape(model.apply, variables, x).shape == x.shape


def test_autoencoder_parameter_count_is_its_description():
  f0, f1, f2, d, c = 32, 64, 32, 32, 1
  conv = lambda k, cin, cout: k * k * cin * cout + cout
  dense = lambda cin, cout: cin * cout + cout
  expected = (conv(3, c, f0) + conv(3, f0, f1) + conv(3, f1, f2) + dense(7 * 7 * f2, d)  # encoder
              + dense(d, 7 * 7 * f2) + conv(4, f2, f1) + conv(4, f1, f0) + conv(3, f0, c))
  _, variables = _out_shape(_config('autoencoder', c, (f0, f1, f2), d, 28), (1, 28, 28, c))
  assert _count(variables) == expected == 205153
  assert set(variables['params']) == {'encoder', 'decoder'}


def test_autoencoder_refuses_images_of_another_size():
  with pytest.raises(ValueError, match='codes 28x28 images, got 32x32'):
    _out_shape(_config('autoencoder'), (1, 32, 32, 1))


def test_autoencoder_output_is_linear():
  """A sigmoid output under MSE can saturate at black and stay there; the linear output's
  gradient does not vanish for any pixel value."""
  model = models.create_model(_config('autoencoder', features=(4, 8, 4), latent_dim=3,
                                      hr_size=12))
  x = np.random.default_rng(0).random((2, 12, 12, 1), np.float32)
  params = _init_like(model, x)
  last = params['decoder']['Conv_0']
  params['decoder']['Conv_0'] = dict(last, bias=last['bias'] + 5.0)  # far above white
  y = jax.jit(model.apply)({'params': params}, x)
  assert float(y.min()) > 3.0  # not squashed into [0, 1]
  grads = jax.jit(jax.grad(lambda p: jnp.mean((model.apply({'params': p}, x) - x) ** 2)))(params)
  assert float(jnp.abs(grads['decoder']['Conv_0']['bias']).min()) > 1.0


def test_rgb_channels_from_config():
  assert _out_shape(_config(channels=3), (1, 14, 14, 3))[0] == (1, 28, 28, 3)


@pytest.mark.parametrize('shape', [(1, 15, 14, 1), (1, 14, 13, 1)])
def test_odd_sizes_rejected_clearly(shape):
  with pytest.raises(ValueError, match='must be even'):
    _out_shape(_config(), shape)


def test_wrong_channel_count_rejected():
  with pytest.raises(ValueError, match='expects 1 channel'):
    _out_shape(_config(), (1, 14, 14, 3))


def _count(variables):
  return sum(np.prod(p.shape) for p in jax.tree.leaves(variables))


def test_parameter_counts_equal_across_input_sizes():
  # Same count as the PyTorch peer's seed model: 320 + 18496 + 73856 + 131136 + 32800 + 289.
  for model in ('encoder_decoder', 'encoder_decoder_residual'):
    assert _count(_out_shape(_config(model), (1, 14, 14, 1))[1]) == 256897
    assert _count(_out_shape(_config(model), (1, 28, 28, 1))[1]) == 256897


def test_unknown_model_rejected():
  with pytest.raises(ValueError, match='unknown model'):
    models.create_model(_config('vdsr'))


@pytest.mark.slow
def test_residual_model_starts_at_bicubic():
  model = models.create_model(_config('encoder_decoder_residual'))
  x = np.random.default_rng(0).random((2, 14, 14, 1), np.float32)
  params = model.init(jax.random.key(1), x)
  np.testing.assert_allclose(model.apply(params, x), image_ops.resize2x(x, 'cubic'), atol=1e-6)


def test_stride_2_conv_windows_centred_like_pytorch():
  """The encoder's stride-2 conv is PyTorch's Conv2d(3, stride=2, padding=1): output m is
  centred on input 2m ('SAME' would pad (0, 1) and centre it on 2m + 1)."""
  model = models.create_model(_config())
  x = np.random.default_rng(0).random((2, 14, 14, 1), np.float32)
  params = model.init(jax.random.key(1), x)['params']
  _, state = model.apply({'params': params}, x, capture_intermediates=True)
  inter = state['intermediates']
  h0 = nn.relu(inter['Conv_0']['__call__'][0])
  hp = jnp.pad(h0, ((0, 0), (1, 1), (1, 1), (0, 0)))
  k, b = params['Conv_1']['kernel'], params['Conv_1']['bias']
  # out[m, l] = sum_ij h0[2m + i - 1, 2l + j - 1] k[i, j], written out by hand.
  expected = sum(jnp.einsum('nhwc,cd->nhwd', hp[:, i:i + 14:2, j:j + 14:2], k[i, j])
                 for i in range(3) for j in range(3)) + b
  np.testing.assert_allclose(inter['Conv_1']['__call__'][0], expected, atol=1e-5)


def _edsr(channels=1, width=32, num_blocks=6):
  return ml_collections.ConfigDict(dict(model='edsr', channels=channels, width=width,
                                        num_blocks=num_blocks))


def test_edsr_parameter_count_is_the_photo_peers_and_follows_the_config():
  # torch_photo_sr.py's ResidualSR: 112,452 parameters, at any input size.
  assert _count(_out_shape(_edsr(), (1, 14, 14, 1))[1]) == 112452
  assert _count(_out_shape(_edsr(), (1, 28, 28, 1))[1]) == 112452
  w, b, c = 16, 3, 3
  conv = lambda cin, cout: 9 * cin * cout + cout
  expected = conv(c, w) + 2 * b * conv(w, w) + conv(w, 4 * c)
  assert _count(_out_shape(_edsr(c, w, b), (1, 14, 14, c))[1]) == expected


def test_the_photo_configs_parameter_counts():
  # The shipped photo models keep to 150,000; edsr 32x8 in colour is over it.
  from configs import photo, photo_deep, photo_rgb, photo_rgb_32x8
  counts = {m.__name__: _count(_out_shape(m.get_config(), (1, 8, 8, m.get_config().channels))[1])
            for m in (photo, photo_deep, photo_rgb, photo_rgb_32x8)}
  assert counts == {'configs.photo': 149444, 'configs.photo_deep': 146932,
                    'configs.photo_rgb': 149100, 'configs.photo_rgb_32x8': 152332}


@pytest.mark.slow
def test_edsr_starts_at_bicubic():
  config = _edsr(channels=3, width=8, num_blocks=2)
  model = models.create_model(config)
  x = np.random.default_rng(1).random((2, 10, 12, 3), np.float32)
  params = model.init(jax.random.key(0), x)
  np.testing.assert_allclose(model.apply(params, x), image_ops.cubic_upscale2x(x), atol=1e-6)


def _espcn(channels=1, width=64):
  return ml_collections.ConfigDict(dict(model='espcn', channels=channels, width=width))


@pytest.mark.parametrize('config', [_edsr, _espcn])
@pytest.mark.parametrize('shape,expected', [
    ((2, 14, 14, 1), (2, 28, 28, 1)), ((2, 28, 28, 1), (2, 56, 56, 1)),
    ((1, 15, 13, 1), (1, 30, 26, 1))])
def test_sub_pixel_models_output_twice_any_input(config, shape, expected):
  assert _out_shape(config(), shape)[0] == expected


def test_espcn_parameter_count_follows_the_config_at_any_size():
  conv = lambda k, cin, cout: k * k * cin * cout + cout
  for c, w in ((1, 64), (3, 16)):
    expected = conv(5, c, w) + conv(3, w, w // 2) + conv(3, w // 2, 4 * c)
    for side in (14, 28):
      assert _count(_out_shape(_espcn(c, w), (1, side, side, c))[1]) == expected
  assert expected != _count(_out_shape(_espcn(3, 32), (1, 14, 14, 3))[1])


@pytest.mark.parametrize('config', [
    pytest.param(_espcn(channels=3, width=8), id='espcn', marks=pytest.mark.slow),
    pytest.param(_edsr(3, 8, 2), id='edsr')])
def test_sub_pixel_models_start_at_cubic_and_then_train_every_layer(config):
  model = models.create_model(config)
  x = np.random.default_rng(1).random((2, 10, 12, 3), np.float32)
  params = model.init(jax.random.key(0), x)['params']
  np.testing.assert_allclose(model.apply({'params': params}, x), image_ops.cubic_upscale2x(x),
                             atol=1e-6)
  target = np.random.default_rng(2).random((2, 20, 24, 3), np.float32)
  grads = jax.grad(lambda p: jnp.mean((model.apply({'params': p}, x) - target) ** 2))(params)
  # The zero last layer gets a gradient at once; the others once it has moved off zero.
  assert float(jnp.abs(jax.tree.leaves(grads)[-1]).max()) > 0
  assert min(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads)[-2:]) > 0


def _safmn(channels=1, width=8, num_blocks=2):
  return ml_collections.ConfigDict(dict(model='safmn', channels=channels, width=width,
                                        num_blocks=num_blocks))


def _random_params(model, x, seed=0, scale=0.2):
  """Every weight random, the zero-initialised tail included (it would hide the body)."""
  rng = np.random.default_rng(seed)
  return jax.tree.map(lambda s: (scale * rng.standard_normal(s.shape)).astype(s.dtype),
                      jax.eval_shape(model.init, jax.random.key(0), x)['params'])


def test_max_filter_is_max_pooling_with_stride_one_and_its_gradient_a_select():
  x = np.random.default_rng(0).random((2, 11, 6, 3), np.float32)  # windows wider than 6
  def pooled(x, size):
    before, after = (size - 1) // 2, size // 2
    return nn.max_pool(nn.max_pool(x, (size, 1), padding=((before, after), (0, 0))),
                       (1, size), padding=((0, 0), (before, after)))
  ours = models._max_filter  # pylint: disable=protected-access
  for size in (1, 2, 4, 8):
    np.testing.assert_array_equal(ours(x, size), pooled(x, size))
  # Size 8 takes every doubling (1 -> 2 -> 4 -> 8) along both axes.
  grad = jax.grad(lambda x: ours(x, 8).sum())(x)
  np.testing.assert_array_equal(grad, jax.grad(lambda x: pooled(x, 8).sum())(x))
  with pytest.raises(ValueError, match='power of two'):
    ours(x, 3)


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('side', [(14, 14), (15, 13), (1, 5), (9, 24)])
def test_safmn_output_is_twice_any_input(channels, side):
  h, w = side
  assert _out_shape(_safmn(channels), (2, h, w, channels))[0] == (2, 2 * h, 2 * w, channels)


def test_safmn_parameter_count_is_its_description():
  # head Conv3x3; per block 2 LayerNorms (4w), 4 depthwise Conv3x3 over the width's quarters
  # (10w), Conv1x1 (w^2 + w), CCM Conv3x3 into 2w and Conv1x1 back (20w^2 + 3w); tail Conv3x3.
  formula = lambda c, w, b: (9 * c * w + w) + b * (21 * w * w + 18 * w) + (36 * c * w + 4 * c)
  for c, w, b, side in ((1, 28, 8, 7), (3, 8, 2, 14), (1, 6, 1, 7), (3, 3, 1, 14)):
    # 6, 3: uneven quarters; sides 7 and 14: the count does not depend on the input's size
    assert _count(_out_shape(_safmn(c, w, b), (1, side, side, c))[1]) == formula(c, w, b)
  assert formula(1, 28, 8) == 137036 <= 150000
  # SAFMN's x2 model (RGB, width 36, 8 blocks): 228K parameters in its paper; ours adds
  # nothing beyond it (the cubic path has no weights).
  assert round(formula(3, 36, 8), -3) == 228000


@pytest.mark.slow
def test_safmn_starts_at_cubic_and_then_trains_every_layer():
  model = models.create_model(_safmn(3, 4, 1))
  x = np.random.default_rng(1).random((1, 9, 10, 3), np.float32)
  params = jax.jit(model.init)(jax.random.key(0), x)['params']
  np.testing.assert_allclose(jax.jit(model.apply)({'params': params}, x),
                             image_ops.cubic_upscale2x(x), atol=1e-6)
  target = np.random.default_rng(2).random((1, 18, 20, 3), np.float32)
  loss = jax.jit(jax.grad(lambda p: jnp.mean((model.apply({'params': p}, x) - target) ** 2)))
  assert float(jnp.abs(loss(params)['Conv_1']['kernel']).max()) > 0  # the zero tail
  # Once the tail has moved off zero, every parameter gets a gradient.
  params['Conv_1'] = _random_params(model, x, seed=3)['Conv_1']
  assert all(float(jnp.abs(g).max()) > 0 for g in jax.tree.leaves(loss(params)))


@pytest.mark.parametrize('channels', [1, pytest.param(3, marks=pytest.mark.slow)])
def test_safmn_with_cpu_speedups_computes_the_same(channels):
  from flax_srae.platform import cpu_speedups
  config = _safmn(channels, 8, 2)
  fast = models.create_model(config, **cpu_speedups.layers())
  plain = models.create_model(config)
  assert fast.conv is not nn.Conv or jax.default_backend() != 'cpu'
  x = np.random.default_rng(1).random((2, 13, 10, channels), np.float32)
  params = _random_params(plain, x)
  assert (jax.tree.map(jnp.shape, params) == jax.tree.map(
      lambda s: s.shape, jax.eval_shape(fast.init, jax.random.key(0), x)['params']))
  want = jax.jit(plain.apply)({'params': params}, x)
  np.testing.assert_allclose(jax.jit(fast.apply)({'params': params}, x), want,
                             atol=1e-5 * float(jnp.abs(want).max()))


def test_safmn_reach_is_exact_so_tiles_equal_the_whole_image():
  """An output pixel can change with an input pixel `reach` away (the coarsest level's window
  ends 12 pixels below and right of a pixel, 11 above and left) and with none further. On a
  flat image a small poke of one sign or the other raises the maximum it falls in."""
  config = _safmn(1, 6, 1)  # width 6: quarters of 2, 2, 1, 1 channels
  reach = models.spec(config).reach(config)
  assert reach == 15 and models.architecture_fields('safmn') == (
      'model', 'channels', 'width', 'num_blocks')
  assert inference._overlap(_safmn(num_blocks=8)) == 106  # pylint: disable=protected-access
  model = models.create_model(config)
  side, c = 2 * reach + 9, reach + 4
  x = np.full((1, side, side, 1), 0.5, np.float32)
  params = _random_params(model, x)
  run = jax.jit(lambda x: model.apply({'params': params}, x)[0, 2 * c:2 * c + 2, 2 * c:2 * c + 2])
  base = run(x)
  def changed(dy, dx, pokes=(0.3, -0.3)):
    def poked(v):
      y = x.copy()
      y[0, c + dy, c + dx, 0] += v
      return y
    # Exactly: the pixels an output is computed from are the same bits.
    return any(bool(jnp.any(run(poked(v)) != base)) for v in pokes)
  assert changed(reach, 0) and changed(0, reach) and changed(1 - reach, 1 - reach)
  assert not any(changed(dy, dx, (0.3, -0.3, 100.0, -100.0)) for dy, dx in (
      (reach + 1, 0), (0, reach + 1), (-reach, 0), (0, -reach), (-reach, reach + 1)))


def test_depth_to_space_is_pytorch_pixel_shuffle():
  y = np.arange(2 * 3 * 4 * 8, dtype=np.float32).reshape(2, 3, 4, 8)  # 2 planes of 2x2
  out = np.asarray(models.depth_to_space(jnp.asarray(y)))
  assert out.shape == (2, 6, 8, 2)
  for k in range(2):
    for i in range(2):
      for j in range(2):
        np.testing.assert_array_equal(out[:, i::2, j::2, k], y[..., k * 4 + i * 2 + j])


@pytest.mark.parametrize('model,side', [pytest.param('encoder_decoder_residual', 14, marks=pytest.mark.slow),
                                        ('autoencoder', 16)])
def test_bfloat16_activations_keep_float32_parameters_and_output(model, side):
  f32 = models.create_model(_config(model, features=(8, 16, 16), hr_size=side))
  config = _config(model, features=(8, 16, 16), hr_size=side)
  config.dtype = 'bfloat16'
  bf16 = models.create_model(config)
  x = np.random.default_rng(1).random((2, side, side, 1), np.float32)
  shapes = jax.eval_shape(bf16.init, jax.random.key(0), x)['params']
  # The same parameters either way: dtype is not part of the architecture.
  assert shapes == jax.eval_shape(f32.init, jax.random.key(0), x)['params']
  assert {p.dtype for p in jax.tree.leaves(shapes)} == {jnp.dtype(jnp.float32)}
  # Random values rather than init (whose compile alone takes seconds on CPU), and a
  # non-zero last layer, so that the bfloat16 hidden layers show in the output.
  rng = np.random.default_rng(0)
  params = jax.tree.map(lambda s: (0.2 * rng.standard_normal(s.shape)).astype(s.dtype), shapes)
  out = jax.jit(bf16.apply)({'params': params}, x)
  assert out.dtype == jnp.float32
  reference = jax.jit(f32.apply)({'params': params}, x)
  assert 0 < float(jnp.max(jnp.abs(out - reference))) < 0.05 * float(jnp.max(jnp.abs(reference)))
  grads = jax.jit(jax.grad(lambda p: jnp.mean(bf16.apply({'params': p}, x) ** 2)))(params)
  assert all(g.dtype == jnp.float32 and jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize('model,channels', [
    pytest.param('edsr', 1, marks=pytest.mark.slow), pytest.param('edsr', 3, marks=pytest.mark.slow),
    pytest.param('espcn', 1, marks=pytest.mark.slow)])
def test_collapsed_blocks_compute_what_the_expanded_ones_do(model, channels):
  config = ml_collections.ConfigDict(dict(model=model, channels=channels, width=8, num_blocks=2,
                                          expansion=3))
  expanded = models.create_model(config)
  rng = np.random.default_rng(1)
  x = rng.random((2, 9, 7, channels), np.float32)
  shapes = jax.eval_shape(expanded.init, jax.random.key(0), x)['params']
  # Random weights everywhere, the zero-initialised output layer included.
  params = jax.tree.map(lambda s: 0.3 * rng.standard_normal(s.shape, np.float32), shapes)
  plain_config = ml_collections.ConfigDict({**config.to_dict(), 'expansion': 0})
  plain = models.create_model(plain_config)
  collapsed = models.collapse(params)
  assert (jax.tree.map(jnp.shape, collapsed) == jax.tree.map(
      lambda s: s.shape, jax.eval_shape(plain.init, jax.random.key(0), x)['params']))
  want = jax.jit(expanded.apply)({'params': params}, x)
  np.testing.assert_allclose(jax.jit(plain.apply)({'params': collapsed}, x), want,
                             atol=1e-5 * float(jnp.abs(want).max()))


@pytest.mark.slow
def test_expanded_edsr_starts_at_cubic_with_more_parameters_to_train():
  plain = ml_collections.ConfigDict(dict(model='edsr', channels=1, width=8, num_blocks=2,
                                         expansion=0))
  x = np.random.default_rng(1).random((1, 6, 6, 1), np.float32)
  counts = []
  for expansion in (0, 4):
    config = ml_collections.ConfigDict({**plain.to_dict(), 'expansion': expansion})
    model = models.create_model(config)
    variables = model.init(jax.random.key(0), x)
    np.testing.assert_allclose(model.apply(variables, x), image_ops.cubic_upscale2x(x),
                               atol=1e-6)
    counts.append(sum(p.size for p in jax.tree.leaves(variables)))
  assert counts[1] > 3 * counts[0]


def test_no_module_outside_the_registry_asks_which_model_or_protocol_a_config_names():
  asks = re.compile(r"\.(model|protocol)\s*(==|!=|\bin\b|\bnot in\b)|"
                    r"\.get\('(model|protocol)'\)\s*==")
  for name, lines in conftest.package_sources():
    if name != os.path.join('models', '__init__.py'):
      for i, line in enumerate(lines, 1):
        if 'REGISTRY' not in line:
          assert not asks.search(line), f'{name}:{i}: {line.strip()}'


def test_a_model_declared_once_is_known_everywhere(monkeypatch, tiny_config):
  # A new upscaler: edsr's layers under another name, declared in the registry alone.
  edsr = models.REGISTRY['edsr']
  monkeypatch.setitem(models.REGISTRY, 'edsr_deep', dataclasses.replace(
      edsr, reach=lambda config: 2 * config.num_blocks + 40))
  monkeypatch.setattr(models, 'MODELS', tuple(models.REGISTRY))
  tiny_config.model, tiny_config.width, tiny_config.num_blocks = 'edsr_deep', 8, 2
  train.validate_config(tiny_config)
  assert models.architecture_fields('edsr_deep') == models.architecture_fields('edsr')
  assert not models.is_coder(tiny_config) and models.scale_of(tiny_config) == 2
  assert inference._overlap(tiny_config) == 44  # pylint: disable=protected-access
  x = jnp.zeros((1, 6, 6, 1))
  params = models.create_model(tiny_config).init(jax.random.PRNGKey(0), x)['params']
  assert models.create_model(tiny_config).apply({'params': params}, x).shape == (1, 12, 12, 1)


@pytest.mark.parametrize('former,name', sorted(models.FORMER_NAMES.items()))
def test_a_former_model_name_builds_and_validates_as_its_new_one(former, name, tiny_config):
  old, new = _config(former), _config(name)
  x = jnp.zeros((1, 14, 14, 1))
  shapes = lambda c: jax.tree.map(jnp.shape, models.create_model(c).init(
      jax.random.PRNGKey(0), x)['params'])
  assert shapes(old) == shapes(new)
  assert models.spec(old) is models.spec(new) and former not in models.MODELS
  assert models.architecture_fields(former) == models.architecture_fields(name)
  tiny_config.model = former
  train.validate_config(tiny_config)
