"""A trained model as ONNX graphs of standard operators: `Upscaler.upscale`, or an autoencoder's
`Coder.encode` and `Coder.decode`, outside JAX.

An upscaler's graph takes float32 NHWC images in [0, 1] with the model's channel count, of any
batch, height and width, and returns what `flax_srae.load(...).upscale(x)` returns for them:
`inference.network_input` (input clipped, a literature-protocol luma model's studio range),
odd sizes reflect-padded to even and cropped back, `inference.network_output`. An autoencoder is two graphs (`build_coder`): its
encoder, from images of its size (clipped) to codes, and its decoder, from codes to images
(clipped). They are built from the config and the weights, layer by layer as `models.py`
defines each architecture (tested against the Flax models), in the NCHW layout of ONNX's Conv.

jax2onnx, which would trace the JAX function instead, was tried and not used: 0.13 and 0.17
mis-convert the slices and padding `upscale` needs, on JAX 0.10 and 0.12, and 0.16+ pin
orbax-checkpoint below the version this package needs (experiments/README.md, "ONNX").
"""
import functools
import itertools

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper

from flax_srae.data import image_ops
from flax_srae.data import input_pipeline
from flax_srae import models

OPSET = 17  # Resize's cubic modes, Pad's pads as an input, DepthToSpace CRD
INPUT, OUTPUT = 'images', 'upscaled'
CODES, DECODED = 'codes', 'decoded'  # an autoencoder's encoder output / decoder input, and
                                     # its decoder's output (the encoder's input is INPUT)


class _Graph:
  """Nodes and constants of a graph under construction; each op returns its output's name."""

  def __init__(self):
    self.nodes, self.constants = [], []
    self._names = itertools.count()

  def const(self, value, dtype=np.float32) -> str:
    name = f'c{next(self._names)}'
    self.constants.append(numpy_helper.from_array(np.asarray(value, dtype), name))
    return name

  def op(self, op_type: str, *inputs: str, **attributes) -> str:
    name = f'{op_type.lower()}{next(self._names)}'
    self.nodes.append(helper.make_node(op_type, list(inputs), [name], name=name, **attributes))
    return name

  def branch(self, build) -> onnx.GraphProto:
    """A subgraph of an If node: `build(graph)` returns its output; it may use this graph's
    values by name."""
    sub = _Graph()
    sub._names = self._names  # pylint: disable=protected-access  (names unique across both)
    out = build(sub)
    return helper.make_graph(sub.nodes, f'branch_{out}', [],
                             [helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None)],
                             sub.constants)

  def conv(self, x: str, layer, stride: int = 1) -> str:
    """Flax's nn.Conv (HWIO kernel, odd size, 'SAME'; the encoder's stride-2 convolution pads
    1 on each side too)."""
    kernel = np.asarray(layer['kernel'], np.float32)
    pad = kernel.shape[0] // 2
    return self.op('Conv', x, self.const(kernel.transpose(3, 2, 0, 1)),
                   self.const(layer['bias']), pads=[pad] * 4, strides=[stride] * 2)

  def conv_transpose2x(self, x: str, layer) -> str:
    """`models.ConvTranspose2x`: Flax convolves the 2x-dilated input with the kernel as it is
    (padding 2); ONNX's ConvTranspose does so with the kernel flipped, in (in, out) order."""
    kernel = np.asarray(layer['kernel'], np.float32)[::-1, ::-1].transpose(2, 3, 0, 1)
    return self.op('ConvTranspose', x, self.const(kernel), self.const(layer['bias']),
                   pads=[1] * 4, strides=[2, 2])

  def dense(self, x: str, layer) -> str:
    """Flax's nn.Dense on (batch, features) rows."""
    return self.op('Add', self.op('MatMul', x, self.const(layer['kernel'])),
                   self.const(layer['bias']))

  def relu(self, x: str) -> str:
    return self.op('Relu', x)

  def add(self, x: str, y: str) -> str:
    return self.op('Add', x, y)

  def upscale2x(self, x: str, a: float, exclude_outside: int) -> str:
    """Cubic x2 resampling at half-pixel centres: a=-0.75 with edge pixels repeated is
    `image_ops.cubic_upscale2x` (PyTorch's), a=-0.5 with out-of-image taps dropped and the
    rest renormalised is `jax.image.resize`'s 'cubic'."""
    return self.op('Resize', x, '', self.const([1, 1, 2, 2]), mode='cubic', cubic_coeff_a=a,
                   exclude_outside=exclude_outside,
                   coordinate_transformation_mode='half_pixel')


