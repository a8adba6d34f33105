"""Encoder/decoder models for x2 super-resolution and reconstruction (Flax Linen, NHWC).

All models are fully convolutional: one set of parameters serves every (even) input size.
"""
import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

MODELS = ('seed', 'seed_residual', 'autoencoder', 'espcn', 'edsr')
DTYPES = ('float32', 'bfloat16')
_NHWC = ('NHWC', 'HWIO', 'NHWC')  # dimension numbers of every convolution here


class ConvTranspose2x(nn.Module):
  """4x4, stride-2 transposed convolution (output exactly 2x the input size).

  Same parameters and same function as `nn.ConvTranspose(features, (4, 4), strides=(2, 2),
  padding='SAME')` (and PyTorch's `ConvTranspose2d(k=4, s=2, p=1)` up to a kernel flip), but
  computed as a sub-pixel convolution: each of the four output phases (row parity, column
  parity) is an ordinary 2x2 convolution of the input, and the phases are interleaved. XLA
  differentiates an input-dilated convolution very slowly (jax-ml/jax#23783); this form also
  skips the 3/4 of multiply-adds that hit inserted zeros.
  """
  features: int
  dtype: Any = jnp.float32   # of the computation; the parameters stay float32
  kernel_init: Callable[..., Any] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Any] = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x):
    x = x.astype(self.dtype)
    cin = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (4, 4, cin, self.features))
    bias = self.param('bias', self.bias_init, (self.features,))
    # With input-dilation and padding 2, output row 2m+p is sum_t kernel[2t+p] * x[m-1+p+t]
    # (t = 0, 1): phase p's 2x2 kernel is taps p and 2+p, over rows m-1+p and m+p.
    k = kernel.reshape(2, 2, 2, 2, cin, self.features).astype(x.dtype)  # (ty, py, tx, px, ...)
    y = jax.lax.platform_dependent(x, k, cpu=_phases_one_by_one, default=_phases_at_once)
    return y + bias.astype(self.dtype)


def _phases_one_by_one(x, k):
  """Four exact-size convolutions, one per phase. On 2 CPU cores XLA's own gradients of these
  ran 1.6x faster than `_phases_at_once`'s (seed training 1.2-1.3x faster); on an H200, slower."""
  return _interleave(lambda py, px: jax.lax.conv_general_dilated(
      x, k[:, py, :, px], (1, 1), ((1 - py, py), (1 - px, px)), dimension_numbers=_NHWC))


def _phases_at_once(x, k):
  """One convolution into the four phases' channels, on a grid one pixel larger."""
  n, h, w, cin = x.shape
  cout = k.shape[-1]
  z = _conv2x2(x, k.transpose(0, 2, 4, 1, 3, 5).reshape(2, 2, cin, 4 * cout))
  z = z.reshape(n, h + 1, w + 1, 2, 2, cout)
  # Phase (py, px) of output pixel (2m+py, 2l+px) sits at z[m+py, l+px, py, px].
  return _interleave(lambda py, px: z[:, py:py + h, px:px + w, py, px])


def _interleave(phase):
  """(n, 2h, 2w, c) whose pixel (2m+py, 2l+px) is pixel (m, l) of `phase(py, px)`, (n, h, w, c)."""
  y = jnp.stack([jnp.stack([phase(py, px) for px in (0, 1)], axis=3) for py in (0, 1)], axis=2)
  n, h, _, w, _, c = y.shape                                # (n, h, 2, w, 2, c)
  return y.reshape(n, 2 * h, 2 * w, c)


def _conv2x2_xla(x, k):
  return jax.lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC)


def _conv2x2_im2col(x, k):
  h, w = x.shape[1], x.shape[2]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  cols = jnp.concatenate([xp[:, i:i + h + 1, j:j + w + 1] for i in (0, 1) for j in (0, 1)], -1)
  return cols @ k.reshape(-1, k.shape[-1])


@jax.custom_vjp
def _conv2x2(x, k):
  """2x2 convolution with padding 1: XLA's own forward pass, and the backward pass of the same
  function written as im2col + one matmul, with which an H200 trained the seed model 1.4x
  faster (batch 1024) than with XLA's own gradient."""
  return _conv2x2_xla(x, k)


def _conv2x2_fwd(x, k):
  return _conv2x2_xla(x, k), (x, k)


def _conv2x2_bwd(residuals, g):
  return jax.vjp(_conv2x2_im2col, *residuals)[1](g)


