"""What a user's bad luck meets: rotated camera photos, huge images, two runs on one workdir, a
full disk and a damaged checkpoint."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

import flax_srae
from flax_srae.data import image_io
from flax_srae.data import input_pipeline
from flax_srae import predict
from flax_srae.platform import run_lock
from flax_srae.training import train
from flax_srae.errors import UserError
from conftest import main_command, restore_state

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Upright: a bright block in the top-left corner of a 24-wide, 16-high grey picture.
UPRIGHT = np.full((16, 24), 20, np.uint8)
UPRIGHT[:6, :8] = 235
# What a camera stores for each EXIF orientation, so that the viewer's turn makes it upright.
STORED = {3: np.rot90(UPRIGHT, 2), 6: np.rot90(UPRIGHT, 1), 8: np.rot90(UPRIGHT, -1)}


def _camera_jpeg(path, orientation):
  exif = Image.Exif()
  exif[0x0112] = orientation
  Image.fromarray(STORED[orientation]).save(path, quality=100, exif=exif)


def _assert_upright(arr, scale):
  arr = np.asarray(arr, np.float32).squeeze()
  assert arr.shape == (16 * scale, 24 * scale)
  block = arr[:6 * scale, :8 * scale].mean()
  assert block > 200 and arr[-6 * scale:, -8 * scale:].mean() < 60, arr[::scale, ::scale]


@pytest.mark.parametrize('orientation', [3, 6, 8])
def test_camera_orientation_is_upright_in_predict_and_the_folder_dataset(
    trained_workdir, tmp_path, orientation):
  src = tmp_path / 'photos'
  src.mkdir()
  _camera_jpeg(src / 'phone.jpg', orientation)
  assert image_io.size_of(str(src / 'phone.jpg')) == (24, 16)
  predict.predict(trained_workdir, str(src / 'phone.jpg'), str(tmp_path / 'out.png'))
  _assert_upright(Image.open(tmp_path / 'out.png'), 2)
  _assert_upright(input_pipeline.read_image(str(src / 'phone.jpg'), 1) * 255, 1)


@pytest.mark.slow
def test_an_image_above_the_pixel_limit_is_refused_in_one_line_before_any_work(tmp_path):
  # 12,000 x 12,000 pixels in a PNG of a few hundred kilobytes.
  Image.new('L', (12000, 12000)).save(tmp_path / 'huge.png')
  started = time.monotonic()
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.predict', '--model=pretrained:photo',
                         f'--input={tmp_path}/huge.png', f'--output={tmp_path}/out.png'],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert time.monotonic() - started < 60
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr
  assert (proc.stdout + proc.stderr).strip().splitlines() == [
      f'error: {tmp_path}/huge.png is 12000x12000 (144,000,000 pixels), above the limit of '
      f'89,478,485: pass --max_pixels=144000000 to upscale it']
  assert sorted(os.listdir(tmp_path)) == ['huge.png']


def test_the_pixel_limit_is_a_flag_and_covers_folders_and_arrays(trained_workdir, tmp_path,
                                                                 capsys):
  src = tmp_path / 'in'
  src.mkdir()
  Image.new('L', (30, 20)).save(src / 'a.png')
  Image.new('L', (50, 40)).save(src / 'b.png')
  with pytest.raises(UserError, match=r'1 of 2 inputs left out \(listed above\); 1 written'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out'), max_pixels=1000)
  assert capsys.readouterr().err == (
      f'left out {src}/b.png: {src}/b.png is 50x40 (2,000 pixels), above the limit of 1,000: '
      f'pass --max_pixels=2000 to upscale it\n')
  assert os.listdir(tmp_path / 'out') == ['a.png']
  with pytest.raises(UserError, match=r'2 of 2 inputs left out'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'none'), max_pixels=100)
  assert not (tmp_path / 'none').exists()  # nothing to do: refused before the model loads
  np.save(tmp_path / 'x.npy', np.zeros((3, 40, 50), np.float32))
  with pytest.raises(UserError, match='x.npy is 50x40'):
    predict.predict(trained_workdir, str(tmp_path / 'x.npy'), str(tmp_path / 'y.npy'),
                    max_pixels=1999)
  assert predict.predict(trained_workdir, str(src), str(tmp_path / 'out'), max_pixels=2000,
                         overwrite=True)
  with pytest.raises(UserError, match='--max_pixels must be positive, got 0'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out2'), max_pixels=0)
  with pytest.raises(UserError, match=r'b.png is 50x40 .* downscale it or leave it out'):
    image_io.read_array(str(src / 'b.png'), max_pixels=1000)


@pytest.mark.slow
def test_tiles_report_progress_and_large_images_their_memory_and_time_left(trained_workdir,
                                                                           capsys):
  up = flax_srae.load(trained_workdir)
  x = np.random.default_rng(0).random((2, 40, 72), np.float32)
  seen = []
  out = up.upscale(x, tile=36, overlap=4, progress=lambda done, total: seen.append((done, total)))
  np.testing.assert_allclose(out, up.upscale(x, tile=36, overlap=4))
  # 28-pixel cores: 2 x 3 tiles per image.
  assert seen == [(i, 12) for i in range(1, 13)]
  assert predict._tile_progress('small.png', x[0], tile=36, scale=2) is None
  report = predict._tile_progress('big.png', np.zeros((200, 300), np.uint8), tile=36, scale=2,
                                  every=0)
  report(1, 4)
  report(4, 4)
  lines = capsys.readouterr().err.splitlines()
  assert lines[0] == 'big.png: 300x200, in tiles of 36x36; about 0.0 GB of memory'
  assert lines[1].startswith('big.png: tile 1/4, 0:0') and lines[1].endswith(' left')
  assert lines[2] == 'big.png: tile 4/4, 0:00 left'


@pytest.mark.slow
def test_a_second_run_on_a_busy_workdir_stops_at_once_and_a_killed_run_leaves_no_lock(
    tmp_path):
  first = subprocess.Popen(main_command(tmp_path, '--config.num_train_steps=100000'),
                           cwd=ROOT, stderr=subprocess.PIPE, text=True)
  try:
    for line in first.stderr:
      if 'step 2/' in line:
        break
    second = subprocess.run(main_command(tmp_path, '--config.num_train_steps=4'), cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and 'Traceback' not in second.stderr
    assert second.stderr.strip().splitlines()[-1].startswith(
        f'error: workdir {tmp_path} is in use by another training run (pid {first.pid} on ')
  finally:
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
  # The OS released the killed run's lock: the same command goes on from its checkpoint.
  again = subprocess.run(main_command(tmp_path, '--config.num_train_steps=4'), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
  assert again.returncode == 0, again.stderr[-2000:]


@pytest.mark.slow
def test_the_lock_is_held_while_training_and_released_after(tiny_config, tmp_path,
                                                           monkeypatch):
  held = []

  def busy_elsewhere(*args, **kwargs):
    with pytest.raises(UserError, match=f'in use by another training run \\(pid {os.getpid()}'):
      with run_lock.hold(str(tmp_path)):
        pass
    held.append(True)
    return original(*args, **kwargs)
  original = train._train_and_evaluate
  monkeypatch.setattr(train, '_train_and_evaluate', busy_elsewhere)
  tiny_config.num_train_steps = 1
  train.train_and_evaluate(tiny_config, str(tmp_path))
  assert held == [True]
  with run_lock.hold(str(tmp_path)):   # free again
    pass


def _damage(step_dir):
  """Cuts every data file of a checkpoint's state to half its size."""
  for folder, _, names in os.walk(step_dir / 'state'):
    for name in names:
      path = os.path.join(folder, name)
      with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)


