"""`python -m flax_srae.serve`: the server in a thread of this process, talked to over HTTP."""
import http.client
import io
import json
import logging
import os
import pathlib
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import jax
import numpy as np
from PIL import Image
import pytest

import flax_srae
from flax_srae.data import image_io
from flax_srae import serve
from flax_srae.errors import UserError
from conftest import SUN80_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Small limits, so that refused uploads stay small.
MAX_BYTES, MAX_PIXELS = 100_000, 100 * 100


@pytest.fixture(scope='module')
def upscaler(trained_workdir):
  return flax_srae.load(trained_workdir)


@pytest.fixture(scope='module')
def url(upscaler):
  with serve.serving(upscaler, 'tiny', max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS) as base:
    yield base


def request(url, data=None):
  """(status, headers, body) of a GET, or of a POST of `data`, errors included."""
  try:
    with urllib.request.urlopen(url, data, timeout=120) as r:
      return r.status, r.headers, r.read()
  except urllib.error.HTTPError as e:
    return e.code, e.headers, e.read()


def png_array(body: bytes, tmp_path) -> np.ndarray:
  """An answer's PNG, read as the server reads uploads."""
  path = tmp_path / 'answer.png'
  path.write_bytes(body)
  return image_io.read_array(str(path))


def sun80_crop(tmp_path, width, height) -> pathlib.Path:
  """The top-left corner of the first of sun80's eval photos (the last 10 files), as a PNG."""
  name = sorted(os.listdir(SUN80_DIR))[-10]
  path = tmp_path / f'{os.path.splitext(name)[0]}.png'
  with Image.open(os.path.join(SUN80_DIR, name)) as im:
    im.crop((0, 0, width, height)).save(path)
  return path


@pytest.fixture
def images(tmp_path):
  """Uploads of three kinds: 8-bit RGB JPEG, 16-bit grey PNG, 8-bit RGBA PNG; odd sizes."""
  rng = np.random.default_rng(0)
  ramp = np.linspace(0, 1, 31)[None, :, None] * np.linspace(0, 1, 23)[:, None, None]
  paths = []
  for name, channels, top in (('rgb.jpg', 3, 255), ('grey16.png', 1, 65535),
                              ('rgba.png', 4, 255)):
    x = np.clip(ramp + 0.1 * rng.random((23, 31, channels)), 0, 1)
    dtype = np.uint8 if top == 255 else np.uint16
    path = tmp_path / name
    image_io.write_array(str(path), np.round(x * top).astype(dtype).squeeze())
    paths.append(path)
  return paths


def test_upscale_answers_the_models_png_at_twice_the_size(url, upscaler, images, tmp_path):
  for path in images:
    status, headers, body = request(url + 'upscale', path.read_bytes())
    assert status == 200 and headers['Content-Type'] == 'image/png'
    assert float(headers['X-Elapsed-Seconds']) >= 0
    image = image_io.read_array(path)
    out = png_array(body, tmp_path)
    assert out.shape[:2] == (2 * image.shape[0], 2 * image.shape[1])
    # The pixels `predict` would write, in the input's dtype and layout (16-bit stays 16-bit).
    np.testing.assert_array_equal(out, upscaler.upscale(image))


def test_bicubic_method_is_the_projects_cubic_on_every_channel(url, images, tmp_path):
  for path in images:
    status, _, body = request(url + 'upscale?method=bicubic', path.read_bytes())
    assert status == 200
    image = image_io.read_array(path)
    top = np.iinfo(image.dtype).max
    x = image.reshape(image.shape[:2] + (-1,)).astype(np.float32) / top
    h, w, c = x.shape
    expected = np.clip(np.asarray(jax.image.resize(x, (2 * h, 2 * w, c), 'cubic')), 0, 1)
    expected = np.round(expected * top).astype(image.dtype).reshape(
        (2 * h, 2 * w) + image.shape[2:])
    np.testing.assert_array_equal(png_array(body, tmp_path), expected)


