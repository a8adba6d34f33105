"""A local web page that upscales an image and compares the model with bicubic.

  python -m flax_srae.serve --model=pretrained:photo     # then open http://127.0.0.1:8000/

Routes: GET / (the page, `web/index.html`), GET /model (the model as JSON), POST /upscale with
the image file as the request body (the model's x2 as PNG; `?method=bicubic`: the bicubic x2).
Uploads (PNG, JPEG, BMP, GIF or WebP) are read and written as by `predict` (16-bit PNGs stay
16-bit, EXIF orientation is honoured, grey, colour and alpha all work). Standard library
only: one thread per request, one model call at a time; uploads queue for a few workers, and
slow senders lose their place (docs/serve.md). HEAD and OPTIONS are answered wherever GET or
any method is. Every refused request gets a one-line text answer and the server keeps serving.
"""
import collections
import contextlib
import errno
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
import importlib.resources
import json
import os
import re
import signal
import socket
import tempfile
import threading
import time
from typing import Optional
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from absl import flags
from absl import logging
import numpy as np

from flax_srae import cli
from flax_srae.platform import cpu_speedups
from flax_srae.training import evaluation
from flax_srae.data import image_io
from flax_srae.data import image_ops
from flax_srae import inference
from flax_srae.errors import UserError

MAX_BYTES = 50_000_000
# 2048x2048 input: the 16-megapixel output of a 4-channel 16-bit image takes a few GB on its
# way to a PNG.
MAX_PIXELS = 2048 * 2048
# An upload's body is read (at most MAX_READING at once: past that, the slowest reader is cut
# off for the newcomer), then it queues (at most MAX_PENDING, else 503 at once) up to
# QUEUE_SECONDS for one of WORKERS (decode, upscale, PNG): long enough for a class sharing
# one page on a laptop to be answered in turn (docs/serve.md measures it).
MAX_READING = 32
MAX_PENDING = 32
WORKERS = 4
QUEUE_SECONDS = 30
# A body must keep up MIN_BODY_RATE bytes/s after BODY_GRACE_SECONDS, and arrive whole within
# UPLOAD_SECONDS (else 408): a client trickling it cannot hold its place for long.
MIN_BODY_RATE = 10_000
BODY_GRACE_SECONDS = 10
UPLOAD_SECONDS = 120
# A body left unread (a refused request) is read and dropped after the answer is sent, up to
# DISCARD_BYTES within LINGER_SECONDS, so that a client still sending it gets the answer
# rather than a reset connection; then the connection closes.
DISCARD_BYTES = 64 << 20
LINGER_SECONDS = 10
RETRY_AFTER = '5'  # seconds, in each 503
# What browsers and cameras send; Pillow's rarer decoders stay out of reach of the network.
UPLOAD_FORMATS = ('PNG', 'JPEG', 'BMP', 'GIF', 'WEBP')  # TIFF's many codecs left out
METHODS = ('model', 'bicubic')
TEXT = 'text/plain; charset=utf-8'


# Path -> the methods it takes (HEAD and OPTIONS wherever GET is; OPTIONS everywhere).
ROUTES = {'/': ('GET',), '/model': ('GET',), '/upscale': ('POST',)}


def _allowed(path: str) -> str:
  methods = ROUTES[path] + (('HEAD',) if 'GET' in ROUTES[path] else ()) + ('OPTIONS',)
  return ', '.join(methods)


class _Refused(Exception):
  """A request the server answers with `status`, the one-line `message` and `headers`."""

  def __init__(self, status: int, message: str, headers: Optional[dict] = None):
    super().__init__(message)
    self.status = status
    self.headers = headers or {}


def bicubic(image: np.ndarray) -> np.ndarray:
  """The x2 bicubic of an HW/HWC integer image, same dtype and layout: the upscaler of the
  project's "bicubic" figures (`evaluation.baseline`), on every channel."""
  x = image_ops.to_float(image)
  nhwc = x.reshape((1,) + x.shape[:2] + (-1,))
  y = image_ops.to_pixels(np.asarray(evaluation.baseline(nhwc)), image.dtype)
  return y.reshape(y.shape[1:3] + image.shape[2:])


