import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from PIL import Image

from flax_srae import benchmark
from flax_srae.training import checkpointing
from flax_srae.training import evaluation
from flax_srae.data import input_pipeline
from flax_srae import models
from flax_srae.platform import parallel
from flax_srae.training import train
from flax_srae.errors import UserError
from conftest import MNIST_DIR, SUN80_DIR, main_command, restore_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_train_checkpoint_resume_matches_uninterrupted_run(tiny_config, tmp_path):
  train.train_step.clear_cache()
  straight = train.train_and_evaluate(tiny_config, str(tmp_path / 'straight'))
  assert train.train_step._cache_size() == 1  # traced once for all steps

  tiny_config.num_train_steps = 3
  train.train_and_evaluate(tiny_config, str(tmp_path / 'resumed'))
  tiny_config.num_train_steps = 6
  resumed = train.train_and_evaluate(tiny_config, str(tmp_path / 'resumed'))
  assert resumed['step'] == straight['step'] == 6
  a = restore_state(tmp_path / 'straight', tiny_config)
  b = restore_state(tmp_path / 'resumed', tiny_config)
  assert int(a.step) == int(b.step) == 6
  for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
    np.testing.assert_array_equal(x, y)
  assert resumed['eval'] == straight['eval']

  results = json.loads((tmp_path / 'resumed' / 'results.json').read_text())
  assert set(results['eval']) >= {'psnr', 'ssim', 'bicubic_psnr', 'bicubic_ssim'}
  assert results['train']['images_per_sec'] > 0 and results['train']['seconds'] > 0
  assert (tmp_path / 'resumed' / 'samples.png').stat().st_size > 0

  # Curves cover both parts of the resumed run: TensorBoard events, curves.json, curves.png.
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(str(tmp_path / 'resumed' / 'tensorboard'))
  events.Reload()
  assert [e.step for e in events.Scalars('eval/psnr')] == [3, 6]
  assert events.Scalars('eval/psnr')[-1].value == pytest.approx(resumed['eval']['psnr'])
  assert [e.step for e in events.Scalars('train/loss')] == [2, 3, 6]
  assert {'train/learning_rate', 'train/images_per_sec', 'eval/bicubic_psnr'} <= set(
      events.Tags()['scalars'])
  assert [e.step for e in events.Images('eval/samples')] == [3, 6]
  curves = json.loads((tmp_path / 'resumed' / 'curves.json').read_text())
  assert [p[0] for p in curves['loss']] == [2, 3, 6]
  assert curves['baseline'] == 'bicubic'
  assert curves['baseline_psnr'] == pytest.approx(resumed['eval']['bicubic_psnr'])
  assert (tmp_path / 'resumed' / 'curves.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


@pytest.mark.slow
def test_finished_run_is_not_retrained(tiny_config, tmp_path, monkeypatch):
  tiny_config.num_train_steps = 2
  first = train.train_and_evaluate(tiny_config, str(tmp_path))

  def fail(*args, **kwargs):
    raise AssertionError('a finished run must not train again')
  monkeypatch.setattr(train, 'train_step', fail)
  again = train.train_and_evaluate(tiny_config, str(tmp_path))
  assert again['step'] == 2 and again['eval'] == first['eval']
  assert again['train'] == first['train']


@pytest.mark.slow
def test_bfloat16_activations_train_float32_weights(tiny_config, tmp_path):
  tiny_config.dtype = 'bfloat16'
  tiny_config.num_train_steps = 2
  results = train.train_and_evaluate(tiny_config, str(tmp_path))
  # The residual model starts at bicubic; two steps must not wreck it.
  assert abs(results['eval']['psnr'] - results['eval']['bicubic_psnr']) < 1.0
  state = restore_state(tmp_path, tiny_config)
  assert {leaf.dtype for leaf in jax.tree.leaves(state.params)} == {np.dtype(np.float32)}


@pytest.mark.slow
def test_checkpoint_of_another_architecture_is_refused(tiny_config, tmp_path):
  tiny_config.num_train_steps = 1
  train.train_and_evaluate(tiny_config, str(tmp_path))
  tiny_config.features = (4, 8, 16)
  with pytest.raises(UserError, match='another model.*features'):
    train.train_and_evaluate(tiny_config, str(tmp_path))


@pytest.mark.slow
def test_edsr_with_l1_and_augmentation_trains_and_resumes(tiny_config, tmp_path):
  tiny_config.update(dict(model='edsr', width=8, num_blocks=2, loss='l1', augment=True,
                          hr_size=14, num_train_steps=3))
  train.train_and_evaluate(tiny_config, str(tmp_path))
  tiny_config.num_train_steps = 6
  result = train.train_and_evaluate(tiny_config, str(tmp_path))
  assert result['step'] == 6 and result['parameters'] == (9 * 8 + 8) + 4 * (9 * 64 + 8) + (9 * 8 * 4 + 4)
  assert np.isfinite(result['eval']['psnr'])
  tiny_config.width = 16
  with pytest.raises(UserError, match='another model.*width: checkpoint 8 vs config 16'):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  tiny_config.update(dict(width=8, model='encoder_decoder', hr_size=12))
  with pytest.raises(UserError, match="another model.*model: checkpoint 'edsr' vs config 'encoder_decoder'"):
    train.train_and_evaluate(tiny_config, str(tmp_path))


def test_bad_edsr_size_rejected(tiny_config, tmp_path):
  tiny_config.update(dict(model='edsr', width=0))
  with pytest.raises(UserError, match='edsr needs width >= 1 and num_blocks >= 0, got width 0'):
    train.train_and_evaluate(tiny_config, str(tmp_path))


@pytest.mark.parametrize('field,value,message', [
    ('batch_size', 0, 'batch_size must be positive'),
    ('learning_rate', -1.0, 'learning_rate must be positive'),
    ('hr_size', 30, 'hr_size must be a multiple of 4'),
    ('model', 'vdsr', 'unknown model'),
    ('degradation', 'blur', 'unknown degradation'),
    ('channels', 2, 'channels must be 1'),
    ('dtype', 'float16', 'dtype must be one of float32, bfloat16'),
    ('num_train_steps', 0, 'num_train_steps must be positive'),
    ('seed', -1, 'seed must be >= 0'),
    ('features', (4, 8), 'features must be three positive widths'),
    ('loss', 'huber', 'unknown loss'),
    ('hr_size', 8, 'at least 12'),
    ('train_split', 'train[99:]', 'is empty'),
    ('train_split', 'train[:50%', 'cannot parse split'),
    ('protocol', 'papers', 'unknown protocol'),
    ('protocol', 'literature', 'set --config.degradation=bicubic and model espcn or edsr'),
    ('lr_schedule', 'step', 'unknown lr_schedule'),
    ('warmup_steps', 6, r'warmup_steps must be in \[0, num_train_steps\)'),
    ('warmup_steps', 1, "warmup_steps \\(1\\) applies to lr_schedule 'cosine' only"),
    ('grad_clip', -1.0, 'grad_clip must be >= 0'),
    ('ema', 1.0, r'ema must be in \[0, 1\)'),
    ('shave', -1, 'shave must be >= 0'),
    ('train_scales', (1.0, 0.0), r'train_scales must be factors in \(0, 1\]'),
    ('train_scales', (1.5,), r'train_scales must be factors in \(0, 1\]'),
    ('train_scales', (1.0, 0.5), "train_scales .* applies to protocol 'literature' only"),
    ('mse_finetune', 1.5, r'mse_finetune .* must be in \[0, 1\]'),
    ('expansion', -1, 'expansion must be a whole number >= 0'),
    ('expansion', 2, 'expansion .* applies to models espcn and edsr, not encoder_decoder_residual'),
])
def test_bad_config_values_rejected(tiny_config, tmp_path, field, value, message):
  tiny_config[field] = value
  with pytest.raises(UserError, match=message):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  assert not os.path.exists(tmp_path / 'checkpoints')


@pytest.mark.slow
def test_cli_user_error_is_one_line_without_traceback(tmp_path):
  proc = subprocess.run(main_command(tmp_path, '--config.batch_size=0'), cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert 'Traceback' not in proc.stderr
  assert proc.stderr.strip().splitlines()[-1] == 'error: batch_size must be positive, got 0'


def test_ctrl_c_and_sigterm_are_the_one_stop_request():
  # What was there before (SIG_IGN under nohup, Python's handler in a terminal) comes back.
  before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
  stop = train._StopRequest()
  try:
    assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGTERM) == stop._handle
  finally:
    stop.restore()
  assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


@pytest.mark.slow
def test_signal_saves_a_checkpoint_and_the_same_command_resumes(tmp_path):
  # SIGTERM, what a machine that goes away sends; Ctrl-C's SIGINT takes the same path (above).
  signum = signal.SIGTERM
  cmd = main_command(tmp_path, '--config.num_train_steps=100000')
  proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
  lines = []
  for line in proc.stderr:
    lines.append(line)
    if 'step 3/' in line:
      sent = time.monotonic()
      proc.send_signal(signum)
      break
  _, rest = proc.communicate(timeout=120)
  assert time.monotonic() - sent < 30  # stops in seconds
  assert re.search(r'step 2/100000  loss [\d.]+  [\d.]+ steps/s  \d+ img/s  ETA \d+:\d\d:\d\d',
                   ''.join(lines)), ''.join(lines)
  assert proc.returncode == 1, ''.join(lines) + rest
  assert f'stopped by {signal.Signals(signum).name}' in rest
  assert 'run the same command to resume' in rest
  mngr = ocp.CheckpointManager(checkpointing.checkpoint_dir(str(tmp_path)))
  saved = mngr.latest_step()
  assert saved is not None and saved >= 3

  cmd[-1] = f'--config.num_train_steps={saved + 2}'
  done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert done.returncode == 0, done.stderr
  assert 'resumed from' in done.stderr and f'at step {saved}' in done.stderr
  assert json.loads((tmp_path / 'results.json').read_text())['step'] == saved + 2


@pytest.mark.slow
def test_non_finite_loss_stops_without_saving_it(tiny_config, tmp_path):
  tiny_config.num_train_steps = 3
  train.train_and_evaluate(tiny_config, str(tmp_path))       # a good checkpoint at step 3
  tiny_config.num_train_steps = 40
  tiny_config.learning_rate = 1e12                           # blows up within a few steps
  tiny_config.checkpoint_every_steps = 1
  with pytest.raises(UserError, match=r'not finite at step (\d+); stopped without saving it'):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  state = restore_state(tmp_path, tiny_config)
  for leaf in jax.tree.leaves(state.params):
    assert np.all(np.isfinite(leaf))                          # nothing non-finite was written


@pytest.mark.slow
def test_new_subfolder_flag_trains_beside_another_architecture(tmp_path):
  first = subprocess.run(main_command(tmp_path, '--config.num_train_steps=1'), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
  assert first.returncode == 0, first.stderr
  # A former model name (seed, now encoder_decoder) on the command line, as old scripts have it.
  other = main_command(tmp_path, '--config.num_train_steps=1', '--config.model=seed')
  refused = subprocess.run(other, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert refused.returncode == 1 and '--new_subfolder' in refused.stderr
  moved = subprocess.run(other + ['--new_subfolder'], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
  assert moved.returncode == 0, moved.stderr
  assert (tmp_path / 'seed_c1_f4-8-8' / 'results.json').exists()
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == ['1']   # the first run is untouched


def test_unwritable_workdir_reported_at_start(tiny_config, tmp_path):
  (tmp_path / 'file').write_text('x')
  with pytest.raises(UserError, match='cannot write to workdir'):
    train.train_and_evaluate(tiny_config, str(tmp_path / 'file' / 'run'))


@pytest.mark.slow
def test_batch_not_divisible_by_device_count_rejected(tmp_path):
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=4')
  proc = subprocess.run(main_command(tmp_path, '--config.batch_size=6'), cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert proc.stderr.strip().splitlines()[-1] == (
      'error: batch_size 6 must divide by the 4 devices: use a multiple of 4')


@pytest.mark.slow
def test_failed_save_is_reported_and_earlier_checkpoints_stay(tiny_config, tmp_path,
                                                              monkeypatch):
  tiny_config.num_train_steps = 3
  train.train_and_evaluate(tiny_config, str(tmp_path))

  def disk_full(self, *args, **kwargs):
    raise OSError(28, 'No space left on device')
  monkeypatch.setattr(ocp.CheckpointManager, 'save', disk_full)
  tiny_config.num_train_steps = 6
  with pytest.raises(UserError, match='saving checkpoint 6 .*No space left on device.*intact'):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  monkeypatch.undo()
  assert int(restore_state(tmp_path, tiny_config).step) == 3


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason='needs ../shared/data/mnist')
def test_benchmark_reports_the_peer_keys():
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.benchmark', f'--data_dir={MNIST_DIR}',
                         '--steps=3', '--eval_every=2', '--seconds=0.1', '--model=encoder_decoder'],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = [json.loads(line) for line in proc.stdout.splitlines()]
  summary = lines[-1]
  assert summary['summary'] and summary['steps'] == 3 and summary['model'] == 'encoder_decoder'
  for key in ('images_per_sec', 'compile_seconds', 'eval_psnr', 'infer_28_images_per_sec_batch1',
              'infer_28_images_per_sec_batch256', 'infer_56_images_per_sec_batch1',
              'infer_56_images_per_sec_batch256', 'pipeline_images_per_sec'):
    assert summary[key] > 0, key
  assert summary['train_step_compilations'] == 1
  assert [line['step'] for line in lines if 'step' in line and 'summary' not in line] == [2, 3]
  # Without recipe flags, the peer's recipe and splits.
  assert {k: lines[0][k] for k in benchmark.RECIPE_FIELDS} == dict(
      learning_rate=1e-3, loss='mse', batch_size=128, lr_schedule='constant', warmup_steps=0)
  assert (lines[0]['train_split'], lines[0]['eval_split']) == ('test[:8000]', 'test[8000:]')
  assert lines[0]['speedups'] == list(benchmark.cpu_speedups.SPEEDUPS)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(SUN80_DIR), reason='needs ../shared/data/sun80')
def test_photo_benchmark_runs_the_photo_peers_network_and_reports_its_keys():
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.benchmark', '--task=photo',
                         f'--data_dir={SUN80_DIR}', '--steps=2', '--seconds=0.1',
                         '--batch_size=8', '--lr_schedule=cosine', '--warmup_steps=1',
                         '--validation'],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  lines = [json.loads(line) for line in proc.stdout.splitlines()]
  assert lines[0]['params'] == 112452
  assert {k: lines[0][k] for k in benchmark.RECIPE_FIELDS} == dict(
      learning_rate=1e-3, loss='l1', batch_size=8, lr_schedule='cosine', warmup_steps=1)
  assert (lines[0]['train_split'], lines[0]['eval_split']) == ('train[:60]', 'train[60:70]')
  summary = lines[-1]
  assert summary['summary'] and summary['steps'] == 2 and summary['model'] == 'edsr'
  for key in ('images_per_sec', 'compile_seconds', 'infer_512_megapixels_per_sec',
              'infer_128_batch16_megapixels_per_sec', 'pipeline_images_per_sec', 'eval_psnr'):
    assert summary[key] > 0, key


def test_benchmark_speedups_flag_names_all_none_some_or_all_but_some():
  every = benchmark.cpu_speedups.SPEEDUPS
  assert benchmark.parse_speedups('all') == every
  assert benchmark.parse_speedups('none') == ()
  assert benchmark.parse_speedups(every[1]) == (every[1],)
  assert benchmark.parse_speedups(f'-{every[0]}') == every[1:]
  for bad in ('warp_drive', f'{every[0]},-{every[1]}'):
    with pytest.raises(UserError, match='--speedups'):
      benchmark.parse_speedups(bad)


@pytest.mark.slow
def test_benchmark_rejects_a_bad_recipe_in_one_line(tmp_path):
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.benchmark', f'--data_dir={tmp_path}',
                         '--steps=2', '--lr_schedule=cosine', '--warmup_steps=5'],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode != 0
  assert proc.stderr.strip().splitlines()[-1] == (
      'error: warmup_steps must be in [0, num_train_steps), got 5')