def test_page_and_model_info(url):
  status, headers, page = request(url)
  assert status == 200 and headers['Content-Type'] == 'text/html; charset=utf-8'
  for element in (b'id="file"', b'id="status"', b'id="error"', b'id="result"'):
    assert element in page
  assert b'://' not in page  # self-contained: the machine may be offline
  status, headers, body = request(url + 'model')
  assert status == 200 and headers['Content-Type'] == 'application/json'
  assert json.loads(body) == {'model': 'tiny', 'architecture': 'encoder_decoder_residual', 'scale': 2,
                              'channels': 1, 'step': 3}


def _post_with_length(url, length):
  """POST /upscale with no body and the given Content-Length header (None: none), which urllib
  would set right."""
  address = urllib.parse.urlsplit(url)
  conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
  conn.putrequest('POST', '/upscale')
  if length is not None:
    conn.putheader('Content-Length', length)
  conn.endheaders()
  response = conn.getresponse()
  status, body = response.status, response.read()
  conn.close()
  return status, None, body


def _raw(url, data: bytes):
  """(status, None, body) of the raw bytes `data` sent as a request."""
  address = urllib.parse.urlsplit(url)
  with socket.create_connection((address.hostname, address.port), timeout=60) as conn:
    conn.sendall(data)
    answer = b''.join(iter(lambda: conn.recv(1 << 16), b''))
  head, _, body = answer.partition(b'\r\n\r\n')
  return int(head.split()[1]), None, body


def _encoded(pixels: np.ndarray, fmt: str) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, fmt)
  return buffer.getvalue()


def test_bad_requests_get_one_line_each_and_the_server_keeps_serving(url, images, tmp_path):
  buffer = io.BytesIO()
  Image.fromarray(np.zeros((100, 120), np.uint8)).save(buffer, 'PNG')
  too_big = buffer.getvalue()  # a few hundred bytes of PNG
  cases = [  # (status, what the one line says, the request)
      (400, 'empty upload: send the image file as the request body',
       lambda: request(url + 'upscale', b'')),
      (400, "cannot read image upload: cannot identify image file 'upload'",
       lambda: request(url + 'upscale', b'not an image at all')),
      # Bigger than the sockets' buffers: the server reads it to the end, so the client
      # gets the answer rather than a reset connection.
      (413, f'upload of 8,000,000 bytes is above the limit of {MAX_BYTES:,}: start the '
            f'server with --max_bytes=8000000', lambda: request(url + 'upscale', bytes(8 * 10**6))),
      (411, 'missing Content-Length: send the image file as the request body',
       lambda: _post_with_length(url, None)),
      (400, "bad Content-Length '12kB': send the image file as the request body",
       lambda: _post_with_length(url, '12kB')),
      (413, f'image of 120x100 (12,000 pixels) is above the limit of {MAX_PIXELS:,}: start '
            f'the server with --max_pixels=12000', lambda: request(url + 'upscale', too_big)),
      (400, "unknown method 'lanczos': use method=bicubic",
       lambda: request(url + 'upscale?method=lanczos', b'x')),
      (404, 'no page /upscal: the routes are GET /, GET /model, POST /upscale',
       lambda: request(url + 'upscal', b'x')),
      (405, '/upscale takes POST, not GET', lambda: request(url + 'upscale')),
      (405, '/ takes GET, not POST', lambda: request(url, b'x')),
      (405, '/upscale takes POST, not PUT',
       lambda: _raw(url, b'PUT /upscale HTTP/1.1\r\nContent-Length: 1\r\n\r\nx')),
      (400, "bad Content-Length '99999999999999999999': send the image file",
       lambda: _post_with_length(url, '9' * 5000)),  # past Python's int() digits limit
      (431, 'Line too long',  # http.server's own refusals: one line too
       lambda: _raw(url, b'GET / HTTP/1.1\r\nX: ' + b'x' * 70000 + b'\r\n\r\n')),
      (400, 'cannot read image upload: cannot identify image file',  # not an upload format
       lambda: request(url + 'upscale', _encoded(np.zeros((8, 8), np.uint8), 'TIFF'))),
  ]
  for status, message, send in cases:
    got, _, body = send()
    text = body.decode()
    assert (got, text.count('\n')) == (status, 1) and text.startswith(message), text
    assert tempfile.gettempdir() not in text  # no paths of the server's
  assert request(url + 'upscale', images[0].read_bytes())[0] == 200


