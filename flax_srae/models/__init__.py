"""Encoder/decoder models for x2 super-resolution and for coding images (Flax Linen, NHWC).

The super-resolution models are fully convolutional: one set of parameters serves every input
size. The autoencoder compresses images of one size, fixed by its config, into codes of
`latent_dim` values through a dense bottleneck. Their convolution layers are module fields (`conv`, `upsample`), as in flax/examples/imagenet, so
that faster forms of the same layers can be plugged in without changing the parameters
(`cpu_speedups.layers`).
"""
import dataclasses
import functools
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

import flax.linen as nn
from jax import lax
import jax.numpy as jnp

from flax_srae.data import image_ops

ModuleDef = Any

DTYPES = ('float32', 'bfloat16')
# Padding 1 for the stride-2 convolutions, as PyTorch's: 'SAME' would pad (0, 1) and centre
# the windows on odd pixels.
_PAD1 = ((1, 1), (1, 1))


def is_coder(config) -> bool:
  """Whether `config.model` compresses images into codes (the autoencoder) rather than
  upscaling them."""
  return spec(config).coder


def scale_of(config) -> int:
  """How many times larger than its input a model's output is."""
  return 1 if is_coder(config) else 2


def input_values(config) -> int:
  """The values of one image an autoencoder codes: hr_size x hr_size x channels."""
  return config.hr_size * config.hr_size * config.channels


class ConvTranspose2x(nn.ConvTranspose):
  """A 4x4 transposed convolution with stride 2: output exactly twice the input size, as
  PyTorch's `ConvTranspose2d(4, stride=2, padding=1)` (up to a flip of the kernel)."""
  kernel_size: Sequence[int] = (4, 4)
  strides: Sequence[int] = (2, 2)
  padding: Any = 'SAME'


class EncoderDecoder(nn.Module):
  """The encoder-decoder family (formerly "seed"): three-conv encoder to half resolution, transposed-conv decoder to twice
  the input's size.

  encoder Conv3x3(f0) ReLU, Conv3x3/2(f1) ReLU, Conv3x3(f2) ReLU      (features at H/2)
  decoder ConvT4x4/2(f1) ReLU, ConvT4x4/2(f0) ReLU, Conv3x3(channels)
  With `residual`, the output is added to the bicubic upsampling of the input and the last
  convolution starts at zero, so training starts at bicubic quality (VDSR's global residual).
  `dtype` is that of the hidden layers; the last convolution, the bicubic and the output are
  float32, whose 24-bit mantissa the pixels need (bfloat16's 8 bits would cap PSNR near 50 dB).
  """
  channels: int = 1
  features: Sequence[int] = (32, 64, 128)
  residual: bool = False
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  upsample: ModuleDef = ConvTranspose2x

  @nn.compact
  def __call__(self, x):
    h, w = x.shape[1:3]
    if h % 2 or w % 2:
      raise ValueError(f'input height and width must be even (the encoder halves them), got '
                       f'{h}x{w}: crop or pad the image by one pixel')
    _check_channels(x, self.channels)
    f0, f1, f2 = self.features
    y = nn.relu(self.conv(f0, (3, 3), dtype=self.dtype)(x))
    y = nn.relu(self.conv(f1, (3, 3), strides=(2, 2), padding=_PAD1, dtype=self.dtype)(y))
    y = nn.relu(self.conv(f2, (3, 3), dtype=self.dtype)(y))
    y = nn.relu(self.upsample(f1, dtype=self.dtype)(y))
    y = nn.relu(self.upsample(f0, dtype=self.dtype)(y))
    last_init = nn.initializers.zeros_init() if self.residual else nn.initializers.lecun_normal()
    y = self.conv(self.channels, (3, 3), kernel_init=last_init, dtype=jnp.float32)(y)
    if self.residual:
      y = y + image_ops.resize2x(x, 'cubic')
    return y