def _layers(params, name: str):
  """Flax's auto-named layers of one class in creation order: Conv_0, Conv_1, ..."""
  return (params[f'{name}_{i}'] for i in itertools.count())


def _encoder_decoder(g: _Graph, x: str, params, config, residual: bool = False) -> str:
  conv, up = _layers(params, 'Conv'), _layers(params, 'ConvTranspose2x')
  y = g.relu(g.conv(x, next(conv)))
  y = g.relu(g.conv(y, next(conv), stride=2))
  y = g.relu(g.conv(y, next(conv)))
  y = g.relu(g.conv_transpose2x(y, next(up)))
  y = g.relu(g.conv_transpose2x(y, next(up)))
  y = g.conv(y, next(conv))
  del config
  if residual:
    y = g.add(y, g.upscale2x(x, -0.5, exclude_outside=1))
  return y


def _sub_pixel_on_cubic(g: _Graph, features: str, x: str, layer) -> str:
  # DepthToSpace's CRD mode is PyTorch's pixel_shuffle order, that of `models.depth_to_space`.
  y = g.op('DepthToSpace', g.conv(features, layer), blocksize=2, mode='CRD')
  return g.add(y, g.upscale2x(x, -0.75, exclude_outside=0))


def _edsr(g: _Graph, x: str, params, config) -> str:
  conv = _layers(params, 'Conv')
  head = g.conv(x, next(conv))
  y = head
  for _ in range(config.num_blocks):
    # models.ResidualSR writes `conv()(relu(conv()(y)))`: Python makes the outer layer first,
    # so it has the lower number though it runs second.
    second, first = next(conv), next(conv)
    y = g.add(y, g.conv(g.relu(g.conv(y, first)), second))
  return _sub_pixel_on_cubic(g, g.add(y, head), x, next(conv))


def _espcn(g: _Graph, x: str, params, config) -> str:
  del config
  conv = _layers(params, 'Conv')
  y = g.relu(g.conv(x, next(conv)))
  y = g.relu(g.conv(y, next(conv)))
  return _sub_pixel_on_cubic(g, y, x, next(conv))


# The upscalers' graphs, named by their `models.Spec.onnx`.
NETWORKS = {'encoder_decoder': _encoder_decoder,
            'encoder_decoder_residual': functools.partial(_encoder_decoder, residual=True),
            'edsr': _edsr, 'espcn': _espcn}


def _model(g: _Graph, name: str, inputs, outputs) -> onnx.ModelProto:
  graph = helper.make_graph(g.nodes, name, inputs, outputs, g.constants)
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)],
                            producer_name='flax_srae')
  onnx.checker.check_model(model)
  return model


def _encoder(g: _Graph, params) -> None:
  """`models.Encoder` from INPUT (NHWC) to CODES."""
  conv = _layers(params, 'Conv')
  x = g.op('Transpose', g.op('Clip', INPUT, g.const(0.0), g.const(1.0)), perm=[0, 3, 1, 2])
  y = g.relu(g.conv(x, next(conv), stride=2))
  y = g.relu(g.conv(y, next(conv), stride=2))
  y = g.relu(g.conv(y, next(conv)))
  # Flax flattens NHWC features: back to that order before the dense layer.
  y = g.op('Flatten', g.op('Transpose', y, perm=[0, 2, 3, 1]), axis=1)
  g.nodes.append(helper.make_node('Identity', [g.dense(y, params['Dense_0'])], [CODES]))