class FairSlots:
  """`count` slots handed out in the order they were asked for: a waiting request is not
  overtaken by one that arrives as a slot frees (a semaphore lets newcomers barge in, and
  under steady load some waiters would starve past any deadline)."""

  def __init__(self, count: int):
    self._free, self._line = count, collections.deque()
    self._changed = threading.Condition()

  def acquire(self, timeout: Optional[float] = None) -> bool:
    """Takes a slot, waiting in line at most `timeout` seconds (None: as long as it takes)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with self._changed:
      me = object()
      self._line.append(me)
      while self._line[0] is not me or not self._free:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
          self._line.remove(me)
          self._changed.notify_all()  # the one behind may be first now
          return False
        self._changed.wait(left)
      self._line.popleft()
      self._free -= 1
      self._changed.notify_all()  # the next in line may take another free slot
      return True

  def release(self) -> None:
    with self._changed:
      self._free += 1
      self._changed.notify_all()


class Readers:
  """The uploads whose bodies are being read, at most `count`. When all places are taken, the
  reader receiving the slowest, if it is below MIN_BODY_RATE, is cut off for the newcomer: a
  crowd of connections sending nothing cannot keep uploads out."""

  def __init__(self, count: int):
    self.count, self._reading, self._lock = count, set(), threading.Lock()

  def enter(self, handler) -> bool:
    with self._lock:
      if len(self._reading) >= self.count:
        slowest = min(self._reading, key=lambda h: h.body_rate())
        if slowest.body_rate() >= MIN_BODY_RATE:
          return False
        self._reading.remove(slowest)
        slowest.cut_off()
      self._reading.add(handler)
      return True

  def leave(self, handler) -> None:
    with self._lock:
      self._reading.discard(handler)


class _Server(ThreadingHTTPServer):
  """The HTTP server with what its handlers share: the model, its name, the limits, the page."""
  # The kernel's queue of connections not yet accepted (socketserver's default is 5): a burst
  # of users connecting while the accept loop waits for the CPU overflowed it, and the
  # overflowing connections were reset. It holds as many as the server lets in at once.
  request_queue_size = MAX_READING + MAX_PENDING

  def __init__(self, address, upscaler: inference.Upscaler, name: str, max_bytes: int,
               max_pixels: int):
    super().__init__(address, _Handler)
    self.upscaler = upscaler
    self.name = name
    self.max_bytes = max_bytes
    self.max_pixels = max_pixels
    self.model_lock = threading.Lock()  # one upscale at a time: each may take all the cores
    self.readers = Readers(MAX_READING)
    self.pending = threading.BoundedSemaphore(MAX_PENDING)
    self.workers = FairSlots(WORKERS)
    self.page = importlib.resources.files('flax_srae').joinpath('web/index.html').read_bytes()


def make_server(upscaler: inference.Upscaler, name: str, host: str = '127.0.0.1', port: int = 0,
                max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> ThreadingHTTPServer:
  """A server of `upscaler` (shown as `name`) listening on host:port (0: a free port, read it
  from `server.server_address`); the caller runs `serve_forever()` and ends with `shutdown()`
  and `server_close()`."""
  if not isinstance(upscaler, inference.Upscaler):
    raise UserError(f'{name} is an autoencoder: the page compares x2 super-resolution with '
                    f'bicubic; serve a x2 model (reconstruct with python -m flax_srae.predict)')
  for flag, value in (('max_bytes', max_bytes), ('max_pixels', max_pixels)):
    if value <= 0:
      raise UserError(f'--{flag} must be positive, got {value}')
  if not 0 <= port <= 65535:
    raise UserError(f'--port must be in 0..65535 (0: any free one), got {port}')
  try:
    return _Server((host, port), upscaler, name, max_bytes, max_pixels)
  except OSError as e:
    if e.errno == errno.EADDRINUSE:
      raise UserError(f'port {port} is in use: pass another --port (--port=0 picks a free '
                      f'one)') from e
    raise UserError(f'cannot listen on {host}:{port}: {e.strerror or e}; pass another --host '
                    f'or --port') from e


def url_of(server: ThreadingHTTPServer) -> str:
  host, port = server.server_address[:2]
  return f'http://{host}:{port}/'


@contextlib.contextmanager
def serving(upscaler: inference.Upscaler, name: str, **kwargs):
  """`make_server(upscaler, name, **kwargs)` serving in a background thread for the `with`
  block, which gets its URL: for tests, scripts and notebooks."""
  server = make_server(upscaler, name, **kwargs)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield url_of(server)
  finally:
    server.shutdown()
    server.server_close()
    thread.join()


def _declared_length(headers) -> int:
  """The body's Content-Length: refused when missing (411) or not a number (400)."""
  length = headers.get('Content-Length')
  if length is None:
    raise _Refused(411, 'missing Content-Length: send the image file as the request body')
  if not re.fullmatch('[0-9]{1,15}', length.strip()):
    raise _Refused(400, f'bad Content-Length {length[:20]!r}: send the image file as the '
                        f'request body')
  return int(length)


