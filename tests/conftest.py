import os
import shutil
import sys
import tempfile

import pytest

SHARED = os.path.join(os.path.dirname(__file__), '..', '..', 'shared')
MNIST_DIR = os.path.join(SHARED, 'data', 'mnist')
SUN80_DIR = os.path.join(SHARED, 'data', 'sun80')

FAST_TIER_XLA_FLAG = '--xla_backend_optimization_level=0'
CACHE_READ_WARNING = 'Error reading persistent compilation cache entry'


def pytest_configure(config):
  """The fast tier (-m 'not slow') compiles with LLVM's optimizations off: its programs are
  tiny, so compiling them costs several times more than running them, and most of its time.
  The whole suite keeps XLA's defaults, the programs users run. A user's own choice in
  XLA_FLAGS is kept. XLA reads the variable when JAX starts its backend, after this hook.

  Many tests, and the subprocesses they start, compile the same tiny trainings: JAX's
  persistent compilation cache, in a folder of this session's own (shared by xdist's workers,
  which inherit the environment, and removed at the end), compiles each program once. JAX
  writes an entry in place, so a process may read one that another is writing, or that a
  killed run left short: JAX then compiles anew and warns, which would add a line to what the
  CLI tests read on stderr; that warning alone is silenced, in the processes tests start."""
  flags = os.environ.get('XLA_FLAGS', '')
  if 'not slow' in (config.option.markexpr or '') and 'optimization_level' not in flags:
    os.environ['XLA_FLAGS'] = f'{flags} {FAST_TIER_XLA_FLAG}'.strip()
  if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    config.made_cache_dir = tempfile.mkdtemp(prefix='flax_srae-tests-xla-cache-')
    os.environ.update(JAX_COMPILATION_CACHE_DIR=config.made_cache_dir,
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0')
  warning = f'ignore:{CACHE_READ_WARNING}:UserWarning'
  if warning not in os.environ.get('PYTHONWARNINGS', ''):  # xdist's workers inherit it
    os.environ['PYTHONWARNINGS'] = ','.join(filter(None, [os.environ.get('PYTHONWARNINGS'),
                                                          warning]))


def pytest_unconfigure(config):
  if getattr(config, 'made_cache_dir', None):
    shutil.rmtree(config.made_cache_dir, ignore_errors=True)


def make_tiny_config():
  """A config small enough to train a few steps in seconds on the builtin photos."""
  from configs import default
  config = default.get_config()
  # The tests of the encoder_decoder family; edsr has its own.
  config.model = 'encoder_decoder_residual'
  config.features = (4, 8, 8)
  config.hr_size = 12
  config.batch_size = 8
  config.num_train_steps = 6
  config.num_eval_patches = 20
  config.eval_batch_size = 16
  config.log_every_steps = 2
  config.eval_every_steps = 4
  config.checkpoint_every_steps = 3
  config.num_samples = 2
  return config


def main_command(workdir, *flags):
  """`python -m flax_srae.main` of configs/sr28.py made tiny, as a subprocess's argv."""
  return [sys.executable, '-m', 'flax_srae.main', '--config=configs/sr28.py',
          f'--workdir={workdir}', '--config.features=(4,8,8)', '--config.hr_size=12',
          '--config.batch_size=8', '--config.num_eval_patches=20', '--config.eval_batch_size=16',
          '--config.log_every_steps=1', '--config.num_samples=2', *flags]


@pytest.fixture
def tiny_config():
  return make_tiny_config()


def _train_tiny(tmp_path_factory, channels, hr_size=12):
  from flax_srae.training import train
  config = make_tiny_config()
  config.num_train_steps = 3
  config.channels = channels
  config.hr_size = hr_size
  workdir = str(tmp_path_factory.mktemp(f'trained{channels}'))
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='session')
def trained_workdir(tmp_path_factory):
  """A workdir holding a tiny grayscale model trained for 3 steps (shared: read-only)."""
  return _train_tiny(tmp_path_factory, 1)


def make_tiny_ae_config():
  """A compressing autoencoder of 12x12 patches of the builtin photos, 5 values a code,
  small enough to train a few steps in seconds."""
  config = make_tiny_config()
  config.update(model='autoencoder', features=(4, 8, 4), latent_dim=5)
  return config


@pytest.fixture(scope='session')
def trained_ae_workdir(tmp_path_factory):
  """A workdir holding a tiny autoencoder trained for 3 steps (shared: read-only)."""
  from flax_srae.training import train
  config = make_tiny_ae_config()
  config.num_train_steps = 3
  workdir = str(tmp_path_factory.mktemp('trained_ae'))
  train.train_and_evaluate(config, workdir)
  return workdir


@pytest.fixture(scope='session')
def trained_rgb_workdir(tmp_path_factory):
  """The same with an RGB model on 16x16 patches (room for a shaved border)."""
  return _train_tiny(tmp_path_factory, 3, hr_size=16)


def restore_state(workdir, config):
  """The latest train state saved in `workdir` (or None)."""
  import functools
  import jax
  from flax_srae.training import checkpointing
  from flax_srae import models
  from flax_srae.training import train
  mngr = checkpointing.manager(str(workdir))
  abstract = jax.eval_shape(functools.partial(
      train.create_train_state, config, models.create_model(config), jax.random.key(0)))
  state = checkpointing.restore_latest(mngr, abstract, config)
  mngr.close()
  return state


def package_sources():
  """(path inside flax_srae/, lines) of every module of the package, in every subpackage."""
  package = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         'flax_srae')
  for folder, _, names in sorted(os.walk(package)):
    for name in sorted(names):
      if name.endswith('.py'):
        with open(os.path.join(folder, name)) as f:
          yield os.path.relpath(os.path.join(folder, name), package), f.read().splitlines()