def _decoder(g: _Graph, params, config) -> None:
  """`models.Decoder` from CODES to DECODED (NHWC, clipped to [0, 1])."""
  conv, up = _layers(params, 'Conv'), _layers(params, 'ConvTranspose2x')
  side, width = config.hr_size // 4, config.features[2]
  y = g.relu(g.dense(CODES, params['Dense_0']))
  y = g.op('Transpose', g.op('Reshape', y, g.const([-1, side, side, width], np.int64)),
           perm=[0, 3, 1, 2])
  y = g.relu(g.conv_transpose2x(y, next(up)))
  y = g.relu(g.conv_transpose2x(y, next(up)))
  y = g.op('Clip', g.conv(y, next(conv)), g.const(0.0), g.const(1.0))
  g.nodes.append(helper.make_node('Transpose', [y], [DECODED], perm=[0, 2, 3, 1]))


def build_coder(config, params, name: str = 'flax_srae'):
  """(encoder, decoder): the ONNX models of an autoencoder's `Coder.encode` on float32 NHWC
  images of its size and of `Coder.decode` on float32 codes."""
  side, channels = config.hr_size, config.channels
  images = lambda n: helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT,
                                                   ['batch', side, side, channels])
  codes = helper.make_tensor_value_info(CODES, onnx.TensorProto.FLOAT,
                                        ['batch', config.latent_dim])
  encoder, decoder = _Graph(), _Graph()
  _encoder(encoder, params['encoder'])
  _decoder(decoder, params['decoder'], config)
  return (_model(encoder, f'{name}_encoder', [images(INPUT)], [codes]),
          _model(decoder, f'{name}_decoder', [codes], [images(DECODED)]))


def build(config, params, name: str = 'flax_srae') -> onnx.ModelProto:
  """The ONNX model of `Upscaler(config, params, step).upscale` on float32 NHWC input."""
  g = _Graph()
  network = NETWORKS[models.spec(config).onnx]
  studio = input_pipeline.protocol_of(config).studio_luma(config)
  zero, one = g.const(0.0), g.const(1.0)
  x = g.op('Clip', INPUT, zero, one)
  if studio:
    x = g.op('Add', g.op('Mul', x, g.const(image_ops.STUDIO_GAIN)),
             g.const(image_ops.STUDIO_OFFSET))
  x = g.op('Transpose', x, perm=[0, 3, 1, 2])
  # The encoder halves its input: odd sizes are padded by one row or column at the bottom or
  # right and the output cropped back, as `Upscaler` does: by reflection, or, when either
  # side is 1 pixel long (nothing to reflect), by repetition on both.
  size = g.op('Slice', g.op('Shape', x), g.const([2], np.int64), g.const([4], np.int64))
  pads = g.op('Concat', g.const([0] * 6, np.int64), g.op('Mod', size, g.const([2, 2], np.int64)),
              axis=0)
  x = g.op('If', g.op('Greater', g.op('ReduceMin', size, keepdims=0), g.const(1, np.int64)),
           then_branch=g.branch(lambda b: b.op('Pad', x, pads, mode='reflect')),
           else_branch=g.branch(lambda b: b.op('Pad', x, pads, mode='edge')))
  y = g.op('Clip', network(g, x, params, config), zero, one)
  out_size = g.op('Mul', size, g.const([2, 2], np.int64))
  y = g.op('Slice', y, g.const([0, 0], np.int64), out_size, g.const([2, 3], np.int64))
  if studio:
    y = g.op('Div', g.op('Sub', y, g.const(image_ops.STUDIO_OFFSET)),
             g.const(image_ops.STUDIO_GAIN))
  y = g.op('Clip', y, zero, one)
  g.nodes.append(helper.make_node('Transpose', [y], [OUTPUT], perm=[0, 2, 3, 1]))

  def images(name, height, width):
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                         ['batch', height, width, config.channels])

  return _model(g, name, [images(INPUT, 'height', 'width')],
                [images(OUTPUT, 'out_height', 'out_width')])