def _check_length(headers, max_bytes: int) -> int:
  """The declared body length, refused (413) above `max_bytes` before any of it is read."""
  length = _declared_length(headers)
  if length > max_bytes:
    raise _Refused(413, f'upload of {length:,} bytes is above the limit of {max_bytes:,}: '
                        f'start the server with --max_bytes={length} to allow it')
  return length


def _upscale_upload(server: _Server, body: bytes, method: str):
  """(status, content type, PNG, headers) of the uploaded image upscaled by `method`, one
  upscale at a time; the memory it freed is given back to the system."""
  try:
    with tempfile.TemporaryDirectory() as tmp:
      image = _decode(server, body, os.path.join(tmp, 'upload'))
      upscale = server.upscaler.upscale if method == 'model' else bicubic
      with server.model_lock:  # one upscale at a time
        t0 = time.perf_counter()  # after the wait for the lock: the upscale alone
        out = upscale(image)
        elapsed = time.perf_counter() - t0
      path = os.path.join(tmp, 'x2.png')
      image_io.write_array(path, out)
      with open(path, 'rb') as f:
        png = f.read()
  finally:
    cpu_speedups.give_back_freed_memory()
  return 200, 'image/png', png, {'X-Elapsed-Seconds': f'{elapsed:.3f}'}


def _decode(server: _Server, body: bytes, path: str) -> np.ndarray:
  """The uploaded image's pixels, read as `predict` reads a file (of UPLOAD_FORMATS);
  refused (413) above --max_pixels from its header, before it is decoded."""
  with open(path, 'wb') as f:
    f.write(body)
  try:
    return image_io.read_array(path, server.max_pixels, UPLOAD_FORMATS)
  except image_io.PixelLimitError as e:
    pixels = e.width * e.height
    raise _Refused(413, f'image of {e.width}x{e.height} ({pixels:,} pixels) is above the '
                        f'limit of {server.max_pixels:,}: start the server with '
                        f'--max_pixels={pixels} to allow it') from e
  except UserError as e:
    raise _Refused(400, str(e).replace(path, 'upload')) from e
  except Exception as e:  # pylint: disable=broad-except
    # A crafted file can make a decoder fail in ways of its own: still a bad upload, logged
    # in case the fault is ours.
    logging.warning('upload refused: %s: %s', type(e).__name__, e, exc_info=True)
    raise _Refused(400, f'cannot read image upload: {type(e).__name__}: {e}'.replace(
        path, 'upload').replace('\n', ' ')) from e


class _BodyReading:
  """How a handler reads a request's body: under a deadline, among at most MAX_READING
  readers, and, when refused unread, drained after the answer."""
  server: _Server
  body_read = False
  body_started, body_got = None, 0  # of the body being read, for `body_rate`

  def body_rate(self) -> float:
    """Bytes per second of the body being read so far (a fresh reader's counts as fast)."""
    elapsed = time.monotonic() - self.body_started
    return float('inf') if elapsed < 1 else self.body_got / elapsed

  def cut_off(self) -> None:
    """Ends the body being read, as if the client had stopped sending (408)."""
    try:
      self.connection.shutdown(socket.SHUT_RD)
    except OSError:
      pass  # already gone

  def _read(self, length: int, keep: bool = True, seconds: Optional[float] = None):
    """Up to `length` bytes of the body, in chunks, while they keep up MIN_BODY_RATE bytes/s
    after BODY_GRACE_SECONDS and within `seconds` for them all: (the bytes read, or b''
    unless `keep`; how many came). `seconds` defaults to UPLOAD_SECONDS."""
    seconds = UPLOAD_SECONDS if seconds is None else seconds
    chunks, got = [], 0
    start = time.monotonic()
    while got < length:
      now = time.monotonic()
      left = min(start + seconds, start + BODY_GRACE_SECONDS + got / MIN_BODY_RATE) - now
      if left <= 0:
        break
      self.connection.settimeout(left)
      try:
        chunk = self.rfile.read1(min(length - got, 1 << 20))
      except OSError:  # a timeout or a reset
        break
      if not chunk:
        break
      if keep:
        chunks.append(chunk)
      got += len(chunk)
      self.body_got = got
    self.connection.settimeout(self.timeout)  # for writing the answer
    return b''.join(chunks), got

  def _read_body(self) -> bytes:
    length = _check_length(self.headers, self.server.max_bytes)
    if length == 0:
      raise _Refused(400, 'empty upload: send the image file as the request body')
    self.body_started, self.body_got = time.monotonic(), 0
    if not self.server.readers.enter(self):
      raise _Refused(503, f'busy: {MAX_READING} uploads are being received; send it again in a '
                          f'moment', {'Retry-After': RETRY_AFTER})
    self.body_read = True
    try:
      body, got = self._read(length)
    finally:
      self.server.readers.leave(self)
    if got < length:
      raise _Refused(408, f'upload stopped after {got:,} of {length:,} bytes (a body must '
                          f'arrive at {MIN_BODY_RATE:,} bytes/s or more, within '
                          f'{UPLOAD_SECONDS} s): send it again')
    return body

  def _discard_body(self):
    """Reads and drops a body left unread, after the answer, up to DISCARD_BYTES within
    LINGER_SECONDS: a client still sending it would otherwise meet a reset connection before
    it reads the answer. The connection then closes, with whatever is left."""
    self.body_read = True
    try:
      length = _declared_length(self.headers)
    except _Refused:
      return
    self._read(min(length, DISCARD_BYTES), keep=False, seconds=LINGER_SECONDS)