def test_an_upload_over_the_limit_is_refused_before_its_body_is_sent(url):
  address = urllib.parse.urlsplit(url)
  conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
  conn.putrequest('POST', '/upscale')
  conn.putheader('Content-Length', str(10**12))
  conn.putheader('Expect', '100-continue')  # as curl asks before a body over 1 MB
  conn.endheaders()  # and no body: the answer must come all the same
  response = conn.getresponse()
  assert response.status == 413
  assert response.read().decode().startswith('upload of 1,000,000,000,000 bytes is above')
  conn.close()
  # Other requests that ask first are answered by their route.
  conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
  conn.request('GET', '/model', headers={'Expect': '100-continue'})
  assert conn.getresponse().status == 200
  conn.close()


def test_a_stalled_upload_gets_408(url, monkeypatch):
  monkeypatch.setattr(serve, 'UPLOAD_SECONDS', 1)
  address = urllib.parse.urlsplit(url)
  with socket.create_connection((address.hostname, address.port), timeout=60) as conn:
    conn.sendall(b'POST /upscale HTTP/1.1\r\nContent-Length: 1000\r\n\r\n' + b'x' * 10)
    answer = b''.join(iter(lambda: conn.recv(1 << 16), b''))  # the rest never comes
  assert answer.startswith(b'HTTP/1.1 408')
  assert answer.endswith(b'upload stopped after 10 of 1,000 bytes (a body must arrive at '
                         b'10,000 bytes/s or more, within 1 s): send it again\n')


def test_a_full_queue_answers_503_with_retry_after_and_serves_again_once_free(
    upscaler, images, monkeypatch):
  monkeypatch.setattr(serve, 'QUEUE_SECONDS', 1)
  server = serve.make_server(upscaler, 'tiny')
  for _ in range(serve.WORKERS):  # every worker busy, as with uploads in progress
    server.workers.acquire()
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    started = time.monotonic()
    status, headers, body = request(serve.url_of(server) + 'upscale', images[0].read_bytes())
    assert 1 <= time.monotonic() - started < 10  # it waited its turn in the queue first
    assert (status, body) == (503, b'busy: no worker came free in 1 s of waiting in the queue; '
                                   b'send it again in a moment\n')
    assert headers['Retry-After'] == serve.RETRY_AFTER
    for _ in range(serve.MAX_PENDING):  # the queue itself full: refused at once
      server.pending.acquire()
    status, headers, body = request(serve.url_of(server) + 'upscale', images[0].read_bytes())
    assert (status, headers['Retry-After']) == (503, serve.RETRY_AFTER)
    assert body.startswith(f'busy: {serve.MAX_PENDING} uploads are waiting'.encode())
    for _ in range(serve.MAX_PENDING):
      server.pending.release()
    server.workers.release()
    assert request(serve.url_of(server) + 'upscale', images[0].read_bytes())[0] == 200
  finally:
    server.shutdown()
    server.server_close()


def test_a_decoder_failing_in_a_way_of_its_own_is_a_bad_upload(url, images, monkeypatch):
  def crafted(path, *args):
    raise IndexError(f'tile cannot extend outside image {path}')  # as Pillow's may

  monkeypatch.setattr(image_io, 'read_array', crafted)
  status, _, body = request(url + 'upscale', images[0].read_bytes())
  assert (status, body) == (400, b'cannot read image upload: IndexError: tile cannot extend '
                                 b'outside image upload\n')


