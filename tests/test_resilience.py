"""Crash safety: a run killed anywhere (even mid-save) and restarted ends bit-identical."""
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import make_tiny_config, restore_state

pytestmark = pytest.mark.slow  # kills training processes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 12
FLAGS = ['--config.model=encoder_decoder_residual', '--config.features=(4,8,8)', '--config.hr_size=12', '--config.batch_size=8',
         '--config.num_eval_patches=20', '--config.eval_batch_size=16', '--config.num_samples=2',
         f'--config.num_train_steps={STEPS}', '--config.checkpoint_every_steps=2',
         '--config.log_every_steps=1', '--config.eval_every_steps=5']


# Runs `python -m flax_srae.main ARGS` with checkpointing.save wrapped so that the process
# SIGKILLs itself while the save of step KILL_STEP is being written.
_KILLED_DURING_SAVE = """
import os, runpy, signal, sys
from flax_srae.training import checkpointing
kill_step, sys.argv = int(sys.argv[1]), ['main'] + sys.argv[2:]
save = checkpointing.save
def save_then_die(mngr, step, *args):
  save(mngr, step, *args)
  if step == kill_step:
    os.kill(os.getpid(), signal.SIGKILL)
checkpointing.save = save_then_die
runpy.run_module('flax_srae.main', run_name='__main__')
"""


def _command(workdir, kill_during_save=None):
  args = ['--config=configs/sr28.py', f'--workdir={workdir}', *FLAGS]
  if kill_during_save is None:
    return [sys.executable, '-m', 'flax_srae.main', *args]
  return [sys.executable, '-c', _KILLED_DURING_SAVE, str(kill_during_save), *args]


def _run(workdir, kill_during_save=None, kill_after_line=None):
  proc = subprocess.Popen(_command(workdir, kill_during_save), cwd=ROOT, stderr=subprocess.PIPE,
                          text=True)
  for line in proc.stderr:
    if kill_after_line and kill_after_line in line:
      proc.send_signal(signal.SIGKILL)
      break
  proc.communicate(timeout=300)
  return proc.returncode


def test_sigkill_anywhere_then_resume_is_bit_identical(tmp_path):
  assert _run(tmp_path / 'straight') == 0

  workdir = tmp_path / 'killed'
  assert _run(workdir, kill_during_save=4) == -signal.SIGKILL       # mid-save
  left = os.listdir(workdir / 'checkpoints')
  assert '2' in left and '4' not in left and any(n.startswith('4.') for n in left), left
  assert _run(workdir, kill_after_line='step 7/') == -signal.SIGKILL  # between saves
  assert _run(workdir, kill_during_save=10) == -signal.SIGKILL      # mid-save again
  assert _run(workdir) == 0

  config = make_tiny_config()
  a, b = restore_state(tmp_path / 'straight', config), restore_state(workdir, config)
  assert int(a.step) == int(b.step) == STEPS
  for x, y in zip(jax.tree.leaves((a.params, a.opt_state)), jax.tree.leaves((b.params, b.opt_state))):
    np.testing.assert_array_equal(x, y)