def _listing(folder):
  return sorted((os.path.relpath(os.path.join(d, n), folder), os.path.getsize(os.path.join(d, n)))
                for d, _, names in os.walk(folder) for n in names if not n.startswith('.lock'))


@pytest.mark.slow
def test_a_damaged_latest_checkpoint_names_its_step_and_how_to_resume_and_deletes_nothing(
    tiny_config, tmp_path):
  tiny_config.num_train_steps = 6               # checkpoints 3 and 6
  train.train_and_evaluate(tiny_config, str(tmp_path))
  _damage(tmp_path / 'checkpoints' / '6')
  before = _listing(tmp_path)
  tiny_config.num_train_steps = 9
  with pytest.raises(UserError) as e:
    train.train_and_evaluate(tiny_config, str(tmp_path))
  folder, aside = tmp_path / 'checkpoints' / '6', tmp_path / 'damaged_checkpoint_6'
  assert str(e.value).startswith(f'checkpoint 6 in {tmp_path}/checkpoints is incomplete or '
                                 f'damaged (')
  assert str(e.value).endswith(f'move it aside (mv {folder} {aside}) and run the same command '
                               f'to resume from step 3; nothing was deleted')
  assert _listing(tmp_path) == before
  with pytest.raises(UserError, match=r'checkpoint 6 .* pass --step=3 \(or load'):
    flax_srae.load(str(tmp_path))
  assert flax_srae.load(str(tmp_path), step=3).step == 3

  shutil.move(folder, aside)                    # as the message says
  results = train.train_and_evaluate(tiny_config, str(tmp_path))
  assert results['step'] == 9 and int(restore_state(tmp_path, tiny_config).step) == 9
  assert os.path.isdir(aside)


