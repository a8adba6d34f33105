import os

import pytest

SHARED = os.path.join(os.path.dirname(__file__), '..', '..', 'shared')
MNIST_DIR = os.path.join(SHARED, 'data', 'mnist')


def make_tiny_config():
  """A config small enough to train a few steps in seconds on the builtin photos."""
  from configs import default
  config = default.get_config()
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


@pytest.fixture
def tiny_config():
  return make_tiny_config()


@pytest.fixture(scope='session')
def trained_workdir(tmp_path_factory):
  """A workdir holding a tiny model trained for 3 steps (shared: treat it as read-only)."""
  from flax_srae import train
  config = make_tiny_config()
  config.num_train_steps = 3
  workdir = str(tmp_path_factory.mktemp('trained'))
  train.train_and_evaluate(config, workdir)
  return workdir