class _Routes(_BodyReading):
  """What each route answers: (status, content type, body, extra headers), or _Refused."""

  def _route(self):
    """The answer to the request. HEAD is answered as GET without the body."""
    url = urlsplit(self.path)
    if self.command == 'OPTIONS' and (url.path in ROUTES or self.path == '*'):
      allow = _allowed(url.path) if url.path in ROUTES else ', '.join(
          sorted({m for path in ROUTES for m in _allowed(path).split(', ')}))
      return 200, TEXT, b'', {'Allow': allow}
    method = 'GET' if self.command == 'HEAD' else self.command
    handlers = {('GET', '/'): self._page, ('GET', '/model'): self._model,
                ('POST', '/upscale'): lambda: self._upscale(url.query)}
    if (method, url.path) in handlers:
      return handlers[method, url.path]()
    if url.path in ROUTES:
      raise _Refused(405, f'{url.path} takes {" or ".join(ROUTES[url.path])}, not '
                          f'{self.command}', {'Allow': _allowed(url.path)})
    raise _Refused(404, f'no page {url.path}: the routes are GET /, GET /model, '
                        f'POST /upscale')

  def _page(self):
    return 200, 'text/html; charset=utf-8', self.server.page, {}

  def _model(self):
    upscaler = self.server.upscaler
    info = {'model': self.server.name, 'architecture': upscaler.config.model,
            'scale': upscaler.scale, 'channels': upscaler.config.channels,
            'step': upscaler.step}
    return 200, 'application/json', json.dumps(info).encode(), {}

  def _upscale(self, query: str):
    """The body read first, then a place in the queue and a worker, in arrival order."""
    method = parse_qs(query).get('method', ['model'])[-1]
    if method not in METHODS:
      raise _Refused(400, f'unknown method {method!r}: use method=bicubic, or none for the '
                          f'model')
    _check_length(self.headers, self.server.max_bytes)  # too large is final; busy is a moment
    self._check_queue()
    body = self._read_body()
    if not self.server.pending.acquire(blocking=False):
      _queue_full()
    try:
      if not self.server.workers.acquire(timeout=QUEUE_SECONDS):
        raise _Refused(503, f'busy: no worker came free in {QUEUE_SECONDS} s of waiting in the '
                            f'queue; send it again in a moment', {'Retry-After': RETRY_AFTER})
      try:
        return _upscale_upload(self.server, body, method)
      finally:
        self.server.workers.release()
    finally:
      self.server.pending.release()

  def _check_queue(self) -> None:
    """Refuses (503) an upload while the queue is full, before its body is read."""
    if self.server.pending.acquire(blocking=False):
      self.server.pending.release()
    else:
      _queue_full()


def _queue_full():
  raise _Refused(503, f'busy: {MAX_PENDING} uploads are waiting or being processed; send it '
                      f'again in a moment', {'Retry-After': RETRY_AFTER})


