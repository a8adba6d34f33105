"""What makes these models fast on XLA:CPU, kept apart from the models and plugged in.

Each is measured with and without on the PyTorch peers' benchmarks (experiments/README.md,
"What each CPU speed-up gains") and kept only where it gains clearly:

- Layers: other forms of `nn.Conv` (few input or output channels, depthwise) and of the
  encoder-decoder family's transposed convolution, with the same parameters and the same
  function (tested against the plain Flax layers, outputs and gradients). `layers()` gives
  them to `models.create_model` when the model runs on a CPU.
- Chunked inference: `apply_in_chunks` runs a large batch as a sequence of small ones on a CPU.
- Process settings: `configure()` restricts XLA:CPU's YNNPACK fusions to dots (in XLA_FLAGS)
  and makes glibc keep the memory XLA:CPU frees. They change the whole process, so the
  library never calls it: the command-line entry points do, before JAX starts, and a program
  of yours may.

`SPEEDUPS` names them all; the benchmark's `--speedups` turns each off to measure it.
"""
import ctypes
import functools
import os
import sys
from typing import Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp

from flax_srae import models

SPEEDUPS = ('subpixel_upsample', 'conv_forms', 'inference_chunks', 'ynn_dots',
            'keep_freed_memory')

# Exact fusion types replace XLA:CPU's default list, whose YNNPACK fusions (reductions,
# transposes, ...) slow these models' training (experiments/README.md); dots stay with
# YNNPACK.
YNN_FLAG = '--xla_cpu_experimental_ynn_fusion_type=dot'

# glibc reads these at start-up: where the user set them, their choice stands.
GLIBC_SETTINGS = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES')
# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
KEEP_BELOW = 1 << 30  # bytes: blocks below this come from the heap and stay there when freed

_NHWC = ('NHWC', 'HWIO', 'NHWC')  # dimension numbers of every convolution here


def configure(speedups: Iterable[str] = SPEEDUPS) -> list:
  """Sets the process-wide CPU settings among `speedups` and returns those it set.

  'ynn_dots' adds `YNN_FLAG` to XLA_FLAGS, unless XLA_FLAGS already names that option; JAX
  reads XLA_FLAGS when it starts its CPU backend, so call this before the first JAX
  computation. 'keep_freed_memory' raises glibc's mmap and trim thresholds to `KEEP_BELOW`: XLA:CPU
  mallocs each step's buffers afresh, and under glibc's defaults every step faults them in
  again, page by page. The process then keeps its peak memory until it exits. Nothing is set
  outside Linux/glibc, or when the environment holds glibc's own settings (`GLIBC_SETTINGS`).
  """
  done = []
  if 'ynn_dots' in speedups and 'xla_cpu_experimental_ynn_fusion_type' not in os.environ.get(
      'XLA_FLAGS', ''):
    os.environ['XLA_FLAGS'] = f'{os.environ.get("XLA_FLAGS", "")} {YNN_FLAG}'.strip()
    done.append('ynn_dots')
  if 'keep_freed_memory' in speedups and _keep_freed_memory():
    done.append('keep_freed_memory')
  return done


def _glibc():
  """The C library when it is glibc (not musl, not macOS), else None."""
  if sys.platform != 'linux':
    return None
  try:
    libc = ctypes.CDLL(None)
  except OSError:
    return None
  return libc if hasattr(libc, 'gnu_get_libc_version') else None  # only glibc has it


def give_back_freed_memory() -> bool:
  """Returns the memory freed so far to the OS (glibc's malloc_trim): a long-running server's
  threads each leave freed memory in their own arena, and its size would otherwise creep up
  with every request of a new size or count of threads. Whether anything was given back."""
  libc = _glibc()
  return bool(libc and libc.malloc_trim(0))


def _keep_freed_memory() -> bool:
  if any(name in os.environ for name in GLIBC_SETTINGS):
    return False
  libc = _glibc()
  if libc is None:
    return False
  return all(libc.mallopt(param, KEEP_BELOW) == 1
             for param in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD))


