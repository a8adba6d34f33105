"""Ships a trained model: as a small Orbax checkpoint, an ONNX graph or a JAX StableHLO program.

  python -m flax_srae.export --workdir=RUN --output=flax_srae/pretrained/NAME [--step=N]
                             [--data_dir=DIR]
  python -m flax_srae.export --workdir=RUN|pretrained:NAME --format=onnx --output=FILE.onnx
  python -m flax_srae.export --workdir=RUN|pretrained:NAME --format=stablehlo --output=FILE

--format=orbax (the default) writes OUTPUT/checkpoints/<step> holding only the weights inference
uses (the moving average when training kept one; no optimizer state) and the config that made
them, plus the run's results.json when it is of that step. `flax_srae.load(OUTPUT)` reads it,
and a folder under flax_srae/pretrained/ is `flax_srae.load('pretrained:NAME')`.

--format=onnx (needs `pip install -e '.[onnx]'`) and --format=stablehlo write one file computing
`flax_srae.load(RUN).upscale(x)` for float32 NHWC images `x` in [0, 1] with the model's channel
count, any batch: ONNX for any height and width, checked against `upscale` with onnxruntime
before it is kept; StableHLO (`jax.export`, for CPUs, NVIDIA GPUs and TPUs) for even heights
and widths. docs/using.md shows how to run each. Nothing is ever overwritten.
"""
import os
import shutil

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from flax_srae import checkpointing
from flax_srae import cli
from flax_srae import files
from flax_srae import image_ops
from flax_srae import inference
from flax_srae import models
from flax_srae.errors import UserError

FORMATS = ('orbax', 'onnx', 'stablehlo')
# An image of odd height and width for the ONNX graph's check: padding and crop included.
_CHECK_SHAPE = (2, 37, 51)


def export(workdir: str, output: str, step=None, data_dir=None,
           format: str = 'orbax') -> str:  # pylint: disable=redefined-builtin
  """Writes `workdir`'s model (latest step by default; also 'pretrained:NAME') to `output` in
  `format`; returns the path written (for orbax, the step folder). `data_dir` replaces the
  training machine's data folder in an orbax export's config."""
  if format not in FORMATS:
    raise UserError(f'unknown format {format!r}: choose one of {", ".join(FORMATS)}')
  if data_dir is not None and format != 'orbax':
    raise UserError(f'--data_dir is recorded in orbax exports only; leave it out for {format}')
  if os.path.exists(output):
    raise _exists(output)
  if format == 'orbax':
    return _export_orbax(workdir, output, step, data_dir)
  parent = os.path.dirname(os.path.abspath(output))
  if not os.path.isdir(parent):
    raise UserError(f'folder {parent} does not exist: create it or choose another --output')
  upscaler = inference.load(workdir, step)
  data = _onnx(upscaler) if format == 'onnx' else _stablehlo(upscaler)
  _write_new(output, data)
  print(f'wrote {output}: {upscaler.config.model} step {upscaler.step}, {format}, '
        f'{len(data) / 1e6:.2f} MB')
  return output


def _export_orbax(workdir: str, output: str, step, data_dir) -> str:
  config, params, step = checkpointing.load_weights(inference.resolve(workdir), step)
  if data_dir is not None:
    config.data_dir = data_dir
  checkpointing.save_weights(output, step, params, config)
  # The run's figures travel with the weights they describe: those of its final step.
  results = os.path.join(inference.resolve(workdir), 'results.json')
  if (files.read_json(results) or {}).get('step') == step:
    shutil.copy(results, os.path.join(output, 'results.json'))
  size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(output) for f in fs)
  print(f'wrote {output}: {config.model} step {step}, {size / 1e6:.2f} MB')
  return os.path.join(output, 'checkpoints', str(step))


def _exists(path: str) -> UserError:
  return UserError(f'{path} exists: remove it or choose another --output (nothing is '
                   f'overwritten)')