class _Handler(_Routes, BaseHTTPRequestHandler):
  """Answers one request per connection (`Connection: close`): nothing is left over between
  requests, whatever a refused one did not read."""
  # HTTP/1.1 so that curl's `Expect: 100-continue` (bodies over 1 MB) is answered at once
  # instead of after its one-second wait.
  protocol_version = 'HTTP/1.1'
  timeout = 60  # seconds a silent client may hold its thread before its request is read
  # http.server's own refusals (a malformed request line, headers too long) in one line too.
  error_content_type = TEXT
  error_message_format = '%(message)s\n'

  def do_GET(self):  # pylint: disable=invalid-name
    self._answer()

  do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # pylint: disable=invalid-name

  def log_request(self, code='-', size='-'):
    """Quiet: no line per request. Errors are still logged (`log_error`, the 500s)."""

  def handle_expect_100(self):
    """Refuses an upload above --max_bytes before its body is sent: a client that asks first
    (curl, for bodies over 1 MB) gets the 413 instead of `100 Continue`. Other requests are
    let through, to be answered by their route."""
    if (self.command, urlsplit(self.path).path) == ('POST', '/upscale'):
      try:
        _check_length(self.headers, self.server.max_bytes)
        self._check_queue()
      except _Refused as e:
        self._send(e.status, TEXT, f'{e}\n'.encode(), e.headers)
        return False  # answered: http.server reads nothing more of this request
    return super().handle_expect_100()

  def _answer(self):
    try:
      status, content_type, body, headers = self._route()
    except _Refused as e:
      status, content_type, body, headers = e.status, TEXT, f'{e}\n'.encode(), e.headers
    except Exception as e:  # pylint: disable=broad-except
      logging.exception('internal error answering %s %s', self.command, self.path)
      status, content_type, body, headers = 500, TEXT, (
          f'internal error: {type(e).__name__}: {e}'.replace('\n', ' ') + '\n').encode(), {}
    # The answer goes first, at once, then what the client may still send of a body left
    # unread (refused for its size, its path or a full queue) is read and dropped.
    self._send(status, content_type, body, headers)
    if not self.body_read:
      self._discard_body()

  def _send(self, status: int, content_type: str, body: bytes, headers: dict):
    self.close_connection = True
    try:
      self.send_response(status)
      for key, value in {'Content-Type': content_type, 'Content-Length': str(len(body)),
                         'Cache-Control': 'no-store', 'Connection': 'close', **headers}.items():
        self.send_header(key, value)
      self.end_headers()
      if self.command != 'HEAD':
        self.wfile.write(body)
      self.wfile.flush()
    except ConnectionError:
      pass  # the client left (a reloaded page): nobody to answer


def _main():
  f = flags.FLAGS
  upscaler = inference.load(f.model, f.step)
  server = make_server(upscaler, f.model, f.host, f.port, f.max_bytes, f.max_pixels)
  print(f'serving {f.model} ({upscaler.config.model}, x{upscaler.scale}) at {url_of(server)} '
        f'— Ctrl-C to stop', flush=True)
  # Ctrl-C, or a service manager's SIGTERM, stops it, whatever the shell handed down (a job
  # started in the background inherits SIGINT ignored), as training does.
  for signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(signum, _stop)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass  # how it stops
  finally:
    server.server_close()


def _stop(signum, frame):
  del signum, frame
  raise KeyboardInterrupt


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('model', None, "'pretrained:photo', 'pretrained:photo_rgb', "
                      "'pretrained:mnist' or a training workdir.")
  flags.DEFINE_integer('step', None, 'Checkpoint step to use (default: the latest).')
  flags.DEFINE_string('host', '127.0.0.1', 'Address to listen on (0.0.0.0: every interface, '
                      'so other machines can reach it).')
  # Bounds on the flags: a mistake is refused before the model is loaded.
  flags.DEFINE_integer('port', 8000, 'Port to listen on (0: any free one).', lower_bound=0,
                       upper_bound=65535)
  flags.DEFINE_integer('max_bytes', MAX_BYTES, 'Larger uploads are refused.', lower_bound=1)
  flags.DEFINE_integer('max_pixels', MAX_PIXELS, 'Larger images (width x height) are refused.',
                       lower_bound=1)
  flags.mark_flag_as_required('model')


# Training's glibc setting keeps a process's peak memory for speed; a server that runs for days
# and handles images of every size gives it back instead.
SPEEDUPS = tuple(s for s in cpu_speedups.SPEEDUPS if s != 'keep_freed_memory')

if __name__ == '__main__':
  _define_flags()
  cli.run(_main, quiet=True, speedups=SPEEDUPS)
