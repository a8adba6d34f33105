"""Hostile and mistaken input: image bombs, mistyped commands, files that are not what they
claim. Each is refused in one line, cheaply, and nothing already there is overwritten."""
import errno
import io
import json
import os
import pathlib
import re
import struct
import subprocess
import sys
import threading
import zlib

from absl.testing import flagsaver
import numpy as np
from PIL import Image
from PIL import ImageFile
import pytest

import flax_srae
from flax_srae import cli
from flax_srae.platform import files
from flax_srae.data import image_io
from flax_srae.data import input_pipeline
from flax_srae import predict
from flax_srae import serve
from flax_srae.training import train
from flax_srae.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _chunk(kind: bytes, data: bytes) -> bytes:
  return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def write_png_bomb(path, side: int, rows: int = None) -> None:
  """A valid 8-bit RGB PNG of side x side black pixels (or a truncated one of its first
  `rows` rows): zlib stream written a hundred rows at a time, each block flushed whole so that
  it compresses once and repeats, so a 30000x30000 bomb takes a second and a few megabytes."""
  rows = side if rows is None else rows
  block = bytes(1 + 3 * side) * min(100, rows)
  deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
  piece = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
  repeats = rows // min(100, rows)
  adler = 1
  for _ in range(repeats):
    adler = zlib.adler32(block, adler)
  end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
  stream = b'\x78\xda' + piece * repeats + end + struct.pack('>I', adler)
  with open(path, 'wb') as f:
    f.write(b'\x89PNG\r\n\x1a\n')
    f.write(_chunk(b'IHDR', struct.pack('>IIBBBBB', side, side, 8, 2, 0, 0, 0)))
    f.write(_chunk(b'IDAT', stream) + _chunk(b'IEND', b''))


@pytest.fixture
def no_decoding(monkeypatch):
  """Fails the test if Pillow decodes any pixels."""
  def load(self):
    raise AssertionError(f'{self.format} pixels decoded')
  monkeypatch.setattr(ImageFile.ImageFile, 'load', load)


def test_a_tiny_png_declaring_gigapixels_is_refused_for_its_size(tmp_path, no_decoding):
  path = tmp_path / 'bomb.png'
  write_png_bomb(path, 50000, rows=1)
  assert path.stat().st_size < 1000
  with pytest.raises(image_io.PixelLimitError, match=r'50000x50000 \(2,500,000,000 pixels\)'):
    image_io.read_array(str(path))
  with pytest.raises(image_io.PixelLimitError, match='above the limit of 89,478,485'):
    image_io.size_of(str(path))


@pytest.mark.parametrize('suffix', ['.png', '.jpg', '.bmp', '.gif', '.webp', '.tif'])
def test_every_format_read_is_refused_from_its_header(tmp_path, suffix, no_decoding):
  path = str(tmp_path / f'small{suffix}')
  Image.new('RGB', (40, 30), (200, 10, 30)).save(path)
  with pytest.raises(image_io.PixelLimitError, match=r'40x30 \(1,200 pixels\)'):
    image_io.read_array(path, max_pixels=1199)
  with pytest.raises(image_io.PixelLimitError, match=r'40x30 \(1,200 pixels\)'):
    image_io.size_of(path, max_pixels=1199)
  with pytest.raises(UserError, match=r'40x30 \(1,200 pixels\).*--max_pixels=1200'):
    predict._check_size(path, False, 1199)


# Run in a process of its own, so that its peak memory is its own: the refusal's time and the
# growth of the peak resident memory, for each way an image file comes in.
_MEASURE = """
import json, resource, sys, time
import flax_srae
from flax_srae.data import input_pipeline
from flax_srae import predict
from flax_srae import serve
from flax_srae.errors import UserError
import urllib.error, urllib.request
bomb, out = sys.argv[1:]
upscaler = flax_srae.load('pretrained:photo')
def post(url):
  try:
    urllib.request.urlopen(url + 'upscale', open(bomb, 'rb').read(), timeout=60)
  except urllib.error.HTTPError as e:
    raise UserError(f'{e.code} {e.read().decode().strip()}')
with serve.serving(upscaler, 'photo') as url:
  results = {}
  for name, call in (('predict', lambda: predict.predict('pretrained:photo', bomb, out)),
                     ('data', lambda: input_pipeline.read_image(bomb, 1)),
                     ('serve', lambda: post(url))):
    peak, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    try:
      call()
      error = None
    except UserError as e:
      error = str(e)
    results[name] = dict(seconds=time.monotonic() - started, error=error, grew_mb=(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024)
print(json.dumps(results))
"""