class Encoder(nn.Module):
  """Conv3x3/2(f0) ReLU, Conv3x3/2(f1) ReLU, Conv3x3(f2) ReLU, then a linear Dense of the
  flattened H/4 x W/4 x f2 features into `latent_dim` values: the code."""
  features: Sequence[int]
  latent_dim: int
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x):
    f0, f1, f2 = self.features
    y = nn.relu(self.conv(f0, (3, 3), strides=(2, 2), padding=_PAD1, dtype=self.dtype)(x))
    y = nn.relu(self.conv(f1, (3, 3), strides=(2, 2), padding=_PAD1, dtype=self.dtype)(y))
    y = nn.relu(self.conv(f2, (3, 3), dtype=self.dtype)(y))
    # The code is float32 whatever the hidden layers compute in: it is what users keep.
    return nn.Dense(self.latent_dim, dtype=jnp.float32)(y.reshape(y.shape[0], -1))


class Decoder(nn.Module):
  """Dense of the code into H/4 x W/4 x f2 features, ReLU, ConvT4x4/2(f1) ReLU,
  ConvT4x4/2(f0) ReLU, Conv3x3(channels): an image of `size` x `size`, linear output."""
  channels: int
  features: Sequence[int]
  size: int
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  upsample: ModuleDef = ConvTranspose2x

  @nn.compact
  def __call__(self, z):
    f0, f1, f2 = self.features
    side = self.size // 4
    y = nn.relu(nn.Dense(side * side * f2, dtype=self.dtype)(z)).reshape(-1, side, side, f2)
    y = nn.relu(self.upsample(f1, dtype=self.dtype)(y))
    y = nn.relu(self.upsample(f0, dtype=self.dtype)(y))
    # Linear, not a sigmoid: under MSE a sigmoid output can saturate at black and stay there.
    return self.conv(self.channels, (3, 3), dtype=jnp.float32)(y)


class Autoencoder(nn.Module):
  """A compressing convolutional autoencoder of `size` x `size` images with `channels`
  channels: `encode` maps each to a code of `latent_dim` values (fewer than the image's),
  `decode` rebuilds the image from it, and calling the model does both."""
  channels: int = 1
  features: Sequence[int] = (32, 64, 32)
  latent_dim: int = 32
  size: int = 28
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv
  upsample: ModuleDef = ConvTranspose2x

  def setup(self):
    self.encoder = Encoder(self.features, self.latent_dim, self.dtype, self.conv)
    self.decoder = Decoder(self.channels, self.features, self.size, self.dtype, self.conv,
                           self.upsample)

  def encode(self, x):
    if x.shape[1:3] != (self.size, self.size):
      raise ValueError(f'this autoencoder codes {self.size}x{self.size} images, got '
                       f'{x.shape[1]}x{x.shape[2]}')
    _check_channels(x, self.channels)
    return self.encoder(x)

  def decode(self, z):
    return self.decoder(z)

  def __call__(self, x):
    return self.decode(self.encode(x))


class ResidualSR(nn.Module):
  """EDSR-style residual network at low resolution with a sub-pixel output (no batch norm).

  head Conv3x3(width); `num_blocks` x [Conv3x3 ReLU Conv3x3, added to its input]; tail
  Conv3x3(channels * 4) on (body + head), zero-initialised; depth-to-space x2; added to the
  cubic upsampling of the input. All convolutions run on the input grid, a quarter of the
  output's pixels, and training starts exactly at cubic upsampling. With width 32 and 6 blocks
  it is the network of ../shared/peers/torch_photo_sr.py, whose upsampling is PyTorch's
  bicubic (`image_ops.cubic_upscale2x`). `dtype` is that of the hidden layers; the last
  convolution and the output are float32.
  """
  channels: int = 1
  width: int = 32
  num_blocks: int = 6
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x):
    _check_channels(x, self.channels)
    conv = functools.partial(self.conv, self.width, (3, 3), dtype=self.dtype)
    head = conv()(x)
    y = head
    for _ in range(self.num_blocks):
      y = y + conv()(nn.relu(conv()(y)))
    return _sub_pixel_on_cubic(self.conv, y + head, x)