_conv2x2.defvjp(_conv2x2_fwd, _conv2x2_bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, precision=None, **kwargs):
  """`jax.lax.conv_general_dilated`, as every `Conv` of these models computes it, except for two
  kinds of stride-1 convolution that XLA:CPU runs several times slower than their size warrants
  (its kernels want many input and output channels: on 16 x 64x64, a 3x3 convolution from 32
  channels to 4 took 5.4 ms and one from 1 to 32 took 1.7, against 6.9 for 32 to 32, with 8-9x
  their multiply-adds): the models' first layers, from 1-3 channels, are computed as one
  broadcast multiply-add per tap, and their last layers, into few channels, as a 1x1
  convolution into every tap's output followed by a sum of shifted slices. Same
  function, other float rounding (~1e-7 relative); the gradient stays XLA's own, which these
  forms did not speed up. Measured on 2 CPU cores: photo inference +15-20%, seed inference +5%
  (experiments/README.md)."""
  kh, kw, cin, cout = rhs.shape
  plain = (lhs.ndim == 4 and tuple(window_strides) == (1, 1) and feature_group_count == 1
           and set(lhs_dilation or (1,)) == {1} and set(rhs_dilation or (1,)) == {1}
           and not kwargs
           and dimension_numbers == jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC))
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
  # A 1x1 convolution, not a dot: XLA:CPU's YNNPACK fusion would pull a dot's producers, the
  # whole network, into one slow fused region (measured: 2.8x slower inference).
  taps = _xla_valid_conv(precision, x, k.transpose(2, 0, 1, 3).reshape(1, 1, cin, kh * kw * cout))
  return sum(taps[:, i:i + h, j:j + w, (i * kw + j) * cout:(i * kw + j + 1) * cout]
             for i in range(kh) for j in range(kw))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _valid_conv(form, precision, x, k):
  return form(precision, x, k)


def _valid_conv_fwd(form, precision, x, k):
  return form(precision, x, k), (x, k)


def _valid_conv_bwd(form, precision, residuals, g):
  del form
  return jax.vjp(functools.partial(_xla_valid_conv, precision), *residuals)[1](g)


_valid_conv.defvjp(_valid_conv_fwd, _valid_conv_bwd)


class EncoderDecoder(nn.Module):
  """The seed family: three-conv encoder to half resolution, transposed-conv decoder.

  encoder Conv3x3(f0) ReLU, Conv3x3/2(f1) ReLU, Conv3x3(f2) ReLU      (latent at H/2)
  decoder ConvT4x4/2(f1) ReLU, then for scale 2 ConvT4x4/2(f0), for scale 1 Conv3x3(f0), ReLU,
          Conv3x3(channels)
  With `residual`, the output is added to the bicubic upsampling of the input and the last
  convolution starts at zero, so training starts at bicubic quality (VDSR's global residual).
  `dtype` is that of the hidden layers; the last convolution, the bicubic and the output are
  float32, whose 24-bit mantissa the pixels need (bfloat16's 8 bits would cap PSNR near 50 dB).
  """
  channels: int = 1
  features: Sequence[int] = (32, 64, 128)
  scale: int = 2
  residual: bool = False
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    h, w = x.shape[1:3]
    if h % 2 or w % 2:
      raise ValueError(f'input height and width must be even (the encoder halves them), got '
                       f'{h}x{w}: crop or pad the image by one pixel')
    _check_channels(x, self.channels)
    f0, f1, f2 = self.features
    dtype = self.dtype
    y = nn.relu(Conv(f0, (3, 3), dtype=dtype)(x))
    # Explicit padding 1, as PyTorch's: 'SAME' would pad (0, 1) and centre the windows on odd
    # pixels, a different (shifted) model.
    y = nn.relu(Conv(f1, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), dtype=dtype)(y))
    y = nn.relu(Conv(f2, (3, 3), dtype=dtype)(y))
    y = nn.relu(ConvTranspose2x(f1, dtype=dtype)(y))
    y = (ConvTranspose2x(f0, dtype=dtype)(y) if self.scale == 2
         else Conv(f0, (3, 3), dtype=dtype)(y))
    y = nn.relu(y)
    last_init = nn.initializers.zeros_init() if self.residual else nn.initializers.lecun_normal()
    y = Conv(self.channels, (3, 3), kernel_init=last_init, dtype=jnp.float32)(y)
    if self.residual:
      y = y + bicubic_upscale(x, self.scale)
    return y


class ResidualSR(nn.Module):
  """EDSR-style residual network at low resolution with a sub-pixel output (no batch norm).

  head Conv3x3(width); `num_blocks` x [Conv3x3 ReLU Conv3x3, added to its input]; tail
  Conv3x3(channels * 4) on (body + head), zero-initialised; depth-to-space x2; added to the
  bicubic upsampling of the input. All convolutions run on the input grid, a quarter of the
  output's pixels, and training starts exactly at bicubic. With width 32 and 6 blocks it is the
  network of ../shared/peers/torch_photo_sr.py (112,452 parameters for one channel), whose
  bicubic is PyTorch's: `cubic_upscale2x` (sharper than `bicubic_upscale`: +0.2 dB on photos).
  `dtype` is that of the hidden layers; the last convolution and the output are float32.
  """
  channels: int = 1
  width: int = 32
  num_blocks: int = 6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    _check_channels(x, self.channels)
    conv = functools.partial(Conv, self.width, (3, 3), dtype=self.dtype)
    head = conv()(x)
    y = head
    for _ in range(self.num_blocks):
      y = y + conv()(nn.relu(conv()(y)))
    return _sub_pixel_on_cubic(y + head, x)


