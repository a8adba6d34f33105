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
and widths. An autoencoder is two programs, written into the new folder OUTPUT: encoder.onnx
and decoder.onnx (or encoder.stablehlo and decoder.stablehlo), computing `encode` and
`decode`, the ONNX pair checked against them. docs/using.md shows how to run each. Nothing is
ever overwritten.
"""
import os
import shutil

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from flax_srae.training import checkpointing
from flax_srae import cli
from flax_srae.platform import files
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
  model = inference.load(workdir, step)
  if isinstance(model, inference.Coder):
    parts = _onnx_coder(model) if format == 'onnx' else _stablehlo_coder(model)
    _write_folder(output, parts)
  else:
    parts = {'': _onnx(model) if format == 'onnx' else _stablehlo(model)}
    _write_new(output, parts[''])
  print(f'wrote {output}{" (" + ", ".join(parts) + ")" if len(parts) > 1 else ""}: '
        f'{model.config.model} step {model.step}, {format}, '
        f'{sum(map(len, parts.values())) / 1e6:.2f} MB')
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


def _write_folder(output: str, parts: dict) -> None:
  """Writes the files `parts` ({name: bytes}) into the new folder `output`, made only if
  nothing is there yet; on a failure the folder goes again, so no half export remains."""
  try:
    os.mkdir(output)
  except FileExistsError as e:
    raise _exists(output) from e
  except OSError as e:
    raise UserError(f'cannot create {output}: {e.strerror or e}') from e
  try:
    for name, data in parts.items():
      _write_new(os.path.join(output, name), data)
  except BaseException:
    shutil.rmtree(output, ignore_errors=True)
    raise


def _onnx_modules():
  """onnxruntime and `onnx_graph` (which needs onnx): the onnx extra."""
  try:
    import onnxruntime  # pylint: disable=g-import-not-at-top
    from flax_srae.inference import onnx_graph  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UserError(f"--format=onnx needs the onnx extra ({e.name} is missing): "
                    f"pip install -e '.[onnx]'") from e
  return onnxruntime, onnx_graph


def _float32(model: inference.Model) -> inference.Model:
  """The same weights computing in float32, as the ONNX graphs do."""
  config = model.config.copy_and_resolve_references()
  config.dtype = 'float32'
  return type(model)(config, model.params, model.step)


def _run_onnx(onnxruntime, data: bytes, name: str, x: np.ndarray) -> np.ndarray:
  session = onnxruntime.InferenceSession(data, providers=['CPUExecutionProvider'])
  return session.run(None, {name: x})[0]


def _check(what: str, y: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
  difference = float(np.abs(y - expected).max())
  if difference > tolerance:
    raise RuntimeError(f'the ONNX graph differs from {what} by {difference:g}')


def _onnx(upscaler: inference.Upscaler) -> bytes:
  """The ONNX graph, kept only once onnxruntime computes what `upscale` does on an odd-sized
  batch (within 1e-5: float rounding). It computes in float32: a model trained in bfloat16 is
  checked against `upscale` in float32, and its bfloat16 difference printed."""
  if models.spec(upscaler.config).onnx is None:
    raise UserError(f'no ONNX graph is written for model {upscaler.config.model}: export it '
                    f'with --format=stablehlo')
  onnxruntime, onnx_graph = _onnx_modules()
  data = onnx_graph.build(upscaler.config, upscaler.params).SerializeToString()
  x = np.random.default_rng(0).random(_CHECK_SHAPE + (upscaler.config.channels,), np.float32)
  y = _run_onnx(onnxruntime, data, onnx_graph.INPUT, x)
  _check('upscale', y, _float32(upscaler).upscale(x), 1e-5)
  if upscaler.config.get('dtype', 'float32') != 'float32':
    print(f'note: the model computes in {upscaler.config.dtype} in JAX, the ONNX graph in '
          f'float32: they differ by up to {np.abs(y - upscaler.upscale(x)).max():.4f} here')
  return data


def _onnx_coder(coder: inference.Coder) -> dict:
  """An autoencoder's encoder and decoder graphs, kept only once onnxruntime computes what
  `encode` and `decode` do (within float rounding: 1e-5 of the codes' scale, 1e-5 for pixels)
  on random images and their codes, in float32 as `_onnx`."""
  onnxruntime, onnx_graph = _onnx_modules()
  encoder, decoder = (m.SerializeToString()
                      for m in onnx_graph.build_coder(coder.config, coder.params))
  reference = _float32(coder)
  x = np.random.default_rng(0).random((3, coder.size, coder.size, coder.config.channels),
                                      np.float32)
  codes = reference.encode(x)
  _check('encode', _run_onnx(onnxruntime, encoder, onnx_graph.INPUT, x), codes,
         1e-5 * max(1.0, float(np.abs(codes).max())))
  _check('decode', _run_onnx(onnxruntime, decoder, onnx_graph.CODES, codes),
         reference.decode(codes), 1e-5)
  return {'encoder.onnx': encoder, 'decoder.onnx': decoder}


def _stablehlo_coder(coder: inference.Coder) -> dict:
  """An autoencoder's `encode` (images clipped to [0, 1]) and `decode` as `jax.export`
  programs of any batch, with the plain Flax layers."""
  model = models.create_model(coder.config)
  batch, = jax.export.symbolic_shape('batch')
  parts = {'encoder.stablehlo': ('encode', (batch, coder.size, coder.size,
                                             coder.config.channels)),
           'decoder.stablehlo': ('decode', (batch, coder.latent_dim))}
  programs = {}
  for name, (method, shape) in parts.items():
    def run(x, method=method):
      x = inference.network_input(x, studio_luma=False) if method == 'encode' else x
      return inference.forward(model, coder.params, x, chunk_pixels=None, method=method)
    exported = jax.export.export(jax.jit(run), platforms=('cpu', 'cuda', 'tpu'))(
        jax.ShapeDtypeStruct(shape, jnp.float32))
    programs[name] = exported.serialize()
  return programs


def _stablehlo(upscaler: inference.Upscaler) -> bytes:
  """`upscale` on float images of even sizes, as a serialized `jax.export.Exported`: the model
  with the plain Flax layers, its luma range and clipping, for every platform."""
  model = models.create_model(upscaler.config)

  def upscale(x):
    x = inference.network_input(x, upscaler.studio_luma)
    y = inference.forward(model, upscaler.params, x, chunk_pixels=None)
    return inference.network_output(y, upscaler.studio_luma)

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