def test_benchmark_refuses_the_autoencoder_before_any_work():
  with pytest.raises(UserError, match="--model=autoencoder: the benchmark runs the PyTorch "
                                      "peers' x2 super-resolution protocols"):
    benchmark._config('mnist', MNIST_DIR, 10, 'autoencoder')  # pylint: disable=protected-access


def test_progress_line_gives_rates_of_its_window_and_time_left_at_the_run_rate(tiny_config,
                                                                              monkeypatch):
  clock = iter([100.0, 110.0, 110.0, 115.0])  # start, first line, its restart, second line
  monkeypatch.setattr(train.time, 'perf_counter', lambda: next(clock))
  tiny_config.update(dict(num_train_steps=1001, batch_size=8))
  progress = train._Progress(tiny_config, first_step=1)
  line, seconds, steps = progress.line(101, 0.5)  # 100 steps in 10 s
  assert (seconds, steps) == (10.0, 100)
  assert line == 'step 101/1001  loss 0.50000  10.0 steps/s  80 img/s  ETA 0:01:30'
  progress.restart_window(101)
  line, seconds, steps = progress.line(201, 0.25)  # 100 in 5 s; 200 in 15 s since the start
  assert (seconds, steps) == (5.0, 100)
  assert line.endswith('20.0 steps/s  160 img/s  ETA 0:01:00')


