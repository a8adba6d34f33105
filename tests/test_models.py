import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import flax_srae
from flax_srae import models


def _config(model='seed', channels=1, features=(32, 64, 128)):
  return ml_collections.ConfigDict(dict(model=model, channels=channels, features=features))


def _out_shape(config, shape):
  model = models.create_model(config)
  x = jax.ShapeDtypeStruct(shape, jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  return jax.eval_shape(model.apply, variables, x).shape, variables


@pytest.mark.parametrize('model', ['seed', 'seed_residual'])
@pytest.mark.parametrize('shape,expected', [
    ((2, 14, 14, 1), (2, 28, 28, 1)), ((2, 28, 28, 1), (2, 56, 56, 1)),
    ((1, 100, 100, 1), (1, 200, 200, 1)), ((1, 12, 20, 1), (1, 24, 40, 1))])
def test_sr_output_is_twice_the_input(model, shape, expected):
  assert _out_shape(_config(model), shape)[0] == expected


def test_autoencoder_reconstructs_at_input_size():
  assert _out_shape(_config('autoencoder'), (3, 28, 28, 1))[0] == (3, 28, 28, 1)


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
  for model in ('seed', 'seed_residual'):
    assert _count(_out_shape(_config(model), (1, 14, 14, 1))[1]) == 256897
    assert _count(_out_shape(_config(model), (1, 28, 28, 1))[1]) == 256897
  ae14 = _count(_out_shape(_config('autoencoder'), (1, 14, 14, 1))[1])
  assert ae14 == _count(_out_shape(_config('autoencoder'), (1, 28, 28, 1))[1])
  assert ae14 == 256897 - 32800 + (9 * 64 * 32 + 32)  # second upsampling is a 3x3 conv


def test_unknown_model_rejected():
  with pytest.raises(ValueError, match='unknown model'):
    models.create_model(_config('vdsr'))


@pytest.mark.parametrize('shape', [(2, 7, 7, 16), (1, 14, 10, 8), (3, 1, 2, 4)])
def test_conv_transpose_2x_matches_flax_conv_transpose(shape):
  x = jax.random.normal(jax.random.key(0), shape)
  ours = models.ConvTranspose2x(6)
  reference = nn.ConvTranspose(6, (4, 4), strides=(2, 2), padding='SAME')
  params = ours.init(jax.random.key(1), x)
  params['params']['bias'] = jax.random.normal(jax.random.key(2), (6,))
  assert jax.tree.map(jnp.shape, params) == jax.tree.map(
      jnp.shape, reference.init(jax.random.key(1), x))
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=2e-6)
  # Both forms, whichever platform runs the tests: CPUs run the first, other devices the second.
  kernel, bias = params['params']['kernel'], params['params']['bias']
  def reference_loss(kernel):
    return jnp.sum(jnp.sin(reference.apply({'params': {'kernel': kernel, 'bias': bias}}, x)))
  for phases in (models._phases_one_by_one, models._phases_at_once):
    def phases_loss(kernel, phases=phases):
      return jnp.sum(jnp.sin(phases(x, kernel.reshape(2, 2, 2, 2, shape[-1], 6)) + bias))
    np.testing.assert_allclose(phases_loss(kernel), reference_loss(kernel), rtol=1e-5)
    np.testing.assert_allclose(jax.grad(phases_loss)(kernel), jax.grad(reference_loss)(kernel),
                               rtol=1e-4, atol=1e-4)

  # Gradients too: the reformulation is what training differentiates.
  def loss(module):
    return lambda p: jnp.sum(jnp.sin(module.apply(p, x)))
  g_ours, g_ref = jax.grad(loss(ours))(params), jax.grad(loss(reference))(params)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('kernel,cin,cout,strides,padding,rewritten', [
    ((3, 3), 1, 8, 1, 'SAME', True),                  # few input channels: taps
    ((5, 5), 3, 6, 1, ((2, 2), (2, 2)), True),
    ((3, 3), 16, 4, 1, 'SAME', True),                 # few output channels: into taps
    ((3, 3), 12, 1, 1, ((0, 1), (2, 0)), True),
    ((3, 3), 8, 8, 1, 'SAME', False),                 # XLA's own
    ((3, 3), 1, 8, 2, ((1, 1), (1, 1)), False),
])
def test_conv_rewrites_compute_flax_conv(kernel, cin, cout, strides, padding, rewritten):
  x = jax.random.normal(jax.random.key(0), (2, 9, 8, cin))
  ours = models.Conv(cout, kernel, strides=strides, padding=padding)
  reference = nn.Conv(cout, kernel, strides=strides, padding=padding)
  params = reference.init(jax.random.key(1), x)
  params['params']['bias'] = jax.random.normal(jax.random.key(2), (cout,))
  jaxpr = str(jax.make_jaxpr(ours.apply)(params, x))
  assert ('custom_vjp_call' in jaxpr) == rewritten
  np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x),
                             rtol=1e-5, atol=1e-5)
  def loss(module):
    return lambda p, x: jnp.sum(jnp.sin(module.apply(p, x)))
  for a, b in zip(jax.tree.leaves(jax.grad(loss(ours), (0, 1))(params, x)),
                  jax.tree.leaves(jax.grad(loss(reference), (0, 1))(params, x))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_conv_passes_options_it_does_not_rewrite_to_xla():
  x = jnp.ones((1, 6, 6, 1), jnp.bfloat16)
  k = jnp.ones((3, 3, 1, 8), jnp.bfloat16)
  dims = jax.lax.conv_dimension_numbers(x.shape, k.shape, ('NHWC', 'HWIO', 'NHWC'))
  y = models.conv_general_dilated(x, k, (1, 1), 'SAME', dimension_numbers=dims,
                                  preferred_element_type=jnp.float32)
  assert y.dtype == jnp.float32
  np.testing.assert_allclose(y[0, 2, 2], 9.0)


def test_residual_model_starts_at_bicubic():
  model = models.create_model(_config('seed_residual'))
  x = jax.random.uniform(jax.random.key(0), (2, 14, 14, 1))
  params = model.init(jax.random.key(1), x)
  np.testing.assert_allclose(model.apply(params, x), models.bicubic_upscale(x), atol=1e-6)


def test_stride_2_conv_windows_centred_like_pytorch():
  """The encoder's stride-2 conv is PyTorch's Conv2d(3, stride=2, padding=1): output m is
  centred on input 2m ('SAME' would pad (0, 1) and centre it on 2m + 1)."""
  model = models.create_model(_config())
  x = jax.random.uniform(jax.random.key(0), (2, 14, 14, 1))
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


def test_edsr_starts_at_bicubic():
  config = _edsr(channels=3, width=8, num_blocks=2)
  model = models.create_model(config)
  x = jax.random.uniform(jax.random.key(1), (2, 10, 12, 3))
  params = model.init(jax.random.key(0), x)
  np.testing.assert_allclose(model.apply(params, x), models.cubic_upscale2x(x), atol=1e-6)


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


@pytest.mark.parametrize('config', [_espcn(channels=3, width=8), _edsr(3, 8, 2)],
                         ids=['espcn', 'edsr'])
def test_sub_pixel_models_start_at_cubic_and_then_train_every_layer(config):
  model = models.create_model(config)
  x = jax.random.uniform(jax.random.key(1), (2, 10, 12, 3))
  params = model.init(jax.random.key(0), x)['params']
  np.testing.assert_allclose(model.apply({'params': params}, x), models.cubic_upscale2x(x),
                             atol=1e-6)
  target = jax.random.uniform(jax.random.key(2), (2, 20, 24, 3))
  grads = jax.grad(lambda p: jnp.mean((model.apply({'params': p}, x) - target) ** 2))(params)
  # The zero last layer gets a gradient at once; the others once it has moved off zero.
  assert float(jnp.abs(jax.tree.leaves(grads)[-1]).max()) > 0
  assert min(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads)[-2:]) > 0


