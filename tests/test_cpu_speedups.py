"""The CPU speed-ups compute what the plain Flax layers compute, and change process state only
when asked to."""
import functools
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.extend.core
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from flax_srae.platform import cpu_speedups
from flax_srae import models

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Random inputs and weights come from numpy: jax.random compiles a program for each shape, and
# XLA:CPU's LLVM is slow to optimize those (for some shapes far slower than the test itself).


def _assert_same_function(ours, reference, x, rtol=1e-5, atol=1e-5):
  """Same parameters, same outputs, same gradients (parameters and input) as `reference`.
  Each side runs as one compiled program, as in training: op by op, each of the rewritten
  forms' many small operations compiled on its own."""
  shapes = jax.eval_shape(reference.init, jax.random.key(1), x)
  assert jax.eval_shape(ours.init, jax.random.key(1), x) == shapes
  # Non-zero everywhere (biases included), so every term shows.
  rng = np.random.default_rng(2)
  params = jax.tree.map(lambda s: rng.standard_normal(s.shape, np.float32), shapes)
  np.testing.assert_allclose(jax.jit(ours.apply)(params, x), jax.jit(reference.apply)(params, x),
                             rtol=rtol, atol=atol)

  def loss(module):
    return lambda p, x: jnp.sum(jnp.sin(module.apply(p, x)))
  for a, b in zip(jax.tree.leaves(jax.jit(jax.grad(loss(ours), (0, 1)))(params, x)),
                  jax.tree.leaves(jax.jit(jax.grad(loss(reference), (0, 1)))(params, x))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('shape', [pytest.param((2, 7, 7, 16), marks=pytest.mark.slow),
                                   pytest.param((1, 14, 10, 8), marks=pytest.mark.slow),
                                   (3, 1, 2, 4)])
def test_subpixel_upsample_computes_the_transposed_convolution(shape):
  x = np.random.default_rng(0).standard_normal(shape, np.float32)
  _assert_same_function(cpu_speedups.ConvTranspose2x(6), models.ConvTranspose2x(6), x)


@pytest.mark.parametrize('kernel,cin,cout,strides,padding,rewritten', [
    ((3, 3), 1, 8, 1, 'SAME', True),                  # few input channels: taps
    pytest.param((5, 5), 3, 6, 1, ((2, 2), (2, 2)), True, marks=pytest.mark.slow),
    pytest.param((3, 3), 16, 4, 1, 'SAME', True,      # few output channels: into taps
                 marks=pytest.mark.slow),
    pytest.param((3, 3), 12, 1, 1, ((0, 1), (2, 0)), True, marks=pytest.mark.slow),
    pytest.param((3, 3), 8, 8, 1, 'SAME', False,      # XLA's own
                 marks=pytest.mark.slow),
    ((3, 3), 1, 8, 2, ((1, 1), (1, 1)), False),
])
def test_conv_forms_compute_flax_conv(kernel, cin, cout, strides, padding, rewritten):
  x = np.random.default_rng(0).standard_normal((2, 9, 8, cin), np.float32)
  ours = cpu_speedups.Conv(cout, kernel, strides=strides, padding=padding)
  reference = nn.Conv(cout, kernel, strides=strides, padding=padding)
  params = reference.init(jax.random.key(1), x)
  assert ('custom_vjp_call' in str(jax.make_jaxpr(ours.apply)(params, x))) == rewritten
  _assert_same_function(ours, reference, x)


@pytest.mark.parametrize('dilation,padding', [(1, 'SAME'), (4, 'SAME'), (2, ((1, 3), (0, 2)))])
def test_depthwise_conv_form_computes_flax_conv(dilation, padding):
  """safmn's depthwise convolutions, dilated or not: a multiply-add per tap, no XLA convolution
  forward or backward."""
  x = np.random.default_rng(0).standard_normal((2, 9, 7, 5), np.float32)
  layer = functools.partial(cpu_speedups.Conv, 5, (3, 3), feature_group_count=5,
                            kernel_dilation=dilation, padding=padding)
  ours = layer()
  reference = layer(conv_general_dilated=jax.lax.conv_general_dilated)
  params = reference.init(jax.random.key(1), x)
  grad = jax.grad(lambda p, x: jnp.sum(ours.apply(p, x)), (0, 1))
  assert 'conv_general_dilated' not in str(jax.make_jaxpr(grad)(params, x))
  _assert_same_function(ours, reference, x)


def test_conv_passes_options_it_does_not_rewrite_to_xla():
  x = jnp.ones((1, 6, 6, 1), jnp.bfloat16)
  k = jnp.ones((3, 3, 1, 8), jnp.bfloat16)
  dims = jax.lax.conv_dimension_numbers(x.shape, k.shape, ('NHWC', 'HWIO', 'NHWC'))
  y = cpu_speedups.conv_general_dilated(x, k, (1, 1), 'SAME', dimension_numbers=dims,
                                        preferred_element_type=jnp.float32)
  assert y.dtype == jnp.float32
  np.testing.assert_allclose(y[0, 2, 2], 9.0)


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='the CPU forms are for CPUs')
@pytest.mark.parametrize('config', [
    pytest.param(dict(model='encoder_decoder', features=(4, 8, 8)), marks=pytest.mark.slow),
    pytest.param(dict(model='autoencoder', features=(4, 8, 8), latent_dim=5, hr_size=12),
                 marks=pytest.mark.slow),
    pytest.param(dict(model='edsr', width=8, num_blocks=2), marks=pytest.mark.slow),
    dict(model='espcn', width=8)])
