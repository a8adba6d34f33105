"""Measures `python -m flax_srae.serve` under load, and writes the table of docs/serve.md.

  python experiments/serve_load.py [--model=pretrained:photo]

Starts the server as a user does (its own process, a free port on 127.0.0.1), sends one
warm-up request (the model compiles for the image's size), then 200 requests by 1, 4 and 20
concurrent clients (LEVELS; 20 clients twice), each client sending its share one after
another: requests per second, the median and 95th percentile of the latency (sending the
upload to reading the answer whole) and the answers that were not 200. The upload is a
512x512 RGB crop of a sun80 eval photo as PNG, as a user's photo would be. The server's
resident memory is read from /proc after the warm-up and after each level: the second round
of 20 clients must leave it where the first did (no growth with the count of requests).
Results go to experiments/serve/load.json and between the `<!-- table:serve_load -->` markers
of docs/serve.md.
"""
import argparse
import io
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SUN80 = os.path.join(ROOT, '..', 'shared', 'data', 'sun80')
LEVELS = ((1, 20), (4, 40), (20, 70), (20, 70))  # (clients at once, requests)
RESULTS = os.path.join(HERE, 'serve', 'load.json')
DOC = os.path.join(ROOT, 'docs', 'serve.md')


def upload_body() -> bytes:
  """A 512x512 crop of the first sun80 eval photo (files [70, 80)), as PNG."""
  name = sorted(os.listdir(SUN80))[70]
  with Image.open(os.path.join(SUN80, name)) as im:
    crop = im.convert('RGB').crop((0, 0, 512, 512))
  buffer = io.BytesIO()
  crop.save(buffer, 'PNG')
  return buffer.getvalue()


def start_server(model: str):
  """(process, url) of the server on a free port, once it says where it listens."""
  proc = subprocess.Popen([sys.executable, '-m', 'flax_srae.serve', f'--model={model}',
                           '--port=0'], cwd=ROOT, stdout=subprocess.PIPE, text=True)
  line = proc.stdout.readline()
  match = re.search(r'at (http://\S+/)', line)
  if not match:
    proc.kill()
    sys.exit(f'error: the server did not start: {line!r}')
  return proc, match[1]


def resident_mb(pid: int) -> float:
  with open(f'/proc/{pid}/status') as f:
    return int(re.search(r'VmRSS:\s+(\d+) kB', f.read())[1]) / 1024


def post(url: str, body: bytes):
  """(status, seconds) of one upload."""
  started = time.perf_counter()
  try:
    with urllib.request.urlopen(url + 'upscale', body, timeout=300) as answer:
      answer.read()
      status = answer.status
  except urllib.error.HTTPError as e:
    e.read()
    status = e.code
  return status, time.perf_counter() - started


def load(url: str, body: bytes, clients: int, requests: int) -> dict:
  """`requests` uploads by `clients` clients at once, each sending its share in turn."""
  results, lock = [], threading.Lock()

  def client(count: int):
    for _ in range(count):
      answer = post(url, body)
      with lock:
        results.append(answer)

  shares = [requests // clients + (i < requests % clients) for i in range(clients)]
  threads = [threading.Thread(target=client, args=(n,)) for n in shares]
  started = time.perf_counter()
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  wall = time.perf_counter() - started
  latencies = np.array([seconds for _, seconds in results])
  return {'clients': clients, 'requests': requests, 'seconds': round(wall, 2),
          'requests_per_s': round(requests / wall, 2),
          'p50_s': round(float(np.percentile(latencies, 50)), 2),
          'p95_s': round(float(np.percentile(latencies, 95)), 2),
          'not_200': sorted(status for status, _ in results if status != 200)}


def table(record: dict) -> str:
  lines = ['| clients at once | requests | requests/s | p50 latency s | p95 latency s | '
           'answers not 200 | server memory after, MB |', '|---|---|---|---|---|---|---|']
  for row in record['levels']:
    lines.append(f'| {row["clients"]} | {row["requests"]} | {row["requests_per_s"]:.2f} | '
                 f'{row["p50_s"]:.2f} | {row["p95_s"]:.2f} | {len(row["not_200"])} | '
                 f'{row["resident_mb"]:.0f} |')
  lines.append('')
  lines.append(f'`{record["model"]}`, a 512x512 RGB PNG per upload, {record["machine"]}, '
               f'{record["date"]}; the server\'s resident memory was '
               f'{record["resident_mb_after_warm_up"]:.0f} MB after the warm-up upload. '
               f'Command: `python experiments/serve_load.py`.')
  return '\n'.join(lines)


def write_doc(record: dict) -> None:
  with open(DOC) as f:
    text = f.read()
  start, end = '<!-- table:serve_load -->', '<!-- /table:serve_load -->'
  if start not in text or end not in text:
    sys.exit(f'error: docs/serve.md needs the markers {start} and {end}')
  text = re.sub(re.escape(start) + '.*?' + re.escape(end),
                lambda _: f'{start}\n{table(record)}\n{end}', text, flags=re.S)
  with open(DOC, 'w') as f:
    f.write(text)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='pretrained:photo')
  args = parser.parse_args(argv)
  body = upload_body()
  proc, url = start_server(args.model)
  try:
    if post(url, body)[0] != 200:
      sys.exit('error: the warm-up upload failed')
    warm = resident_mb(proc.pid)
    levels = []
    for clients, requests in LEVELS:
      levels.append(load(url, body, clients, requests))
      levels[-1]['resident_mb'] = round(resident_mb(proc.pid), 1)
      print(json.dumps(levels[-1]), flush=True)
  finally:
    proc.terminate()
    proc.wait(timeout=60)
  record = {'model': args.model, 'levels': levels, 'resident_mb_after_warm_up': round(warm, 1),
            'machine': f'{platform.machine()}, {os.cpu_count()} cores',
            'date': time.strftime('%Y-%m-%d')}
  os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
  with open(RESULTS, 'w') as f:
    json.dump(record, f, indent=2)
  write_doc(record)
  print(table(record))


if __name__ == '__main__':
  main()
