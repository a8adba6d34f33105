"""Trains and evaluates a model: python -m flax_srae.main --config=configs/sr28.py --workdir=DIR.

Runs on all devices; run it once per host for several hosts (docs/scaling.md).

Config fields are overridden as --config.key=value (see configs/default.py).
"""
import logging as py_logging

from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from flax_srae.training import checkpointing
from flax_srae import cli
from flax_srae.platform import parallel
from flax_srae.training import train

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'Folder for checkpoints, results.json and samples.png; '
                    'running again with the same folder resumes.')
flags.DEFINE_bool('new_subfolder', False, 'Train in WORKDIR/<model>_c<channels>_<sizes> (e.g. '
                  'edsr_c1_w32_b4), for a workdir holding another architecture\'s checkpoints.')
flags.DEFINE_float('chunk_minutes', 0, 'Stop after about this many minutes (0: no limit), '
                   'saving a checkpoint, so a long run goes in chunks: the same command resumes '
                   'it (docs/training.md).')
config_flags.DEFINE_config_file('config', None, 'Training configuration file.', lock_config=True)
flags.mark_flags_as_required(['config', 'workdir'])


def _quiet_orbax(record) -> bool:
  """The training log's filter: Orbax logs several INFO lines for every checkpoint it saves,
  which would bury the training's own lines, and when a save fails (a full disk) its
  background threads log their errors with whole tracebacks, where the user is to read the
  one-line error. Tests: tests/test_reliability.py::
  test_training_into_a_disk_that_fills_ends_in_one_line_and_resumes_once_space_is_freed (no
  'Traceback' in the output) and tests/test_train.py::
  test_the_training_command_keeps_orbax_chatter_and_its_tracebacks_out_of_the_log."""
  if '/orbax/' not in record.pathname:
    return True
  record.exc_info = record.exc_text = None
  return record.levelno >= py_logging.WARNING


def main():
  logging.get_absl_handler().addFilter(_quiet_orbax)
  parallel.maybe_initialize_distributed()
  logging.info('JAX %s, process %d/%d, devices: %s', jax.__version__, jax.process_index(),
               jax.process_count(), jax.devices())
  workdir = FLAGS.workdir
  if FLAGS.new_subfolder:
    workdir = checkpointing.architecture_subfolder(workdir, FLAGS.config)
    logging.info('training in %s', workdir)
  train.train_and_evaluate(FLAGS.config, workdir, FLAGS.chunk_minutes)


if __name__ == '__main__':
  cli.run(main)