def layers(speedups: Iterable[str] = SPEEDUPS) -> dict:
  """Keyword arguments of `models.create_model` for a model that runs on this process's
  default backend: the CPU forms among `speedups` on a CPU, none elsewhere."""
  if jax.default_backend() != 'cpu':
    return {}
  forms = {}
  if 'conv_forms' in speedups:
    forms['conv'] = Conv
  if 'subpixel_upsample' in speedups:
    forms['upsample'] = ConvTranspose2x
  return forms


class ConvTranspose2x(models.ConvTranspose2x):
  """`models.ConvTranspose2x` (same name, so the same parameter names) computed as a
  sub-pixel convolution: each of the four output phases (row parity, column parity) is an
  exact-size 2x2 convolution of the input, and the phases are interleaved. XLA differentiates
  the input-dilated convolution of `nn.ConvTranspose` very slowly (jax-ml/jax#23783); this
  form also skips the 3/4 of multiply-adds that hit inserted zeros."""

  @nn.compact
  def __call__(self, x):
    if ((tuple(self.kernel_size), tuple(self.strides), self.padding, self.kernel_dilation,
         self.use_bias, self.mask, self.transpose_kernel, self.preferred_element_type)
        != ((4, 4), (2, 2), 'SAME', None, True, None, False, None)):
      raise ValueError('cpu_speedups.ConvTranspose2x computes the 4x4, stride-2, SAME-padded '
                       'transposed convolution with bias only; use nn.ConvTranspose for others')
    cin = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (4, 4, cin, self.features), self.param_dtype)
    bias = self.param('bias', self.bias_init, (self.features,), self.param_dtype)
    x, kernel, bias = self.promote_dtype(x, kernel, bias, dtype=self.dtype)
    # With input dilation and padding 2, output row 2m+p is sum_t kernel[2t+p] * x[m-1+p+t]
    # (t = 0, 1): phase p's 2x2 kernel is taps p and 2+p, over rows m-1+p and m+p.
    k = kernel.reshape(2, 2, 2, 2, cin, self.features)  # (ty, py, tx, px, in, out)
    y = _interleave(lambda py, px: jax.lax.conv_general_dilated(
        x, k[:, py, :, px], (1, 1), ((1 - py, py), (1 - px, px)), dimension_numbers=_NHWC,
        precision=self.precision))
    return y + bias


def _interleave(phase):
  """(n, 2h, 2w, c) whose pixel (2m+py, 2l+px) is pixel (m, l) of `phase(py, px)`, (n, h, w, c)."""
  y = jnp.stack([jnp.stack([phase(py, px) for px in (0, 1)], axis=3) for py in (0, 1)], axis=2)
  n, h, _, w, _, c = y.shape                                # (n, h, 2, w, 2, c)
  return y.reshape(n, 2 * h, 2 * w, c)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, precision=None, **kwargs):
  """`jax.lax.conv_general_dilated`, except for three kinds of stride-1 convolution that
  XLA:CPU runs several times slower than their size warrants (its kernels want many input
  and output channels): the models' first layers, from 1-3 channels, are computed as one
  broadcast multiply-add per tap, and their last layers, into few channels, as a 1x1
  convolution into every tap's output followed by a sum of shifted slices; for these the
  gradient stays XLA's own. Depthwise convolutions (one filter per channel, safmn's, dilated
  or not), which XLA:CPU runs ~10x slower forward and backward than their multiply-adds, are
  one multiply-add per tap, differentiated as such. Same function, other float rounding
  (~1e-7 relative)."""
  kh, kw, cin, cout = rhs.shape
  nhwc = (lhs.ndim == 4 and tuple(window_strides) == (1, 1) and set(lhs_dilation or (1,)) == {1}
          and not kwargs
          and dimension_numbers == jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC))
  if (nhwc and feature_group_count > 1 and cin == 1
      and feature_group_count == lhs.shape[-1] == cout):
    return _depthwise_by_taps(lhs, rhs, padding, tuple(rhs_dilation or (1, 1)))
  plain = nhwc and feature_group_count == 1 and set(rhs_dilation or (1,)) == {1}
  form = None
  if plain:
    form = _conv_by_taps if cin <= 3 else _conv_into_taps if kh * kw * cout <= 3 * cin else None
  if form is None:
    return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                        rhs_dilation, dimension_numbers, feature_group_count,
                                        precision=precision, **kwargs)
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], (kh, kw), (1, 1), padding)
  x = jnp.pad(lhs, ((0, 0), *padding, (0, 0)))
  return _valid_conv(form, precision, x, rhs)