def test_models_with_the_cpu_layers_have_the_same_parameters_and_outputs(config):
  config = ml_collections.ConfigDict(dict(channels=1, **config))
  layers = cpu_speedups.layers()
  assert set(layers) == {'conv', 'upsample'}  # this suite runs on a CPU
  plain, fast = models.create_model(config), models.create_model(config, **layers)
  shape = (2, 12, 12, 1) if config.model == 'autoencoder' else (2, 10, 12, 1)
  rng = np.random.default_rng(0)
  x = rng.random(shape, np.float32)
  params = jax.eval_shape(plain.init, jax.random.key(0), x)
  assert jax.eval_shape(fast.init, jax.random.key(0), x) == params
  params = jax.tree.map(lambda s: 0.3 * rng.standard_normal(s.shape, np.float32), params)
  reference = jax.jit(plain.apply)(params, x)
  # Float rounding only: relative to the outputs' scale (these random weights make it ~30).
  np.testing.assert_allclose(jax.jit(fast.apply)(params, x), reference,
                             atol=1e-6 * float(jnp.abs(reference).max()))
  assert cpu_speedups.layers(speedups=()) == {}


@pytest.mark.parametrize('n,chunk_images,scan_length', [
    pytest.param(7, 2, 3, marks=pytest.mark.slow), pytest.param(6, 3, 2, marks=pytest.mark.slow),
    pytest.param(2, 2, None, marks=pytest.mark.slow),
    pytest.param(1, 1, None, marks=pytest.mark.slow),
    (5, 0, 5)])
def test_apply_in_chunks_equals_one_call_on_the_batch(n, chunk_images, scan_length):
  config = ml_collections.ConfigDict(dict(model='edsr', channels=1, width=4, num_blocks=1))
  model = models.create_model(config)
  x = np.random.default_rng(4).random((n, 14, 14, 1), dtype=np.float32)
  params = model.init(jax.random.key(0), x)['params']
  params = jax.tree.map(lambda p: p + 0.1, params)
  apply = lambda p, x: model.apply({'params': p}, x)
  # 13 pixels over whole images: the budget need not be a multiple of an image.
  chunked = jax.jit(lambda p, x: cpu_speedups.apply_in_chunks(
      functools.partial(apply, p), x, chunk_images * 14 * 14 + 13))
  # Float rounding only: outputs reach ~30, where one float32 step is ~4e-6, and a chunk's
  # convolutions may sum in another order than the whole batch's.
  np.testing.assert_allclose(chunked(params, x), jax.jit(apply)(params, x), rtol=1e-6,
                             atol=1e-6)
  # One scan over the whole chunks, the remainder apart (under one image's pixels, single
  # images), in the program for CPUs only: a GPU's gets the whole batch in one call.
  assert _scan_lengths(jax.make_jaxpr(chunked)(params, x).jaxpr) == (
      [scan_length] if scan_length else [])
  loops = lambda platform: 'while' in jax.export.export(chunked, platforms=[platform])(
      params, x).mlir_module()
  assert loops('cpu') == bool(scan_length) and not loops('cuda')