def test_cosine_schedule_warms_up_then_decays_to_zero(tiny_config):
  assert train.learning_rate_fn(tiny_config) == tiny_config.learning_rate
  tiny_config.update(dict(lr_schedule='cosine', warmup_steps=10, num_train_steps=110,
                          learning_rate=2e-3))
  rate = train.learning_rate_fn(tiny_config)
  np.testing.assert_allclose([rate(0), rate(5), rate(10), rate(60), rate(110)],
                             [0.0, 1e-3, 2e-3, 1e-3, 0.0], atol=1e-9)


def _literature_config(config, tmp_path):
  """The literature protocol on four small crops of a builtin photo, espcn with every option."""
  import skimage.data
  folder = tmp_path / 'photos'
  folder.mkdir()
  photo = skimage.data.astronaut()
  for i in range(4):
    Image.fromarray(photo[100 * i:100 * i + 60, 120:196]).save(folder / f'{i}.png')
  config.update(dict(dataset='folder', data_dir=str(folder), train_split='train[:3]',
                     eval_split='train[3:]', protocol='literature', degradation='bicubic',
                     model='espcn', width=8, hr_size=16, lr_schedule='cosine', warmup_steps=2,
                     grad_clip=1.0, ema=0.9, loss='l1', augment=True))
  return config