Conv = functools.partial(nn.Conv, conv_general_dilated=conv_general_dilated)


def _depthwise_by_taps(x, k, padding, dilation):
  """A stride-1 depthwise convolution (k: (kh, kw, 1, channels)) with taps `dilation` apart:
  a multiply-add of a shifted slice per tap. Its autodiff gradient (pads and sums) is as fast,
  unlike XLA:CPU's of the grouped convolution."""
  kh, kw = k.shape[:2]
  dy, dx = dilation
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(x.shape[1:3], ((kh - 1) * dy + 1, (kw - 1) * dx + 1),
                                      (1, 1), padding)
  x = jnp.pad(x, ((0, 0), *padding, (0, 0)))
  h, w = x.shape[1] - (kh - 1) * dy, x.shape[2] - (kw - 1) * dx
  return sum(x[:, i * dy:i * dy + h, j * dx:j * dx + w] * k[i, j, 0]
             for i in range(kh) for j in range(kw))


def _xla_valid_conv(precision, x, k):
  return jax.lax.conv_general_dilated(x, k, (1, 1), 'VALID', dimension_numbers=_NHWC,
                                      precision=precision)


def _conv_by_taps(precision, x, k):
  del precision  # elementwise products: nothing to choose
  kh, kw = k.shape[:2]
  h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  return sum(x[:, i:i + h, j:j + w, c:c + 1] * k[i, j, c]
             for i in range(kh) for j in range(kw) for c in range(k.shape[2]))


def _conv_into_taps(precision, x, k):
  kh, kw, cin, cout = k.shape
  h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
  # A 1x1 convolution, not a dot: YNNPACK's dot fusion (`YNN_FLAG`) would pull a dot's
  # producers, the whole network, into one slow fused region.
  taps = _xla_valid_conv(precision, x, k.transpose(2, 0, 1, 3).reshape(1, 1, cin, kh * kw * cout))
  return sum(taps[:, i:i + h, j:j + w, (i * kw + j) * cout:(i * kw + j + 1) * cout]
             for i in range(kh) for j in range(kw))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _valid_conv(form, precision, x, k):
  return form(precision, x, k)


def _valid_conv_fwd(form, precision, x, k):
  return form(precision, x, k), (x, k)


def _valid_conv_bwd(form, precision, residuals, g):
  del form  # the rewritten forms' own gradients were no faster than XLA's
  return jax.vjp(functools.partial(_xla_valid_conv, precision), *residuals)[1](g)


_valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


# Input pixels per sequential chunk of an inference batch on CPUs (32 images of 28x28): a
# whole batch's activations overflow the cache, and XLA:CPU then runs slower per image.
CHUNK_PIXELS = 32 * 28 * 28


def apply_in_chunks(apply, x, chunk_pixels: int = CHUNK_PIXELS):
  """`apply(x)` on an NHWC batch. Compiled for a CPU, it runs in chunks of as many images as
  fit in `chunk_pixels` input pixels (at least one), one chunk after another (`lax.map`: one
  compiled body), then the remainder; for other devices in one call. The outputs are equal
  up to float rounding either way."""
  size = max(1, chunk_pixels // (x.shape[1] * x.shape[2]))
  if len(x) <= size:
    return apply(x)
  return jax.lax.platform_dependent(x, cpu=functools.partial(_in_chunks, apply, size),
                                    default=apply)


def _in_chunks(apply, size: int, x):
  chunks = len(x) // size
  y = jax.lax.map(apply, x[:chunks * size].reshape(chunks, size, *x.shape[1:]))
  y = y.reshape(chunks * size, *y.shape[2:])
  return y if chunks * size == len(x) else jnp.concatenate([y, apply(x[chunks * size:])])
