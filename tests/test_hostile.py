"""Hostile and mistaken input: image bombs, mistyped commands, files that are not what they
claim. Each is refused in one line, cheaply, and nothing already there is overwritten."""
import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image
from PIL import ImageFile
import pytest

from flax_srae import image_io
from flax_srae import input_pipeline
from flax_srae import predict
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
from flax_srae import input_pipeline, predict, serve
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