def test_an_unexpected_failure_is_a_500_logged_once(url, upscaler, images, monkeypatch,
                                                    caplog):
  def broken(image):
    raise RuntimeError('no more memory')

  monkeypatch.setattr(upscaler, 'upscale', broken)
  with caplog.at_level(logging.ERROR):
    status, _, body = request(url + 'upscale', images[0].read_bytes())
  assert (status, body) == (500, b'internal error: RuntimeError: no more memory\n')
  assert [r.levelno for r in caplog.records] == [logging.ERROR]
  monkeypatch.undo()
  assert request(url + 'model')[0] == 200


def test_concurrent_uploads_all_get_their_own_answer(url, upscaler, images, tmp_path):
  bodies = [path.read_bytes() for path in images]
  answers = [None] * len(bodies)

  def send(i):
    answers[i] = request(url + 'upscale', bodies[i])

  threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  for path, (status, _, body) in zip(images, answers):
    assert status == 200
    np.testing.assert_array_equal(png_array(body, tmp_path),
                                  upscaler.upscale(image_io.read_array(path)))


@pytest.mark.skipif(not os.path.isdir(SUN80_DIR), reason='needs ../shared/data/sun80')
def test_the_shipped_photo_model_on_a_real_photo(tmp_path):
  photo = flax_srae.load('pretrained:photo')
  path = sun80_crop(tmp_path, 96, 80)
  with serve.serving(photo, 'pretrained:photo') as base:
    status, _, body = request(base + 'upscale', path.read_bytes())
    assert json.loads(request(base + 'model')[2])['architecture'] == 'edsr'
  assert status == 200
  out = png_array(body, tmp_path)
  assert out.shape == (160, 192, 3)
  np.testing.assert_array_equal(out, photo.upscale(image_io.read_array(path)))


def test_a_port_in_use_a_bad_limit_or_a_model_not_x2_is_a_user_error(upscaler):
  with socket.socket() as taken:
    taken.bind(('127.0.0.1', 0))
    taken.listen()
    port = taken.getsockname()[1]
    with pytest.raises(UserError, match=f'port {port} is in use: pass another --port'):
      serve.make_server(upscaler, 'tiny', port=port)
  with pytest.raises(UserError, match='cannot listen on 192.0.2.1:0: .*; pass another --host'):
    serve.make_server(upscaler, 'tiny', host='192.0.2.1')  # an address of no machine here
  with pytest.raises(UserError, match='--max_pixels must be positive, got 0'):
    serve.make_server(upscaler, 'tiny', max_pixels=0)
  autoencoder = flax_srae.Coder.__new__(flax_srae.Coder)  # refused before its weights are read
  with pytest.raises(UserError, match='ae is an autoencoder: .*; serve a x2 model'):
    serve.make_server(autoencoder, 'ae')


