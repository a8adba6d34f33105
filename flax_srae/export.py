"""Ships a trained model: its evaluation weights and config as a small Orbax checkpoint.

  python -m flax_srae.export --workdir=RUN --output=flax_srae/pretrained/NAME [--step=N]
                             [--data_dir=DIR]

Writes OUTPUT/checkpoints/<step> holding only the weights inference uses (the moving average
when training kept one; no optimizer state) and the config that made them, plus the run's
results.json when it is of that step. `flax_srae.load(OUTPUT)` reads it, and a folder under
flax_srae/pretrained/ is `flax_srae.load('pretrained:NAME')`. Never overwrites.
"""
import os
import shutil

from absl import flags

from flax_srae import checkpointing
from flax_srae import cli
from flax_srae import files
from flax_srae import inference
from flax_srae.errors import UserError


def export(workdir: str, output: str, step=None, data_dir=None) -> str:
  """Writes the export of `workdir` (latest step by default) to `output`; returns its step
  folder. `data_dir` replaces the training machine's data folder in the shipped config."""
  if os.path.exists(output):
    raise UserError(f'{output} exists: remove it or choose another --output (nothing is '
                    f'overwritten)')
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


def _main():
  f = flags.FLAGS
  export(f.workdir, f.output, f.step, f.data_dir)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('workdir', None, 'Training workdir to export.')
  flags.DEFINE_string('output', None, 'New folder to write, e.g. flax_srae/pretrained/NAME.')
  flags.DEFINE_integer('step', None, 'Checkpoint step (default: the latest).')
  flags.DEFINE_string('data_dir', None, 'Data folder to record in the shipped config, e.g. '
                      '../shared/data/sun80 (default: the training run\'s).')
  flags.mark_flags_as_required(['workdir', 'output'])


if __name__ == '__main__':
  _define_flags()
  cli.run(_main, quiet=True)