@pytest.mark.slow
def test_literature_protocol_trains_and_evaluate_reproduces_its_figures(tiny_config, tmp_path):
  from flax_srae import evaluate
  from flax_srae import inference
  config = _literature_config(tiny_config, tmp_path)
  workdir = str(tmp_path / 'run')
  result = train.train_and_evaluate(config, workdir)
  m = result['eval']
  assert result['num_eval_images'] == 1 and np.isfinite(m['psnr'])
  state = restore_state(workdir, config)
  # The weight average moved off the start and away from the weights; it is what is measured.
  leaves = lambda t: np.concatenate([np.ravel(a) for a in jax.tree.leaves(t)])
  assert not np.allclose(leaves(state.ema_params), leaves(state.params))
  upscaler = inference.load(workdir)
  np.testing.assert_array_equal(leaves(upscaler.params), leaves(state.ema_params))
  r = evaluate.evaluate(workdir)
  assert r['num_images'] == 1 and 'whole images' in r['protocol']
  assert abs(r['methods']['model']['psnr'] - m['psnr']) < 0.01
  assert abs(r['methods']['model']['ssim'] - m['ssim']) < 1e-4
  assert abs(r['methods']['bicubic']['psnr'] - m['bicubic_psnr']) < 0.01
  # A grayscale literature model sees studio-range luma: upscale maps full-range grey there.
  grey = np.random.default_rng(0).random((10, 12), np.float32)
  studio = upscaler.apply((16 + 219 * grey[None, ..., None]) / 255)[0, ..., 0]
  np.testing.assert_allclose(upscaler.upscale(grey), np.clip((studio * 255 - 16) / 219, 0, 1),
                             atol=1e-5)


