"""Data-parallel training on forced CPU devices and on two local processes.

The device count is fixed when JAX starts, so every run on other than this process's one
CPU device is a subprocess.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import flax_srae
from flax_srae.training import train
from conftest import make_tiny_config

pytestmark = pytest.mark.slow  # trains in subprocesses with several devices

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 4  # checkpoints at 3 and 4, an eval at 4


def _config(steps=STEPS):
  config = make_tiny_config()
  config.num_train_steps = steps
  return config


def _env(devices, **extra):
  return dict(os.environ, XLA_FLAGS=f'--xla_force_host_platform_device_count={devices}',
              PYTHONPATH=ROOT, **extra)


def _train_in_subprocess(workdir, devices, steps=STEPS):
  """train_and_evaluate on `devices` forced CPU devices; returns its log (stderr) and the
  number of times it compiled the train step."""
  script = textwrap.dedent(f'''
      from absl import logging
      import ml_collections
      from flax_srae.training import train
      logging.set_verbosity('info')
      config = ml_collections.ConfigDict({_config(steps).to_dict()!r})
      train.train_and_evaluate(config, {str(workdir)!r})
      print(train.train_step._cache_size())
  ''')
  proc = subprocess.run([sys.executable, '-c', script], env=_env(devices), cwd=ROOT,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc.stderr, int(proc.stdout.split()[-1])


def _psnr(workdir):
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)['eval']['psnr']


@pytest.fixture(scope='module')
def four_device_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('four_devices')
  log, compilations = _train_in_subprocess(workdir, 4)
  return workdir, log, compilations


@pytest.fixture(scope='module')
def one_device_run(tmp_path_factory):
  workdir = tmp_path_factory.mktemp('one_device')
  train.train_and_evaluate(_config(), str(workdir))
  return workdir


def test_four_devices_train_like_one(four_device_run, one_device_run):
  workdir, log, compilations = four_device_run
  assert 'data parallel on 4 cpu devices in 1 process(es): 2 images per device' in log
  assert compilations == 1  # the sharded state and batches never make the step retrace
  # Same global batches, same seed: only the order of floating-point sums differs.
  four, one = _psnr(workdir), _psnr(one_device_run)
  print(f'eval PSNR after {STEPS} steps: 4 devices {four:.4f} dB, 1 device {one:.4f} dB')
  assert abs(four - one) < 0.05


def test_four_device_checkpoint_resumes_on_one_and_two_devices(four_device_run, tmp_path):
  for name in ('on1', 'on2'):
    shutil.copytree(four_device_run[0], tmp_path / name)
  on1 = train.train_and_evaluate(_config(STEPS + 2), str(tmp_path / 'on1'))
  log, _ = _train_in_subprocess(tmp_path / 'on2', 2, STEPS + 2)
  assert f'at step {STEPS}' in log and 'data parallel on 2 cpu devices' in log
  on2 = _psnr(tmp_path / 'on2')
  assert on1['step'] == STEPS + 2
  assert abs(on1['eval']['psnr'] - on2) < 0.05


def test_inference_loads_a_four_device_checkpoint_on_one_device(four_device_run,
                                                                 one_device_run):
  assert jax.device_count() == 1
  four, one = flax_srae.load(str(four_device_run[0])), flax_srae.load(str(one_device_run))
  assert four.step == STEPS
  for leaf in jax.tree.leaves(four.params):
    assert leaf.devices() == {jax.devices()[0]}
  x = np.random.default_rng(0).random((2, 14, 14), dtype=np.float32)
  np.testing.assert_allclose(four.upscale(x), one.upscale(x), atol=1e-4)


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_two_processes_with_jax_distributed(one_device_run, tmp_path):
  """Two processes of two CPU devices each, joined by jax.distributed on localhost (the CPU
  backend's collectives go through Gloo), write one run between them."""
  flags = [f'--config.{k}={v}' for k, v in _config().items()
           if k in ('model', 'hr_size', 'batch_size', 'num_train_steps', 'num_eval_patches',
                    'eval_batch_size', 'eval_every_steps', 'checkpoint_every_steps',
                    'num_samples')]
  # A chunk's deadline is read at every progress line, as process 0's clock has it
  # (parallel.agreed): this far-off one only checks that each read is one broadcast that both
  # processes join.
  cmd = [sys.executable, '-m', 'flax_srae.main', '--config=configs/sr28.py',
         f'--workdir={tmp_path}', '--config.features=(4,8,8)', '--config.log_every_steps=1',
         '--chunk_minutes=600', *flags]
  address = f'localhost:{_free_port()}'
  envs = [_env(2, JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES='2', JAX_PROCESS_ID=str(i))
          for i in range(2)]
  # Gloo prints its connections on stdout.
  procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True) for env in envs]
  logs = [p.communicate(timeout=300)[1] for p in procs]
  for i, (p, log) in enumerate(zip(procs, logs)):
    assert p.returncode == 0, log[-3000:]
    assert f'process {i}/2' in log and 'data parallel on 4 cpu devices in 2 process(es)' in log
  assert 'rows 0:4 of each batch' in logs[0] and 'rows 4:8 of each batch' in logs[1]
  assert 'wrote' in logs[0] and 'wrote' not in logs[1]  # only process 0 writes the results
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['3', '4']
  assert abs(_psnr(tmp_path) - _psnr(one_device_run)) < 0.05


def test_coordinator_address_without_process_count_is_a_clear_error(tmp_path):
  proc = subprocess.run(
      [sys.executable, '-m', 'flax_srae.main', '--config=configs/sr28.py',
       f'--workdir={tmp_path}'], cwd=ROOT, capture_output=True, text=True, timeout=120,
      env=_env(1, JAX_COORDINATOR_ADDRESS=f'localhost:{_free_port()}', JAX_PROCESS_ID='0'))
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1] == (
      "error: JAX_COORDINATOR_ADDRESS is set, so JAX_NUM_PROCESSES must be an integer, got "
      "None: set JAX_NUM_PROCESSES and JAX_PROCESS_ID on every process, or unset "
      "JAX_COORDINATOR_ADDRESS")