def test_depth_to_space_is_pytorch_pixel_shuffle():
  y = np.arange(2 * 3 * 4 * 8, dtype=np.float32).reshape(2, 3, 4, 8)  # 2 planes of 2x2
  out = np.asarray(models.depth_to_space(jnp.asarray(y)))
  assert out.shape == (2, 6, 8, 2)
  for k in range(2):
    for i in range(2):
      for j in range(2):
        np.testing.assert_array_equal(out[:, i::2, j::2, k], y[..., k * 4 + i * 2 + j])


def test_cubic_upscale2x_matches_pytorch_bicubic():
  # torch.nn.functional.interpolate(x, scale_factor=2, mode='bicubic', align_corners=False)
  # of x = arange(12).reshape(3, 4) ** 2 / 10, computed once with PyTorch 2.13 (rows 0 and 5).
  x = (np.arange(12, dtype=np.float32).reshape(1, 3, 4, 1) ** 2) / 10
  y = np.asarray(models.cubic_upscale2x(jnp.asarray(x)))[0, :, :, 0]
  assert y.shape == (6, 8)
  np.testing.assert_allclose(y[0], [-0.170398, -0.172791, -0.179407, -0.117236, -0.029639,
                                    0.179407, 0.39154, 0.52196], atol=2e-6)
  np.testing.assert_allclose(y[5], [6.718055, 7.24076, 8.077064, 9.251613, 10.057764,
                                    11.379188, 12.434241, 13.089759], atol=2e-6)
  np.testing.assert_allclose(models.cubic_upscale2x(jnp.full((1, 5, 3, 2), 0.4)), 0.4, atol=1e-6)


@pytest.mark.parametrize('model', ['seed_residual', 'autoencoder'])
def test_bfloat16_activations_keep_float32_parameters_and_output(model):
  f32 = models.create_model(_config(model, features=(8, 16, 16)))
  config = _config(model, features=(8, 16, 16))
  config.dtype = 'bfloat16'
  bf16 = models.create_model(config)
  x = jax.random.uniform(jax.random.key(1), (2, 14, 14, 1))
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


def test_importing_the_package_turns_on_ynnpack_dots_unless_xla_flags_say_otherwise():
  code = 'import os, flax_srae; print(os.environ["XLA_FLAGS"])'
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  run = lambda: subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                               text=True, check=True).stdout.strip()
  assert run() == flax_srae.YNN_FLAG
  env['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'
  assert run() == f'--xla_force_host_platform_device_count=2 {flax_srae.YNN_FLAG}'
  env['XLA_FLAGS'] = '--xla_cpu_experimental_ynn_fusion_type='
  assert run() == '--xla_cpu_experimental_ynn_fusion_type='