class SubPixelSR(nn.Module):
  """ESPCN-style sub-pixel network: every convolution on the input grid.

  Conv5x5(width) ReLU, Conv3x3(width // 2) ReLU, Conv3x3(channels * 4) zero-initialised,
  depth-to-space x2, added to the cubic upsampling of the input. The zero start (in place of
  ESPCN's random one or ICNR) means training begins exactly at bicubic, with no checkerboard.
  """
  channels: int = 1
  width: int = 64
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    _check_channels(x, self.channels)
    y = nn.relu(Conv(self.width, (5, 5), dtype=self.dtype)(x))
    y = nn.relu(Conv(max(1, self.width // 2), (3, 3), dtype=self.dtype)(y))
    return _sub_pixel_on_cubic(y, x)


def _check_channels(x, channels: int) -> None:
  if x.shape[-1] != channels:
    raise ValueError(f'model expects {channels} channel(s), input has {x.shape[-1]}')


def _sub_pixel_on_cubic(y, x):
  """The sub-pixel models' output, built inside their compact __call__: a zero-initialised
  float32 Conv3x3 of `y` into 4x the channels of `x`, depth-to-space x2, added to the cubic
  upsampling of `x`, so training starts exactly at cubic."""
  y = Conv(4 * x.shape[-1], (3, 3), kernel_init=nn.initializers.zeros_init(),
           dtype=jnp.float32)(y)
  return depth_to_space(y) + cubic_upscale2x(x)


def depth_to_space(y, scale: int = 2):
  """(N, H, W, C*s*s) -> (N, sH, sW, C) in PyTorch's pixel_shuffle order: channel
  k*s*s + i*s + j goes to pixel (s*h + i, s*w + j) of plane k."""
  n, h, w, cs = y.shape
  c = cs // (scale * scale)
  y = y.reshape(n, h, w, c, scale, scale).transpose(0, 1, 4, 2, 5, 3)
  return y.reshape(n, scale * h, scale * w, c)


def _keys_cubic(t: float, a: float) -> float:
  t = abs(t)
  if t <= 1:
    return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
  return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a if t < 2 else 0.0


def cubic_upscale2x(x, a: float = -0.75):
  """x2 cubic-convolution upsampling of NHWC, as PyTorch's `interpolate(mode='bicubic',
  align_corners=False)` (Keys kernel with a=-0.75, edge pixels repeated). Output pixel 2i+p
  samples the input at i - 1/4 + p/2, so each phase is a fixed 4-tap filter: a few fused
  multiply-adds instead of `jax.image.resize`'s dense resampling matrices."""
  even = [_keys_cubic(d, a) for d in (1.75, 0.75, 0.25, 1.25)]  # taps i-2 .. i+1
  odd = even[::-1]                                                # taps i-1 .. i+2
  for axis in (1, 2):
    n = x.shape[axis]
    pad = [(0, 0)] * 4
    pad[axis] = (2, 2)
    xp = jnp.pad(x, pad, mode='edge')
    tap = lambda start: jax.lax.slice_in_dim(xp, start, start + n, axis=axis)
    phases = [sum(w * tap(t) for t, w in enumerate(even)),
              sum(w * tap(t + 1) for t, w in enumerate(odd))]
    x = jnp.stack(phases, axis=axis + 1)
    shape = list(x.shape)
    x = x.reshape(shape[:axis] + [2 * n] + shape[axis + 2:])
  return x


def bicubic_upscale(x, scale: int = 2):
  """Bicubic resize of an NHWC batch by `scale` (the baseline every model is measured against)."""
  n, h, w, c = x.shape
  return jax.image.resize(x, (n, h * scale, w * scale, c), 'bicubic')


def architecture_fields(model: str):
  """The config fields that fix `model`'s parameter shapes and meaning."""
  sizes = {'edsr': ('width', 'num_blocks'), 'espcn': ('width',)}
  return ('model', 'channels') + sizes.get(model, ('features',))


def create_model(config) -> nn.Module:
  """The model named by `config.model`, sized by its `architecture_fields`, computing in
  `config.dtype` (absent from configs saved before it existed: float32)."""
  if config.model not in MODELS:
    raise ValueError(f'unknown model {config.model!r}: choose one of {", ".join(MODELS)}')
  dtype = jnp.dtype(config.get('dtype', 'float32'))
  if config.model == 'espcn':
    return SubPixelSR(channels=config.channels, width=config.width, dtype=dtype)
  if config.model == 'edsr':
    return ResidualSR(channels=config.channels, width=config.width, num_blocks=config.num_blocks,
                      dtype=dtype)
  return EncoderDecoder(
      channels=config.channels, features=tuple(config.features),
      scale=1 if config.model == 'autoencoder' else 2,
      residual=config.model == 'seed_residual', dtype=dtype)