@pytest.mark.slow
def test_a_real_png_bomb_is_refused_within_2_s_and_200_mb_everywhere(tmp_path):
  bomb = tmp_path / 'bomb.png'
  write_png_bomb(bomb, 30000)
  assert bomb.stat().st_size < 5e6
  proc = subprocess.run([sys.executable, '-c', _MEASURE, str(bomb), str(tmp_path / 'out.png')],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr
  results = json.loads(proc.stdout.strip().splitlines()[-1])
  for name, r in results.items():
    assert r['error'] and '30000x30000 (900,000,000 pixels)' in r['error'], (name, r)
    assert r['seconds'] < 2 and r['grew_mb'] < 200, (name, r)
  assert results['serve']['error'].startswith('413 ')
  assert sorted(os.listdir(tmp_path)) == ['bomb.png']


# ----- Mistyped commands: one line, status 1, before any work ---------------------------------

def _parse(monkeypatch, tmp_path, *args):
  """cli's flag parsing of `main`'s flags (defined when it is imported): the exit status.
  config_flags reads the overrides of config fields from sys.argv."""
  from flax_srae import main  # pylint: disable=unused-import,import-outside-toplevel
  argv = ['main', f'--workdir={tmp_path}', *args]
  monkeypatch.setattr(sys, 'argv', argv)
  with flagsaver.flagsaver(), pytest.raises(SystemExit) as exit_info:
    cli._parse_flags(argv)
  return exit_info.value.code


@pytest.mark.parametrize('args,message', [
    (['--config=configs/sr28.py', '--config.learning_rte=1'],
     "--config has no field 'learning_rte': Did you mean \"learning_rate\" instead of "
     "\"learning_rte\"? (the fields are in configs/default.py)"),
    (['--config=configs/nope.py'], "cannot load --config: [Errno 2] No such file or directory: "
                                   "'configs/nope.py'; pass a config file such as configs/sr28.py"),
    (['--config=configs/sr28.py', '--config.learning_rate=abc'],
     "flag --config.learning_rate=abc: could not convert string to float: 'abc'"),
    (['--config=configs/sr28.py', '--config.model.x=1'], 'a --config.* value does not fit'),
    (['--config=BROKEN'], r'cannot load --config: invalid syntax \(broken.py, line 1\)'),
    (['--config=configs/sr28.py', 'extra'], 'unexpected arguments: extra (every input is a '
                                            '--flag; see --helpshort)'),
    (['--config=CODE:import nonexistent_mod'], "cannot load --config: ModuleNotFoundError: No "
                                              "module named 'nonexistent_mod'; fix the file"),
    (['--config=CODE:  return undefined_name'], "cannot load --config: NameError: name "
                                                "'undefined_name' is not defined"),
    (['--config=CODE:  raise ValueError("no good")'], 'cannot load --config: ValueError: no good; '
                                                     'fix the'),
    (['--config=CODE:  return os.nothing'], "cannot load --config: AttributeError: module 'os' "
                                            "has no attribute 'nothing'"),
])
def test_a_mistyped_flag_is_one_line(monkeypatch, tmp_path, capsys, args, message):
  (tmp_path / 'broken.py').write_text('def get_config(:\n')
  if args[0].startswith('--config=CODE:'):  # a config file whose own code fails
    code = args[0][len('--config=CODE:'):]
    lines = [code, 'def get_config():', '  pass'] if code.startswith('import') else [
        'import os', 'def get_config():', code]
    (tmp_path / 'failing.py').write_text('\n'.join(lines) + '\n')
    args = [f'--config={tmp_path}/failing.py']
  args = [a.replace('BROKEN', str(tmp_path / 'broken.py')) for a in args]
  assert _parse(monkeypatch, tmp_path, *args) == 1
  err = capsys.readouterr().err
  assert err.startswith('error: ') and err.count('\n') == 1, err
  assert message in err or re.search(message, err), err


@pytest.mark.parametrize('field,value', [('learning_rate', float('nan')),
                                         ('learning_rate', float('inf')),
                                         ('grad_clip', float('inf')), ('ema', float('nan')),
                                         ('mse_finetune', float('nan'))])
def test_nan_and_inf_config_values_are_refused_before_any_work(tiny_config, tmp_path, field,
                                                               value):
  tiny_config[field] = value
  with pytest.raises(UserError, match=f'{field} must be a finite number, got {value}'):
    train.train_and_evaluate(tiny_config, str(tmp_path / 'run'))
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('port', [99999, -1])
def test_a_port_out_of_range_is_a_user_error(trained_workdir, port):
  with pytest.raises(UserError, match=f'--port must be in 0..65535 .*got {port}'):
    serve.make_server(flax_srae.load(trained_workdir), 'tiny', port=port)


@pytest.mark.slow
@pytest.mark.parametrize('argv,message', [
    (['flax_srae.main', '--config=configs/sr28.py', '--workdir=WORKDIR',
      '--config.learning_rte=1'], "error: --config has no field 'learning_rte'"),
    (['flax_srae.main', '--config=configs/nope.py', '--workdir=WORKDIR'],
     'error: cannot load --config: [Errno 2] No such file or directory'),
    (['flax_srae.main', '--config=configs/sr28.py', '--workdir=WORKDIR',
      '--config.learning_rate=nan'], 'error: learning_rate must be a finite number, got nan'),
    (['flax_srae.serve', '--model=pretrained:photo', '--port=99999'],
     'error: flag --port=99999: 99999 is not an integer in the range [0, 65535]'),
    (['flax_srae.serve', '--model=pretrained:photo', '--port=-1'],
     'error: flag --port=-1: -1 is not an integer in the range [0, 65535]'),
])
def test_mistyped_commands_end_in_one_line(tmp_path, argv, message):
  argv = [a.replace('WORKDIR', str(tmp_path / 'run')) for a in argv]
  proc = subprocess.run([sys.executable, '-m', *argv], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
  lines = [l for l in proc.stderr.splitlines() if not re.match(r'[IW]\d{4} ', l)]
  assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith(message), proc.stderr
  assert not (tmp_path / 'run').exists()


# ----- predict's files: nothing overwritten, every format read, a bad file left out -----------

def test_predict_never_overwrites_an_output_unless_told(trained_workdir, tmp_path):
  Image.new('L', (10, 8), 90).save(tmp_path / 'in.png')
  (tmp_path / 'out.png').write_bytes(b'precious')
  with pytest.raises(UserError, match=r'out.png exists: pass --overwrite to replace'):
    predict.predict(trained_workdir, str(tmp_path / 'in.png'), str(tmp_path / 'out.png'))
  assert (tmp_path / 'out.png').read_bytes() == b'precious'
  predict.predict(trained_workdir, str(tmp_path / 'in.png'), str(tmp_path / 'out.png'),
                  overwrite=True)
  assert image_io.read_array(str(tmp_path / 'out.png')).shape == (16, 20)
  src, dst = tmp_path / 'folder', tmp_path / 'up'
  src.mkdir(), dst.mkdir()
  for name in ('a.png', 'b.png', 'c.png'):
    Image.new('L', (10, 8), 90).save(src / name)
  (dst / 'b.png').write_bytes(b'kept')
  (dst / 'c.png').write_bytes(b'kept')
  with pytest.raises(UserError, match=r'up/b.png exists \(and 1 more outputs\): pass --overwrite'):
    predict.predict(trained_workdir, str(src), str(dst))
  assert sorted(os.listdir(dst)) == ['b.png', 'c.png'] and (dst / 'b.png').read_bytes() == b'kept'


def test_a_folders_output_must_be_a_folder(trained_workdir, tmp_path):
  (tmp_path / 'in').mkdir()
  Image.new('L', (10, 8)).save(tmp_path / 'in' / 'a.png')
  with pytest.raises(UserError, match=r'input .*in is a folder, so --output names a folder to '
                                      r'write, and .*x.png is a file name'):
    predict.predict(trained_workdir, str(tmp_path / 'in'), str(tmp_path / 'x.png'))
  assert not (tmp_path / 'x.png').exists()


@pytest.mark.slow
def test_a_folder_reads_every_format_a_single_file_does(trained_workdir, tmp_path):
  src = tmp_path / 'in'
  src.mkdir()
  grey = np.random.default_rng(0).integers(0, 256, (8, 10), np.uint8)
  for suffix in image_io.IMAGE_SUFFIXES:
    Image.fromarray(grey).save(src / f'{suffix[1:]}{suffix}')
    one = tmp_path / f'{suffix[1:]}.png'
    predict.predict(trained_workdir, str(src / f'{suffix[1:]}{suffix}'), str(one))
    assert image_io.read_array(str(one)).shape[:2] == (16, 20)
  written = predict.predict(trained_workdir, str(src), str(tmp_path / 'out'))
  # GIF and WebP are read, and written as PNG.
  assert sorted(os.path.basename(p) for p in written) == [
      'bmp.bmp', 'gif.png', 'jpeg.jpeg', 'jpg.jpg', 'png.png', 'tif.tif', 'tiff.tiff', 'webp.png']
  for path in written:
    assert image_io.read_array(path).shape[:2] == (16, 20)
  Image.fromarray(grey).save(src / 'png.gif')
  with pytest.raises(UserError, match=r'png.gif and png.png in .* would both be written as '
                                      r'png.png: rename one'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out2'))


def test_a_folders_bad_files_are_left_out_and_listed(trained_workdir, tmp_path, capsys):
  src = tmp_path / 'in'
  src.mkdir()
  for name in ('a.png', 'c.jpg', 'e.png'):
    Image.new('L', (10, 8), 90).save(src / name)
  (src / 'b.png').write_bytes(b'')
  (src / 'd.png').symlink_to(tmp_path / 'gone.png')
  (src / 'f.png').write_bytes(b'\x89PNG\r\n\x1a\n broken')
  with pytest.raises(UserError, match=r'^3 of 6 inputs left out \(listed above\); 3 written$'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out'))
  assert sorted(os.listdir(tmp_path / 'out')) == ['a.png', 'c.jpg', 'e.png']
  out, err = capsys.readouterr()
  assert out.count('wrote ') == 3
  lines = err.splitlines()
  assert [l.split(':')[0] for l in lines] == [f'left out {src}/{n}' for n in ('b.png', 'd.png',
                                                                               'f.png')], err
  assert all('cannot read image' in l and l.endswith('remove or replace the file')
             for l in lines), err


def _truncated_jpeg(path, size=28):
  buffer = io.BytesIO()
  Image.new('L', (size, size), 128).save(buffer, 'JPEG')
  path.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])


def test_files_that_pass_the_header_but_not_the_decoder_are_left_out_too(trained_workdir,
                                                                         tmp_path, capsys):
  src = tmp_path / 'in'
  src.mkdir()
  _truncated_jpeg(src / 'cut.jpg')
  os.mkfifo(src / 'pipe.png')  # opening it would wait for a writer forever
  with pytest.raises(UserError, match=r'^2 of 2 inputs left out \(listed above\); 0 written$'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out'))
  assert not (tmp_path / 'out').exists()
  err = capsys.readouterr().err
  assert f'left out {src}/pipe.png: cannot read image {src}/pipe.png: not a regular file' in err
  assert f'left out {src}/cut.jpg: cannot read image' in err
  Image.new('L', (10, 8), 90).save(src / 'good.png')
  with pytest.raises(UserError, match=r'^2 of 3 inputs left out'):
    predict.predict(trained_workdir, str(src), str(tmp_path / 'out'))
  assert os.listdir(tmp_path / 'out') == ['good.png']


def test_an_autoencoders_folder_leaves_out_files_of_another_size_and_writes_no_codes(tmp_path,
                                                                                   capsys):
  src = tmp_path / 'in'
  src.mkdir()
  for name, size in (('a.png', (28, 28)), ('b.png', (30, 28)), ('c.png', (28, 28))):
    Image.new('L', size, 90).save(src / name)
  codes = tmp_path / 'codes.npy'
  with pytest.raises(UserError, match=r"1 of 3 inputs left out \(listed above\); 2 written; "
                                      r"--codes not written \(its rows would not match"):
    predict.predict('pretrained:mnist_ae', str(src), str(tmp_path / 'out'), codes=str(codes))
  assert sorted(os.listdir(tmp_path / 'out')) == ['a.png', 'c.png'] and not codes.exists()
  assert 'b.png holds 30x28 images, and this autoencoder codes 28x28' in capsys.readouterr().err
  (src / 'b.png').unlink()
  with pytest.raises(UserError, match='out/a.png exists'):
    predict.predict('pretrained:mnist_ae', str(src), str(tmp_path / 'out'), codes=str(codes))
  predict.predict('pretrained:mnist_ae', str(src), str(tmp_path / 'out'), codes=str(codes),
                  overwrite=True)
  assert np.load(codes).shape == (2, 32)
  with pytest.raises(UserError, match='codes.npy exists: pass --overwrite'):
    predict.predict('pretrained:mnist_ae', str(src), str(tmp_path / 'out2'), codes=str(codes))
  predict.predict('pretrained:mnist_ae', str(src), str(tmp_path / 'out2'), codes=str(codes),
                  overwrite=True)


def test_a_single_outputs_format_is_checked_before_the_model_loads(tmp_path):
  Image.new('L', (10, 8)).save(tmp_path / 'in.png')
  for name in ('out.webp', 'out'):
    with pytest.raises(UserError, match=f'cannot write {tmp_path}/{name}: use one of .png'):
      predict.predict(str(tmp_path / 'no_such_run'), str(tmp_path / 'in.png'),
                      str(tmp_path / name))


def test_the_size_of_a_png_is_read_without_decoding_it(tmp_path, no_decoding):
  Image.new('L', (300, 200)).save(tmp_path / 'plain.png')
  assert image_io.size_of(str(tmp_path / 'plain.png')) == (300, 200)



def test_pillows_own_limit_is_lifted_for_each_open_whatever_the_other_threads_do(
    tmp_path, monkeypatch):
  # serve reads each upload in a thread of its own, under a --max_pixels that may be above
  # Pillow's own limit, which image_io lifts while it opens a file. Here the opens of two
  # threads overlap as they may in a server: the small image's lasts until the big one's has
  # started, the big one's until the small one's read is over.
  big, small = str(tmp_path / 'big.png'), str(tmp_path / 'small.png')
  write_png_bomb(big, 15000, rows=1)  # more than twice Pillow's limit: Pillow refuses it
  Image.new('L', (4, 4)).save(small)
  monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', Image.MAX_IMAGE_PIXELS)
  limit, pillow_open = Image.MAX_IMAGE_PIXELS, Image.open
  small_opening, big_opening, small_read = (threading.Event() for _ in range(3))

  def overlapping_open(path, *args, **kwargs):
    if path == small:
      small_opening.set()
      big_opening.wait(timeout=0.5)  # not at all where the opens take turns
    else:
      big_opening.set()
      small_read.wait(timeout=0.5)
    return pillow_open(path, *args, **kwargs)
  monkeypatch.setattr(Image, 'open', overlapping_open)
  results = {}

  def read(path, done=None):
    try:
      results[path] = image_io.size_of(path, max_pixels=15000 * 15000)
    except Exception as e:  # pylint: disable=broad-except
      results[path] = e
    if done:
      done.set()
  threads = [threading.Thread(target=read, args=(small, small_read))]
  threads[0].start()
  assert small_opening.wait(timeout=10)
  threads.append(threading.Thread(target=read, args=(big,)))
  threads[1].start()
  for thread in threads:
    thread.join(timeout=10)
  assert results == {small: (4, 4), big: (15000, 15000)}
  assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's bomb check is back for everyone else

def test_an_output_that_appears_meanwhile_is_kept(tmp_path, monkeypatch):
  target = tmp_path / 'out.png'
  with pytest.raises(FileExistsError):
    with files.atomic_path(str(target), overwrite=False) as tmp:
      pathlib.Path(tmp).write_bytes(b'new')
      target.write_bytes(b'made meanwhile')
  assert target.read_bytes() == b'made meanwhile' and os.listdir(tmp_path) == ['out.png']

  def no_links(src, dst):  # as on FAT drives and some network mounts
    raise PermissionError(errno.EPERM, 'Operation not permitted')
  monkeypatch.setattr(os, 'link', no_links)
  with pytest.raises(FileExistsError):
    with files.atomic_path(str(target), overwrite=False) as tmp:
      pathlib.Path(tmp).write_bytes(b'new')
  with files.atomic_path(str(tmp_path / 'fresh.png'), overwrite=False) as tmp:
    pathlib.Path(tmp).write_bytes(b'new')
  assert (tmp_path / 'fresh.png').read_bytes() == b'new'
  assert sorted(os.listdir(tmp_path)) == ['fresh.png', 'out.png']


def test_load_of_a_file_says_it_is_no_workdir():
  with pytest.raises(UserError, match=r'^/etc/passwd is a file, not a folder: pass the --workdir '
                                      r'of a training run'):
    flax_srae.load('/etc/passwd')


def test_bmp_cannot_hold_alpha():
  with pytest.raises(UserError, match='BMP cannot hold an alpha channel; write PNG'):
    image_io.check_format('x.bmp', np.zeros((4, 4, 4), np.uint8))


@pytest.mark.slow
def test_predict_cli_leaves_out_a_bad_file_and_ends_in_status_1(tmp_path):
  src = tmp_path / 'in'
  src.mkdir()
  Image.new('RGB', (10, 8), (200, 10, 30)).save(src / 'a.png')
  (src / 'b.png').write_bytes(b'')
  argv = [sys.executable, '-m', 'flax_srae.predict', '--model=pretrained:photo',
          f'--input={src}', f'--output={tmp_path}/out']
  proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr
  assert proc.stdout.startswith(f'wrote {tmp_path}/out/a.png')
  assert proc.stderr.splitlines()[-2:] == [
      f"left out {src}/b.png: cannot read image {src}/b.png: cannot identify image file "
      f"'{src}/b.png'; remove or replace the file",
      'error: 1 of 2 inputs left out (listed above); 1 written']
  proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1 and proc.stderr.splitlines()[-1].startswith(
      f'error: {tmp_path}/out/a.png exists: pass --overwrite'), proc.stderr
  proc = subprocess.run(argv + ['--overwrite'], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
  assert proc.returncode == 1 and proc.stdout.startswith(f'wrote {tmp_path}/out/a.png')


# ----- Colour ---------------------------------------------------------------------------------

@pytest.mark.parametrize('size', [1, 2, 3, 8, 33])
def test_a_constant_colour_survives_the_luma_path_exactly(size):
  upscaler = flax_srae.load('pretrained:photo')  # grayscale: colour goes through the luma
  colours = np.array([(200, 10, 30), (255, 255, 255), (128, 128, 128), (0, 255, 0), (3, 2, 1)],
                     np.uint8)
  images = np.broadcast_to(colours[:, None, None], (5, size, size, 3))
  out = upscaler.upscale(images)
  assert out.shape == (5, 2 * size, 2 * size, 3)
  np.testing.assert_array_equal(out, np.broadcast_to(colours[:, None, None], out.shape))
  one = upscaler.upscale(np.full((size, size, 4), 77, np.uint16))  # RGBA, 16 bits
  assert one.dtype == np.uint16 and (one == 77).all()
  # An image beside them that is not flat is still the model's.
  mixed = images.copy()
  mixed[0, 0, 0] = (0, 0, 0)
  assert (upscaler.upscale(mixed)[1:] == out[1:]).all()
  assert not (upscaler.upscale(mixed)[0] == out[0]).all()


def test_tiff_keeps_16_bits_and_32_bit_pixels_are_refused(tmp_path):
  grey16 = (np.arange(20) * 3000).astype(np.uint16).reshape(4, 5)
  Image.fromarray(grey16).save(tmp_path / 'grey16.tif')
  np.testing.assert_array_equal(image_io.read_array(str(tmp_path / 'grey16.tif')), grey16)
  image_io.write_array(str(tmp_path / 'out.tif'), grey16)
  np.testing.assert_array_equal(image_io.read_array(str(tmp_path / 'out.tif')), grey16)
  Image.fromarray(np.full((4, 5), np.nan, np.float32)).save(tmp_path / 'nan.tif')
  with pytest.raises(UserError, match=r'nan.tif holds floating-point pixels: convert it to 8 or '
                                      r'16 bits'):
    image_io.read_array(str(tmp_path / 'nan.tif'))
  Image.fromarray(np.arange(20, dtype=np.int32).reshape(4, 5)).save(tmp_path / 'i32.tif')
  with pytest.raises(UserError, match='signed or 32-bit integer pixels'):
    image_io.read_array(str(tmp_path / 'i32.tif'))
  with pytest.raises(UserError, match=r'16-bit images can only be written as PNG \(or TIFF'):
    image_io.check_format('x.tif', np.zeros((4, 5, 3), np.uint16))