class SubPixelSR(nn.Module):
  """ESPCN-style sub-pixel network: every convolution on the input grid.

  Conv5x5(width) ReLU, Conv3x3(width // 2) ReLU, Conv3x3(channels * 4) zero-initialised,
  depth-to-space x2, added to the cubic upsampling of the input. The zero start (in place of
  ESPCN's random one or ICNR) means training begins exactly at cubic, with no checkerboard.
  """
  channels: int = 1
  width: int = 64
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x):
    _check_channels(x, self.channels)
    y = nn.relu(self.conv(self.width, (5, 5), dtype=self.dtype)(x))
    y = nn.relu(self.conv(max(1, self.width // 2), (3, 3), dtype=self.dtype)(y))
    return _sub_pixel_on_cubic(self.conv, y, x)


# SAFMN's multi-scale levels: level i max-pools over 2**i pixels (level 0 not at all).
SAFM_LEVELS = 4


def _max_filter(x, size: int):
  """The maximum over the size x size window of every pixel (stride 1, -inf beyond the
  border), for `size` a power of two: the window covers offsets -(size - 1) // 2 to size // 2,
  so it always holds the pixel itself. Along each axis, maxima of windows of 1, 2, 4, ...
  pixels, each the maximum of two of the one before: log2(size) elementwise maxima, whose
  gradient is a select, cheaper on a CPU than `nn.max_pool`'s (XLA's select-and-scatter)."""
  if size & (size - 1):
    raise ValueError(f'max filter size must be a power of two, got {size}')
  before, after = (size - 1) // 2, size // 2
  x = jnp.pad(x, ((0, 0), (before, after), (before, after), (0, 0)), constant_values=-jnp.inf)
  for axis in (1, 2):
    span = 1
    while span < size:
      n = x.shape[axis] - span
      x = jnp.maximum(lax.slice_in_dim(x, 0, n, axis=axis),
                      lax.slice_in_dim(x, span, span + n, axis=axis))
      span *= 2
  return x


class SpatialModulation(nn.Module):
  """SAFM, the spatially-adaptive feature modulation of SAFMN (Sun et al., ICCV 2023).

  The features are split into `SAFM_LEVELS` near-equal channel groups (the width % 4
  leftover channels go to the finer levels). Group 0 gets a depthwise Conv3x3; group i > 0 the
  maximum over 2**i x 2**i windows, then a depthwise Conv3x3 whose taps lie 2**i pixels apart.
  The groups are concatenated, mixed by a Conv1x1, passed through GELU and multiply the input.

  SAFMN pools each group to (H / 2**i, W / 2**i) cells (`adaptive_max_pool2d`), convolves
  the cells and repeats each over its pixels (nearest upsampling). This is that computation
  undecimated: stride-1 windows, the convolution dilated by the cell size, so every pixel
  sees the cells centred on itself rather than those of one grid fixed at the image's
  corner. It takes any height and width (no cell boundaries, no truncated or padded last
  cells), computes the same function at any input size (SAFMN's cells grow with the image)
  and is translation-equivariant, so its reach is finite and tiles of an image equal the
  whole (`inference`): from level i a pixel looks 2**i + 2**i // 2 pixels away.
  """
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x):
    width = x.shape[-1]
    sizes = [width // SAFM_LEVELS + (i < width % SAFM_LEVELS) for i in range(SAFM_LEVELS)]
    levels, start = [], 0
    for i, size in enumerate(sizes):
      if not size:  # width < SAFM_LEVELS: the coarsest levels have no channels
        continue
      group = x[..., start:start + size]
      start += size
      cell = 2 ** i
      if cell > 1:
        group = _max_filter(group, cell)
      levels.append(self.conv(size, (3, 3), feature_group_count=size,
                              kernel_dilation=(cell, cell), dtype=self.dtype)(group))
    mixed = self.conv(width, (1, 1), dtype=self.dtype)(jnp.concatenate(levels, axis=-1))
    return nn.gelu(mixed, approximate=False) * x


class FeatureModulationBlock(nn.Module):
  """SAFMN's block: x + SAFM(LayerNorm(x)), then x + CCM(LayerNorm(x)), where CCM, the
  convolutional channel mixer, is Conv3x3(2 * width) GELU Conv1x1(width). LayerNorm is over
  the channels of each pixel (epsilon 1e-6, as SAFMN's); GELU is the exact (erf) one, as
  PyTorch's default."""
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x):
    width = x.shape[-1]
    norm = functools.partial(nn.LayerNorm, epsilon=1e-6, dtype=self.dtype)
    x = x + SpatialModulation(self.dtype, self.conv)(norm()(x))
    y = self.conv(2 * width, (3, 3), dtype=self.dtype)(norm()(x))
    return x + self.conv(width, (1, 1), dtype=self.dtype)(nn.gelu(y, approximate=False))


class FeatureModulationSR(nn.Module):
  """SAFMN-style network (Sun et al., "Spatially-Adaptive Feature Modulation for Efficient
  Image Super-Resolution", ICCV 2023), every layer on the input grid.

  head Conv3x3(width); `num_blocks` x `FeatureModulationBlock` (x + SAFM(LN(x)),
  x + CCM(LN(x))); tail Conv3x3(channels * 4) on (body + head), zero-initialised;
  depth-to-space x2; added to the cubic upsampling of the input, so training starts exactly
  at cubic (SAFMN itself has no cubic path and a random tail). SAFM's multi-scale max pooling
  is computed undecimated (`SpatialModulation`), which takes any input size. Parameters:
  9 c w + w (head) + b (21 w^2 + 18 w) + 36 c w + 4 c (tail), for c channels, width w and
  b blocks. `dtype` is that of the hidden layers; the last convolution and the output are
  float32.
  """
  channels: int = 1
  width: int = 28
  num_blocks: int = 8
  dtype: Any = jnp.float32
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x):
    _check_channels(x, self.channels)
    head = self.conv(self.width, (3, 3), dtype=self.dtype)(x)
    y = head
    for _ in range(self.num_blocks):
      y = FeatureModulationBlock(self.dtype, self.conv)(y)
    return _sub_pixel_on_cubic(self.conv, y + head, x)


def _safmn_reach(config) -> int:
  """Input pixels a safmn output pixel looks at on either side: head and tail 1 each, every
  block its coarsest SAFM level's window and taps (2**3 + 2**3 // 2) and CCM's Conv3x3 1."""
  cell = 2 ** (SAFM_LEVELS - 1)
  return 2 + config.num_blocks * (cell + cell // 2 + 1)


class ExpandedConv(nn.Module):
  """A convolution trained in expanded form and run collapsed (SESR's collapsible linear
  block, Bhardwaj et al. 2022): a kxk convolution into `expansion` x `features` channels, a
  1x1 convolution back to `features`, and the input added when it has `features` channels.
  Nothing non-linear comes between, so the three are exactly one kxk convolution
  (`collapse`): training sees a wider, easier-to-fit parameterisation, inference pays for the
  plain layer. It takes `nn.Conv`'s arguments as the models use them; `kernel_init` starts
  the 1x1 convolution, so a zero-initialised layer stays zero at the start."""
  features: int
  kernel_size: Sequence[int]
  strides: Any = 1
  padding: Any = 'SAME'
  dtype: Any = None
  kernel_init: Any = nn.initializers.lecun_normal()
  expansion: int = 4
  conv: ModuleDef = nn.Conv

  @nn.compact
  def __call__(self, x):
    if (self.strides not in (1, (1, 1)) or self.padding != 'SAME'
        or any(k % 2 == 0 for k in self.kernel_size)):
      raise ValueError('ExpandedConv runs odd kernels with stride 1 and SAME padding only (the '
                       'edsr and espcn layers), where the input added is the centre tap')
    wide = self.conv(self.expansion * self.features, self.kernel_size, dtype=self.dtype)(x)
    y = self.conv(self.features, (1, 1), kernel_init=self.kernel_init, dtype=self.dtype)(wide)
    return y + x if x.shape[-1] == self.features else y


def collapse(params):
  """The parameters of the plain model equal to a model built with `ExpandedConv` layers:
  each `ExpandedConv_i` becomes the `Conv_i` it computes (kernel W1.W2 plus the identity at
  the centre tap when the input width is the output's; bias b1.W2 + b2). Others pass as
  they are."""
  out = {}
  for name, value in params.items():
    if name.startswith('ExpandedConv_'):
      wide, narrow = value['Conv_0'], value['Conv_1']
      projection = narrow['kernel'][0, 0]                     # (expanded, out)
      kernel = jnp.einsum('hwie,eo->hwio', wide['kernel'], projection, precision='highest')
      k_h, k_w, c_in, c_out = kernel.shape
      if c_in == c_out:
        kernel = kernel.at[k_h // 2, k_w // 2].add(jnp.eye(c_in, dtype=kernel.dtype))
      plain = 'Conv_' + name.split('_')[-1]
      if plain in params:
        raise ValueError(f'{name} collapses into {plain}, which the model has already')
      out[plain] = {
          'kernel': kernel,
          'bias': jnp.dot(wide['bias'], projection, precision='highest') + narrow['bias']}
    else:
      out[name] = collapse(value) if isinstance(value, Mapping) else value
  return out


def _check_channels(x, channels: int) -> None:
  if x.shape[-1] != channels:
    raise ValueError(f'model expects {channels} channel(s), input has {x.shape[-1]}')


def _sub_pixel_on_cubic(conv: ModuleDef, features, x):
  """The sub-pixel models' output, built inside their compact `__call__`: a zero-initialised
  float32 Conv3x3 of `features` into 4x the channels of `x`, depth-to-space x2, added to the
  cubic upsampling of `x`, so training starts exactly there."""
  y = conv(4 * x.shape[-1], (3, 3), kernel_init=nn.initializers.zeros_init(),
           dtype=jnp.float32)(features)
  return depth_to_space(y) + image_ops.cubic_upscale2x(x)


def depth_to_space(y, scale: int = 2):
  """(N, H, W, C*s*s) -> (N, sH, sW, C) in PyTorch's pixel_shuffle order: channel
  k*s*s + i*s + j goes to pixel (s*h + i, s*w + j) of plane k."""
  n, h, w, cs = y.shape
  c = cs // (scale * scale)
  y = y.reshape(n, h, w, c, scale, scale).transpose(0, 1, 4, 2, 5, 3)
  return y.reshape(n, scale * h, scale * w, c)


def architecture_fields(model: str):
  """The config fields that fix `model`'s parameter shapes and meaning."""
  return ('model', 'channels') + REGISTRY[registered_name(model)].fields


def create_model(config, conv: ModuleDef = nn.Conv,
                 upsample: ModuleDef = ConvTranspose2x) -> nn.Module:
  """The model named by `config.model`, sized by its `architecture_fields`, computing in
  `config.dtype` (absent from configs saved before it existed: float32). `conv` and
  `upsample` (the encoder-decoder family's transposed convolutions) may be other forms of the same
  layers (`cpu_speedups.layers()`); Flax names parameters after the layer's class, so a
  replacement keeps the class name (`Conv`, `ConvTranspose2x`) to keep the checkpoints'.
  With `config.expansion` > 0 (edsr and espcn) every convolution is an `ExpandedConv` of it,
  for training; `collapse` turns its weights into the plain model's."""
  build = spec(config).build
  dtype = jnp.dtype(config.get('dtype', 'float32'))
  if config.get('expansion', 0):
    conv = functools.partial(ExpandedConv, expansion=config.expansion, conv=conv)
  return build(config, conv=conv, upsample=upsample, dtype=dtype)


@dataclasses.dataclass(frozen=True)
class Spec:
  """One model's declaration: what training, inference, export and checkpoints ask of it."""
  build: Callable[..., nn.Module]  # (config, conv=, upsample=, dtype=) -> the module
  fields: Tuple[str, ...]  # config fields that fix its parameters, beside model and channels
  coder: bool = False  # codes hr_size images into latent_dim values; else upscales x2
  # hr_size must divide by it: the model sees hr_size / 2 (x2) or hr_size (a coder), and the
  # encoder-decoder family's stride-2 encoder halves that, the autoencoder's quarters it.
  multiple: int = 4
  # Input pixels an output pixel looks at on either side (the tile overlap); None: the
  # encoder-decoder family's, for which `inference` uses the smallest overlap its tile test passes with.
  reach: Optional[Callable[[Any], int]] = None
  # Whole images of any size by the literature's protocol, and collapsible training blocks
  # (`expansion`), whose output layer takes `output_in(config)` channels.
  literature: bool = False
  output_in: Optional[Callable[[Any], int]] = None
  onnx: Optional[str] = None  # its builder in onnx_graph.NETWORKS (upscalers)


def _encoder_decoder(residual: bool):
  def build(config, conv, upsample, dtype):
    return EncoderDecoder(channels=config.channels, features=tuple(config.features),
                          residual=residual, dtype=dtype, conv=conv, upsample=upsample)
  return build


REGISTRY: Mapping[str, Spec] = {
    'encoder_decoder': Spec(_encoder_decoder(residual=False), ('features',),
                            onnx='encoder_decoder'),
    'encoder_decoder_residual': Spec(_encoder_decoder(residual=True), ('features',),
                                     onnx='encoder_decoder_residual'),
    'autoencoder': Spec(
        lambda config, conv, upsample, dtype: Autoencoder(
            channels=config.channels, features=tuple(config.features),
            latent_dim=config.latent_dim, size=config.hr_size, dtype=dtype, conv=conv,
            upsample=upsample),
        ('features', 'latent_dim', 'hr_size'), coder=True),
    'espcn': Spec(
        lambda config, conv, upsample, dtype: SubPixelSR(
            channels=config.channels, width=config.width, dtype=dtype, conv=conv),
        ('width', 'expansion'), multiple=2, reach=lambda config: 2 + 1 + 1, literature=True,
        output_in=lambda config: max(1, config.width // 2), onnx='espcn'),
    'edsr': Spec(
        lambda config, conv, upsample, dtype: ResidualSR(
            channels=config.channels, width=config.width, num_blocks=config.num_blocks,
            dtype=dtype, conv=conv),
        ('width', 'num_blocks', 'expansion'), multiple=2,
        reach=lambda config: 2 * config.num_blocks + 2, literature=True,
        output_in=lambda config: config.width, onnx='edsr'),
    # No ONNX graph is written for it (onnx_graph.NETWORKS): export it as StableHLO.
    'safmn': Spec(
        lambda config, conv, upsample, dtype: FeatureModulationSR(
            channels=config.channels, width=config.width, num_blocks=config.num_blocks,
            dtype=dtype, conv=conv),
        ('width', 'num_blocks'), multiple=2, reach=_safmn_reach, literature=True),
}
MODELS = tuple(REGISTRY)
# Names models had before they were named after their architecture: configs and checkpoints
# that use them still load.
FORMER_NAMES = {'seed': 'encoder_decoder', 'seed_residual': 'encoder_decoder_residual'}


def registered_name(name: str) -> str:
  """The registry's name of the model `name` (today's or a former one); unknown: `name`."""
  return FORMER_NAMES.get(name, name)


def spec(config) -> Spec:
  """The declaration of `config.model`."""
  name = registered_name(config.model)
  if name not in REGISTRY:
    raise ValueError(f'unknown model {config.model!r}: choose one of {", ".join(MODELS)}')
  return REGISTRY[name]