def _mount_tmpfs(path, size):
  path.mkdir()
  proc = subprocess.run(['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(path)],
                        capture_output=True, text=True)
  return proc.returncode == 0, proc.stderr.strip()


@pytest.mark.slow
def test_training_into_a_disk_that_fills_ends_in_one_line_and_resumes_once_space_is_freed(
    tmp_path):
  disk = tmp_path / 'disk'
  mounted, why = _mount_tmpfs(disk, '1m') if os.geteuid() == 0 else (False, 'not root')
  if not mounted:
    pytest.skip(f'cannot mount a small tmpfs here ({why})')
  try:
    filler = disk / 'filler'
    filler.write_bytes(b'\0' * 400_000)
    workdir = disk / 'run'
    cmd = main_command(workdir, '--config.model=encoder_decoder_residual', '--config.num_train_steps=100000',
                       '--config.checkpoint_every_steps=1', '--config.keep_checkpoints=100000',
                       '--config.eval_every_steps=100000')
    full = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert full.returncode == 1, full.stderr[-3000:]
    assert 'Traceback' not in full.stderr, full.stderr[-3000:]
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and 'No space left on device' in last, last
    assert 'free disk space' in last
    for name in os.listdir(workdir):            # every result file there is whole
      if name.endswith('.json'):
        json.loads((workdir / name).read_text())
    saved = sorted(int(s) for s in os.listdir(workdir / 'checkpoints') if s.isdigit())
    assert saved, os.listdir(workdir / 'checkpoints')

    filler.unlink()                             # space freed: the same command resumes
    cmd[cmd.index('--config.num_train_steps=100000')] = f'--config.num_train_steps={saved[-1] + 2}'
    cmd[cmd.index('--config.checkpoint_every_steps=1')] = '--config.checkpoint_every_steps=100'
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f'at step {saved[-1]}' in done.stderr
    assert json.loads((workdir / 'results.json').read_text())['step'] == saved[-1] + 2
  finally:
    subprocess.run(['umount', str(disk)], check=False)


# What a full disk leaves behind when the training run stops, without waiting for a disk to
# fill: Orbax has closed its asyncio loop while a TensorStore write it awaited is still under
# way; when the write completes, TensorStore's callback finds the loop closed.
_CLOSED_LOOP_COMMAND = """
import asyncio
import tensorstore as ts
from flax_srae import cli
from flax_srae.errors import WriteError

def command():
  promise, future = ts.Promise.new()
  loop = asyncio.new_event_loop()

  async def write():
    return await future
  loop.create_task(write())
  loop.run_until_complete(asyncio.sleep(0))  # the task awaits TensorStore's future
  loop.close()
  promise.set_result(None)                   # 'Event loop is closed' in TensorStore's callback
  raise WriteError('saving checkpoint 6 failed (No space left on device)')

cli.run(command, speedups=False)
"""


@pytest.mark.slow
def test_a_failed_write_ends_in_one_line_though_tensorstore_calls_back_into_a_closed_loop():
  proc = subprocess.run([sys.executable, '-c', _CLOSED_LOOP_COMMAND], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1
  assert proc.stderr == 'error: saving checkpoint 6 failed (No space left on device)\n', (
      proc.stderr[-3000:])


def test_a_filesystem_without_locks_gets_a_warning_and_trains(tmp_path, monkeypatch):
  import errno
  import fcntl

  def no_locks(*args):
    raise OSError(errno.ENOLCK, 'No locks available')
  monkeypatch.setattr(fcntl, 'flock', no_locks)
  with run_lock.hold(str(tmp_path)):
    assert 'pid ' in (tmp_path / '.lock.0').read_text()


def test_the_tests_compilation_cache_read_warning_stays_off_stderr():
  # conftest's workaround: a cache entry read while another process writes it (or left short
  # by a killed run) makes JAX warn, a line the CLI tests that read stderr would count.
  assert os.path.isdir(os.environ['JAX_COMPILATION_CACHE_DIR'])  # the session's, or the user's
  warn = "import warnings; warnings.warn({!r})"
  quiet = subprocess.run([sys.executable, '-c', warn.format(
      "Error reading persistent compilation cache entry for 'jit_step': EOFError")],
                         capture_output=True, text=True, timeout=60)
  assert quiet.returncode == 0 and quiet.stderr == ''
  other = subprocess.run([sys.executable, '-c', warn.format('another warning')],
                         capture_output=True, text=True, timeout=60)
  assert 'UserWarning: another warning' in other.stderr