@pytest.mark.slow
def test_cli_unknown_model_is_one_line():
  proc = subprocess.run([sys.executable, '-m', 'flax_srae.serve', '--model=pretrained:nope'],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 1 and 'Traceback' not in proc.stderr
  assert proc.stderr.strip().splitlines() == [
      "error: no pretrained model 'nope': choose one of pretrained:mnist, pretrained:mnist_ae, "
      "pretrained:photo, pretrained:photo_rgb"]


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_cli_serves_until_ctrl_c_or_sigterm(trained_workdir, signum):
  proc = subprocess.Popen([sys.executable, '-m', 'flax_srae.serve',
                           f'--model={trained_workdir}', '--port=0'], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  try:
    line = proc.stdout.readline()
    match = re.fullmatch(r'serving (.+) \(encoder_decoder_residual, x2\) at (http://127\.0\.0\.1:\d+/) '
                         r'— Ctrl-C to stop\n', line)
    assert match and match[1] == trained_workdir, line
    assert json.loads(request(match[2] + 'model')[2])['step'] == 3
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == 0
  finally:
    proc.kill()
  assert 'Traceback' not in proc.stderr.read()


# ----- Under load: slow clients, a class of users, every method ------------------------------

def _connect(url) -> socket.socket:
  address = urllib.parse.urlsplit(url)
  return socket.create_connection((address.hostname, address.port), timeout=30)


def _answer_of(conn: socket.socket) -> bytes:
  return b''.join(iter(lambda: conn.recv(1 << 16), b''))


def _read_answer(conn: socket.socket):
  """(head, body) of an answer, read as far as its Content-Length, the connection still open."""
  answer = b''
  while b'\r\n\r\n' not in answer:
    answer += conn.recv(1 << 16)
  head, _, body = answer.partition(b'\r\n\r\n')
  while len(body) < int(re.search(rb'Content-Length: (\d+)', head)[1]):
    body += conn.recv(1 << 16)
  return head, body


def test_slow_senders_hold_no_worker_and_lose_their_place(url, images, monkeypatch):
  monkeypatch.setattr(serve, 'BODY_GRACE_SECONDS', 1)
  slow = [_connect(url) for _ in range(serve.WORKERS + 2)]
  for conn in slow:  # a body of 10,000 bytes that comes at a byte now and then
    conn.sendall(b'POST /upscale HTTP/1.1\r\nContent-Length: 10000\r\n\r\nx')
  started = time.monotonic()
  assert request(url + 'upscale', images[0].read_bytes())[0] == 200
  assert time.monotonic() - started < 10
  for conn in slow:
    answer = _answer_of(conn)
    assert answer.startswith(b'HTTP/1.1 408') and b'upload stopped after 1 of 10,000' in answer
    conn.close()
  assert time.monotonic() - started < 10  # each was cut after about a second


@pytest.mark.slow
def test_connections_sending_nothing_cannot_keep_uploads_out(url, images, monkeypatch):
  monkeypatch.setattr(serve, 'BODY_GRACE_SECONDS', 60)  # only being crowded out ends them
  idle = [_connect(url) for _ in range(serve.MAX_READING)]
  for conn in idle:  # every reading place taken by a body that never comes
    conn.sendall(b'POST /upscale HTTP/1.1\r\nContent-Length: 50000\r\n\r\n')
  time.sleep(1.5)  # each has been silent for longer than a second
  started = time.monotonic()
  assert request(url + 'upscale', images[0].read_bytes())[0] == 200
  assert time.monotonic() - started < 20
  answered, _, _ = select.select(idle, [], [], 2)  # the others are still waiting
  assert len(answered) == 1 and answered[0].recv(100).startswith(b'HTTP/1.1 408')
  for conn in idle:
    conn.close()


def test_a_full_queue_refuses_before_100_continue(upscaler, images):
  server = serve.make_server(upscaler, 'tiny')
  for _ in range(serve.MAX_PENDING):
    server.pending.acquire()
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    address = server.server_address
    conn = http.client.HTTPConnection(address[0], address[1], timeout=60)
    conn.putrequest('POST', '/upscale')
    conn.putheader('Content-Length', '5000')
    conn.putheader('Expect', '100-continue')
    conn.endheaders()  # no body: the answer comes without it
    response = conn.getresponse()
    assert (response.status, response.headers['Retry-After']) == (503, serve.RETRY_AFTER)
    conn.close()
  finally:
    server.shutdown()
    server.server_close()


def test_a_declared_body_above_the_limit_is_refused_at_once_without_expect(url):
  with _connect(url) as conn:
    started = time.monotonic()
    conn.sendall(b'POST /upscale HTTP/1.1\r\nContent-Length: 100000000000\r\n\r\nxxxx')
    head, body = _read_answer(conn)  # while the rest of the body never comes
    assert time.monotonic() - started < 2
  assert head.startswith(b'HTTP/1.1 413') and body.startswith(b'upload of 100,000,000,000 bytes')


def test_a_burst_of_connections_waits_for_the_accept_loop_instead_of_being_dropped(upscaler):
  # Connections made before the server accepts any: the kernel holds them all, then each is
  # answered once the server runs (with socketserver's backlog of 5, connect timed out).
  server = serve.make_server(upscaler, 'tiny')
  host, port = server.server_address[:2]
  clients = [socket.create_connection((host, port), timeout=5)
             for _ in range(serve.MAX_READING + serve.MAX_PENDING)]
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    for c in clients:
      c.sendall(b'HEAD /model HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert all(c.recv(64).startswith(b'HTTP/1.1 200') for c in clients)
  finally:
    for c in clients:
      c.close()
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.slow
def test_twenty_users_at_once_are_all_answered(url, upscaler, tmp_path):
  rng = np.random.default_rng(0)
  bodies = [_encoded(rng.integers(0, 256, (64, 64), np.uint8), 'PNG') for _ in range(20)]
  answers = [None] * len(bodies)

  def send(i):
    answers[i] = request(url + 'upscale', bodies[i])

  threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=120)
  assert None not in answers, 'some uploads were not answered within 120 s'
  assert [a[0] for a in answers] == [200] * 20
  for body, (_, _, answer) in zip(bodies, answers):
    expected = upscaler.upscale(np.asarray(Image.open(io.BytesIO(body))))
    np.testing.assert_array_equal(png_array(answer, tmp_path), expected)


def _head_or_options(url, method: str, path: str):
  address = urllib.parse.urlsplit(url)
  conn = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
  conn.request(method, path)
  response = conn.getresponse()
  answer = response.status, dict(response.headers), response.read()
  conn.close()
  return answer


def test_head_and_options_are_answered_like_the_other_methods(url):
  status, headers, body = _head_or_options(url, 'HEAD', '/')
  page_status, page_headers, page = request(url)
  assert (status, body) == (200, b'') and page_status == 200
  assert headers['Content-Length'] == str(len(page))
  assert headers['Content-Type'] == page_headers['Content-Type']
  status, headers, body = _head_or_options(url, 'HEAD', '/model')
  assert (status, body, headers['Content-Type']) == (200, b'', 'application/json')
  status, headers, body = _head_or_options(url, 'HEAD', '/upscale')
  assert (status, body, headers['Allow']) == (405, b'', 'POST, OPTIONS')
  for path, allow in (('/', 'GET, HEAD, OPTIONS'), ('/model', 'GET, HEAD, OPTIONS'),
                      ('/upscale', 'POST, OPTIONS')):
    status, headers, body = _head_or_options(url, 'OPTIONS', path)
    assert (status, headers['Allow'], body) == (200, allow, b'')
  status, headers, _ = _head_or_options(url, 'OPTIONS', '*')
  assert (status, headers['Allow']) == (200, 'GET, HEAD, OPTIONS, POST')
  status, _, body = _head_or_options(url, 'OPTIONS', '/nope')
  assert status == 404 and body.startswith(b'no page /nope')
  status, headers, body = _head_or_options(url, 'PUT', '/upscale')
  assert (status, headers['Allow']) == (405, 'POST, OPTIONS')
  assert body == b'/upscale takes POST, not PUT\n'


def test_fair_slots_are_handed_out_in_order_and_time_out():
  slots = serve.FairSlots(1)
  assert slots.acquire()
  order = []

  def wait(i):
    assert slots.acquire(timeout=30)
    order.append(i)
    slots.release()

  threads = []
  for i in range(5):
    threads.append(threading.Thread(target=wait, args=(i,)))
    threads[-1].start()
    while len(slots._line) < i + 1:  # pylint: disable=protected-access
      time.sleep(0.01)  # in line one after another
  slots.release()
  # A newcomer as slots free does not overtake the line.
  assert slots.acquire(timeout=30)
  assert order == [0, 1, 2, 3, 4]
  slots.release()
  for t in threads:
    t.join()
  assert order == [0, 1, 2, 3, 4]
  assert slots.acquire()
  started = time.monotonic()
  assert not slots.acquire(timeout=0.2) and 0.2 <= time.monotonic() - started < 5
  slots.release()
  assert slots.acquire(timeout=0)