@pytest.mark.slow
def test_resume_with_another_optimizer_form_is_refused(tiny_config, tmp_path):
  tiny_config.update(dict(num_train_steps=2, ema=0.99))
  train.train_and_evaluate(tiny_config, str(tmp_path))
  tiny_config.update(dict(num_train_steps=4, ema=0.0, lr_schedule='cosine'))
  with pytest.raises(UserError, match="optimizer state has another form.*lr_schedule: "
                     "checkpoint constant vs config cosine.*ema: checkpoint on vs config off"):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  tiny_config.update(dict(ema=0.99, lr_schedule='constant'))
  assert int(restore_state(tmp_path, tiny_config).step) == 2  # the checkpoint is intact


@pytest.mark.slow
def test_collapsible_edsr_trains_l1_then_mse_and_loads_collapsed(tiny_config, tmp_path,
                                                                   monkeypatch):
  from flax_srae import evaluate
  from flax_srae import export
  from flax_srae import inference
  losses = []
  step = train.train_step

  def spy(*args):
    losses.append(args[5])
    return step(*args)

  monkeypatch.setattr(train, 'train_step', spy)
  tiny_config.update(dict(model='edsr', width=8, num_blocks=1, expansion=2, loss='l1',
                          mse_finetune=0.5, hr_size=14, num_train_steps=4))
  result = train.train_and_evaluate(tiny_config, str(tmp_path))
  assert losses == ['l1', 'l1', 'mse', 'mse']
  plain = (9 * 8 + 8) + 2 * (9 * 64 + 8) + (9 * 8 * 4 + 4)
  assert result['parameters'] == plain and result['trained_parameters'] > 2 * plain
  upscaler = inference.load(str(tmp_path))
  assert upscaler.config.expansion == 0
  assert sum(p.size for p in jax.tree.leaves(upscaler.params)) == plain  # run collapsed
  r = evaluate.evaluate(str(tmp_path))
  assert abs(r['methods']['model']['psnr'] - result['eval']['psnr']) < 0.01
  export.export(str(tmp_path), str(tmp_path / 'shipped'))  # ships the collapsed network
  shipped = inference.load(str(tmp_path / 'shipped'))
  assert shipped.config.expansion == 0
  x = np.random.default_rng(0).random((1, 6, 5, 1), np.float32)
  np.testing.assert_allclose(shipped.apply(x), upscaler.apply(x), atol=1e-6)
  tiny_config.update(dict(expansion=0, num_train_steps=6))
  with pytest.raises(UserError, match='another model.*expansion: checkpoint 2 vs config 0'):
    train.train_and_evaluate(tiny_config, str(tmp_path))
  assert checkpointing.architecture_subfolder('w', tiny_config) == os.path.join('w', 'edsr_c1_w8_b1')
  tiny_config.expansion = 2
  assert checkpointing.architecture_subfolder('w', tiny_config) == os.path.join('w',
                                                                                'edsr_c1_w8_b1_x2')
  tiny_config.width = 4  # the output layer's 4 channels in and out would get the identity
  with pytest.raises(UserError, match='expansion with edsr width 4 gives the output layer 4 '
                     'channels in and out'):
    train.train_and_evaluate(tiny_config, str(tmp_path / 'w4'))


