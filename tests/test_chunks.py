"""Long runs in chunks (`--chunk_minutes`) and runs started from another run's weights
(`config.init_from`), as docs/training.md describes them."""
import os
import re
import subprocess

import jax
import numpy as np
import pytest

import flax_srae
from configs import photo_extend
from flax_srae import models
from flax_srae.errors import UserError
from flax_srae.platform import parallel
from flax_srae.training import checkpointing
from flax_srae.training import train
from conftest import main_command, restore_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _initial_state(config, workdir):
  mngr = checkpointing.manager(str(workdir))
  try:
    return train._restore_or_init(config, models.create_model(config), parallel.create_mesh(),
                                  mngr)
  finally:
    mngr.close()


def _assert_same(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_chunks_each_resumed_by_the_same_call_end_where_one_run_ends(tiny_config, tmp_path):
  straight = train.train_and_evaluate(tiny_config, str(tmp_path / 'straight'))
  chunked = str(tmp_path / 'chunked')
  # A limit already passed: the chunk runs to its first progress line, saves and returns.
  assert train.train_and_evaluate(tiny_config, chunked, chunk_minutes=1e-9) is None
  assert int(restore_state(chunked, tiny_config).step) == tiny_config.log_every_steps == 2
  assert not os.path.exists(os.path.join(chunked, 'results.json'))
  assert os.path.exists(os.path.join(chunked, 'curves.png'))
  result = train.train_and_evaluate(tiny_config, chunked, chunk_minutes=60)
  assert result['step'] == straight['step'] == tiny_config.num_train_steps
  _assert_same(restore_state(chunked, tiny_config).params,
               restore_state(tmp_path / 'straight', tiny_config).params)
  assert result['eval'] == straight['eval']


def test_a_negative_chunk_is_refused_before_any_work(tiny_config, tmp_path):
  with pytest.raises(UserError, match=r'chunk_minutes must be >= 0 \(0: no limit\), got -1'):
    train.train_and_evaluate(tiny_config, str(tmp_path), chunk_minutes=-1)
  assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_the_chunk_flag_ends_a_chunk_with_status_0_and_says_how_to_go_on(tmp_path):
  # Going on is the same call as resuming after a signal, tested with the signal.
  cmd = main_command(tmp_path, '--config.num_train_steps=3', '--chunk_minutes=1e-9')
  chunk = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert chunk.returncode == 0, chunk.stderr
  assert 'chunk ended at step 1 of 3' in chunk.stderr
  assert 'run the same command to go on' in chunk.stderr
  assert not (tmp_path / 'results.json').exists()
  assert checkpointing.manager(str(tmp_path)).latest_step() == 1


@pytest.mark.slow
def test_init_from_starts_a_new_optimizer_and_schedule_from_another_runs_weights(
    tiny_config, trained_workdir, tmp_path):
  trained = restore_state(trained_workdir, tiny_config)  # tiny_config's, trained 3 steps

  tiny_config.update(dict(init_from=trained_workdir, lr_schedule='cosine',
                          warmup_steps=1, num_train_steps=4, ema=0.9))
  state = _initial_state(tiny_config, tmp_path / 'second')
  assert int(state.step) == 0
  _assert_same(state.params, trained.params)
  _assert_same(state.ema_params, trained.params)
  adam = state.opt_state[0]
  assert all(not np.any(m) for m in jax.tree.leaves(adam.mu))  # Adam starts afresh
  result = train.train_and_evaluate(tiny_config, str(tmp_path / 'second'))
  assert result['step'] == 4
  # Once the run has a checkpoint, it resumes from it: init_from is not read again.
  tiny_config.update(dict(init_from=str(tmp_path / 'gone'), num_train_steps=5))
  assert train.train_and_evaluate(tiny_config, str(tmp_path / 'second'))['step'] == 5


@pytest.mark.slow
def test_init_from_another_architecture_is_refused_in_one_line(tiny_config, trained_workdir,
                                                              tmp_path):
  tiny_config.update(dict(init_from=trained_workdir, features=(4, 8, 16)))
  with pytest.raises(UserError, match=rf'init_from {re.escape(trained_workdir)} is another '
                                      r'architecture \(features: '
                     r'\[4, 8, 8\] there vs \[4, 8, 16\] here\)'):
    train.train_and_evaluate(tiny_config, str(tmp_path / 'second'))
  assert not os.path.exists(tmp_path / 'second' / 'checkpoints' / '0')


@pytest.mark.parametrize('init_from,message', [
    ('/no/such/run', "init_from '/no/such/run' is not a folder"),
    ('pretrained:nothing', "no pretrained model 'nothing'"),
])
def test_init_from_a_missing_run_is_refused_before_any_work(tiny_config, tmp_path, init_from,
                                                            message):
  tiny_config.init_from = init_from
  with pytest.raises(UserError, match=message):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  assert not os.listdir(tmp_path)


def test_photo_extend_starts_from_the_shipped_photo_model(tmp_path):
  config = photo_extend.get_config()
  state = _initial_state(config, tmp_path)
  assert int(state.step) == 0
  _assert_same(state.params, flax_srae.load('pretrained:photo').params)


def test_photo_rgb_extend_is_photo_extend_in_colour_from_the_shipped_colour_model():
  # The colour model's network is not the luma model's: the restart changes the same fields.
  from configs import photo, photo_rgb, photo_rgb_extend
  config, base = photo_rgb_extend.get_config(), photo_rgb.get_config()
  train.validate_config(config)
  assert config.init_from == 'pretrained:photo_rgb'
  shipped = flax_srae.load('pretrained:photo_rgb').config
  assert all(shipped[k] == config[k] for k in models.architecture_fields(config.model))
  changed = lambda a, b: {k: b[k] for k in a if a[k] != b[k]}
  assert (changed(base, config) == changed(photo.get_config(), photo_extend.get_config())
          | {'init_from': 'pretrained:photo_rgb'})