def _scan_lengths(jaxpr):
  """The lengths of the scans in `jaxpr` and every jaxpr inside it."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == 'scan':
      found.append(eqn.params['length'])
    for sub in jax.extend.core.jaxprs_in_params(eqn.params):
      found += _scan_lengths(sub)
  return found


def _python(code, **env):
  base = {k: v for k, v in os.environ.items()
          if k not in ('XLA_FLAGS',) + cpu_speedups.GLIBC_SETTINGS}
  proc = subprocess.run([sys.executable, '-c', code], env={**base, **env, 'PYTHONPATH': ROOT},
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc.stdout.strip()


@pytest.mark.slow
def test_importing_the_library_changes_no_process_state():
  code = ('import os, jax, flax, optax, orbax.checkpoint\n'
          'e = dict(os.environ)\n'
          'import flax_srae, flax_srae.training.train, flax_srae.training.evaluation, flax_srae.platform.cpu_speedups\n'
          'assert dict(os.environ) == e, set(os.environ.items()) ^ set(e.items())\n'
          'print("ok")')
  assert _python(code) == 'ok'


@pytest.mark.slow
def test_configure_restricts_ynnpack_to_dots_unless_xla_flags_name_the_option():
  code = ('import os; from flax_srae import cpu_speedups\n'
          'print(cpu_speedups.configure(["ynn_dots"])); print(os.environ["XLA_FLAGS"])')
  assert _python(code).splitlines() == ["['ynn_dots']", cpu_speedups.YNN_FLAG]
  out = _python(code, XLA_FLAGS='--xla_force_host_platform_device_count=2').splitlines()
  assert out[1] == f'--xla_force_host_platform_device_count=2 {cpu_speedups.YNN_FLAG}'
  # The user's choice stands, e.g. every YNNPACK fusion off.
  out = _python(code, XLA_FLAGS='--xla_cpu_experimental_ynn_fusion_type=').splitlines()
  assert out == ['[]', '--xla_cpu_experimental_ynn_fusion_type=']


# Frees a 32 MB block, then allocates and writes one again: how many page faults that costs.
_REUSE_FAULTS = """
import ctypes, resource
from flax_srae.platform import cpu_speedups
print(cpu_speedups.configure(['keep_freed_memory']) == ['keep_freed_memory'])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
size = 32 << 20
def touch():
  block = libc.malloc(size)
  libc.memset(block, 1, size)
  return block
libc.free(touch())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
libc.free(touch())
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != 'linux', reason='glibc malloc settings')
def test_keep_freed_memory_reuses_a_freed_block_and_leaves_user_settings_alone():
  changed, faults = _python(_REUSE_FAULTS).split()
  assert changed == 'True'
  assert int(faults) < 8, faults  # the block came back from the heap, already mapped
  # Importing the library alone leaves glibc's defaults: the block is mapped afresh.
  imported = _REUSE_FAULTS.replace("cpu_speedups.configure(['keep_freed_memory'])", "[]").replace(
      'from flax_srae import cpu_speedups', 'import flax_srae, flax_srae.training.train')
  changed, faults = _python(imported).split()
  assert changed == 'False' and int(faults) >= 16, faults
  # glibc's default mmaps and unmaps a block that size: at least one fault per 2 MB page.
  changed, faults = _python(_REUSE_FAULTS, MALLOC_TRIM_THRESHOLD_='131072').split()
  assert changed == 'False'
  assert int(faults) >= 16, faults


@pytest.mark.skipif(cpu_speedups._glibc() is None, reason='glibc only')  # pylint: disable=protected-access
def test_freed_memory_is_given_back_to_the_os():
  def resident_kb():
    with open('/proc/self/status') as f:
      return int(next(l for l in f if l.startswith('VmRSS:')).split()[1])
  # Many small blocks (below glibc's mmap threshold, so from the heap) touched, then freed.
  blocks = [bytearray(b'x' * 100_000) for _ in range(2000)]
  del blocks[:-1]  # the last one keeps the top of the heap from being trimmed by free alone
  before = resident_kb()
  cpu_speedups.give_back_freed_memory()
  assert before - resident_kb() > 100_000  # of the ~200 MB freed, more than 100 MB went back