def test_the_training_command_keeps_orbax_chatter_and_its_tracebacks_out_of_the_log():
  from flax_srae import main  # pylint: disable=import-outside-toplevel
  record = lambda path, level: logging.LogRecord('x', level, path, 1, 'm', None,
                                                (ValueError, ValueError('v'), None))
  ours = record('/src/flax_srae/training/train.py', logging.INFO)
  assert main._quiet_orbax(ours) and ours.exc_info  # pylint: disable=protected-access
  chatter = record('/site-packages/orbax/checkpoint/x.py', logging.INFO)
  assert not main._quiet_orbax(chatter)  # pylint: disable=protected-access
  failure = record('/site-packages/orbax/checkpoint/x.py', logging.ERROR)
  assert main._quiet_orbax(failure) and failure.exc_info is None  # pylint: disable=protected-access


def test_the_entry_points_print_a_user_error_in_one_line_and_exit_1(monkeypatch, capsys):
  from flax_srae import cli  # pylint: disable=import-outside-toplevel
  # absl's parsing of sys.argv is left out: the training flags, defined once imported, are
  # required, and the subprocess tests run the whole program.
  monkeypatch.setattr(cli.app, 'run', lambda main, flags_parser: main(['prog']))
  monkeypatch.setattr(sys, 'unraisablehook', sys.unraisablehook)

  def command():
    raise UserError('the config says nope: fix it')
  with pytest.raises(SystemExit) as exit_info:
    cli.run(command, speedups=False)
  assert exit_info.value.code == 1
  assert capsys.readouterr().err == 'error: the config says nope: fix it\n'


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason='needs ../shared/data/mnist')
def test_the_benchmark_trains_with_the_step_train_py_trains_with(monkeypatch):
  # L1 then MSE, which the benchmark's protocols do not use: a copy of the step that left the
  # switch out would train other weights.
  config_of = benchmark._config  # pylint: disable=protected-access

  def with_finetune(*args, **kwargs):
    config = config_of(*args, **kwargs)
    config.update(dict(loss='l1', mse_finetune=0.5, num_eval_patches=256))
    return config

  monkeypatch.setattr(benchmark, '_config', with_finetune)
  summary = benchmark.run('mnist', MNIST_DIR, 3, 'encoder_decoder', target_psnr=0.0, eval_every=0,
                          seconds=0.01)
  # train.py's state and step over the same batches: the peers' warm-up step (batch 0),
  # then steps 1 to 3.
  config = with_finetune('mnist', MNIST_DIR, 3, 'encoder_decoder')
  mesh = parallel.create_mesh(jax.devices()[:1])
  data = input_pipeline.load(config)
  model = models.create_model(config)
  state, first_bad = train.initializer(config, model, mesh)(), np.int32(-1)
  step = train.stepper(config, data, mesh)
  for n in range(4):
    state, _, first_bad = step(state, n, first_bad)
  psnr = evaluation.evaluate_patches(model, train.eval_params(state), data.eval, config, mesh,
                                     methods=())['model']['psnr']
  assert summary['steps'] == 3 and int(first_bad) < 0
  assert summary['eval_psnr'] == pytest.approx(psnr, abs=2e-3)