def _write_new(path: str, data: bytes) -> None:
  """Writes `path` whole, and only if it still does not exist: a file made there since the
  check in `export` is kept."""
  try:
    with files.atomic_path(path, overwrite=False) as tmp, open(tmp, 'wb') as f:
      f.write(data)
  except FileExistsError as e:
    raise _exists(path) from e
  except OSError as e:
    raise UserError(f'cannot write {path}: {e.strerror or e}') from e


def _onnx(upscaler: inference.Upscaler) -> bytes:
  """The ONNX graph, kept only once onnxruntime computes what `upscale` does on an odd-sized
  batch (within 1e-5: float rounding). It computes in float32: a model trained in bfloat16 is
  checked against `upscale` in float32, and its bfloat16 difference printed."""
  try:
    import onnxruntime  # pylint: disable=g-import-not-at-top
    from flax_srae import onnx_graph  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UserError(f"--format=onnx needs the onnx extra ({e.name} is missing): "
                    f"pip install -e '.[onnx]'") from e
  data = onnx_graph.build(upscaler.config, upscaler.params).SerializeToString()
  x = np.random.default_rng(0).random(_CHECK_SHAPE + (upscaler.config.channels,), np.float32)
  session = onnxruntime.InferenceSession(data, providers=['CPUExecutionProvider'])
  y = session.run(None, {onnx_graph.INPUT: x})[0]
  float32 = upscaler.config.copy_and_resolve_references()
  float32.dtype = 'float32'
  difference = float(np.abs(y - inference.Upscaler(float32, upscaler.params,
                                                   upscaler.step).upscale(x)).max())
  if difference > 1e-5:
    raise RuntimeError(f'the ONNX graph differs from upscale by {difference:g}')
  if upscaler.config.get('dtype', 'float32') != 'float32':
    print(f'note: the model computes in {upscaler.config.dtype} in JAX, the ONNX graph in '
          f'float32: they differ by up to {np.abs(y - upscaler.upscale(x)).max():.4f} here')
  return data


def _stablehlo(upscaler: inference.Upscaler) -> bytes:
  """`upscale` on float images of even sizes, as a serialized `jax.export.Exported`: the model
  with the plain Flax layers, its luma range and clipping, for every platform."""
  model = models.create_model(upscaler.config)

  def upscale(x):
    x = jnp.clip(x, 0.0, 1.0)
    if upscaler.studio_luma:
      x = image_ops.to_studio_range(x)
    y = inference.forward(model, upscaler.params, x, chunk_pixels=None)
    if upscaler.studio_luma:
      y = image_ops.from_studio_range(y)
    return jnp.clip(y, 0.0, 1.0)

  batch, height, width = jax.export.symbolic_shape('batch, 2*half_height, 2*half_width')
  images = jax.ShapeDtypeStruct((batch, height, width, upscaler.config.channels), jnp.float32)
  exported = jax.export.export(jax.jit(upscale), platforms=('cpu', 'cuda', 'tpu'))(images)
  return exported.serialize()


def _main():
  f = flags.FLAGS
  export(f.workdir, f.output, f.step, f.data_dir, f.format)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('workdir', None, "Training workdir to export, or 'pretrained:NAME'.")
  flags.DEFINE_string('output', None, 'New folder (orbax) or file (onnx, stablehlo) to write.')
  flags.DEFINE_enum('format', 'orbax', FORMATS, 'orbax: weights and config for '
                    'flax_srae.load; onnx: an ONNX graph (tested with onnxruntime); '
                    'stablehlo: a jax.export program.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_string('data_dir', None, 'Data folder to record in the shipped config, e.g. '
                      '../shared/data/sun80 (default: the training run\'s; orbax only).')
  flags.mark_flags_as_required(['workdir', 'output'])


if __name__ == '__main__':
  _define_flags()
  cli.run(_main, quiet=True)
