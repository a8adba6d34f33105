"""Speed of the shipped models' ONNX export under onnxruntime against the JAX path, on this CPU.

  python experiments/onnx_speed.py RECORD.jsonl [--rounds=3] [--calls=20]
  python experiments/onnx_speed.py RECORD.jsonl --table     (the table of RECORD.jsonl only)

Workloads, the PyTorch peers' inference protocols on real data: pretrained:photo on one
256x256 luma crop of a sun80 eval photo (-> 512x512) and on 16 crops of 64x64;
pretrained:mnist on 256 and on 1 MNIST eval digit(s) of 28x28 (-> 56x56). The JAX path is
`flax_srae.load(NAME).upscale(x, batch_size=len(x))` with the command-line tools' CPU settings
(`cpu_speedups.configure()`); the ONNX path is an `onnxruntime.InferenceSession` (CPU, its
default threads) on `python -m flax_srae.export --format=onnx`'s graph. Both take float32
NHWC arrays and return the same images (tested within 1e-5). In each round every workload
runs under both, one after the other; a figure is the median of `--calls` timed calls after
two warm-up calls. Each result is appended to RECORD.jsonl; the table printed at the end
gives, per workload, the range over rounds of images/s and of the ONNX/JAX ratio taken within
a round.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
SHARED = os.path.join(ROOT, '..', 'shared', 'data')


def _workloads():
  """{name: (pretrained model, float32 NHWC input)} on real eval data."""
  import numpy as np
  from configs import mnist
  from flax_srae.data import image_io
  from flax_srae.data import image_ops
  from flax_srae.data import input_pipeline
  sun80 = os.path.join(SHARED, 'sun80')
  photos = sorted(f for f in os.listdir(sun80) if f.lower().endswith(image_io.IMAGE_SUFFIXES))
  luma = np.asarray(image_ops.luma(image_ops.to_float(image_io.read_array(
      os.path.join(sun80, photos[70])))))
  config = mnist.get_config()
  config.data_dir = os.path.join(SHARED, 'mnist')
  digits = np.stack(input_pipeline.load_split(config, 'test[8000:8256]')).astype(np.float32)
  return {'photo 1 x 256x256': ('photo', luma[None, :256, :256]),
          'photo 16 x 64x64': ('photo', np.stack([luma[i:i + 64, j:j + 64]
                                                   for i in range(0, 256, 64)
                                                   for j in range(0, 256, 64)])),
          'mnist 256 x 28x28': ('mnist', digits),
          'mnist 1 x 28x28': ('mnist', digits[:1])}


def _images_per_second(call, x, calls: int) -> float:
  for _ in range(2):  # warm-up
    call(x)
  times = []
  for _ in range(calls):
    t0 = time.perf_counter()
    call(x)
    times.append(time.perf_counter() - t0)
  return len(x) / statistics.median(times)


def _rows(record: str):
  with open(record) as f:
    return [json.loads(line) for line in f if line.strip()]


def table(rows) -> str:
  """Markdown: per workload, the ranges over rounds of both speeds and of their ratio."""
  lines = ['| workload | JAX `upscale` img/s | onnxruntime img/s | ONNX / JAX |',
           '|---|---|---|---|']
  number = lambda v: f'{v:,.0f}' if v >= 100 else f'{v:.3g}'
  span = lambda v: f'{number(min(v))}-{number(max(v))}'
  for name in dict.fromkeys(r['workload'] for r in rows):
    mine = [r for r in rows if r['workload'] == name]
    jax_ = [r['jax'] for r in mine]
    onnx_ = [r['onnx'] for r in mine]
    ratio = [r['onnx'] / r['jax'] for r in mine]
    lines.append(f'| {name} | {span(jax_)} | {span(onnx_)} | '
                 f'{min(ratio):.2f}-{max(ratio):.2f}x |')
  return '\n'.join(lines) + f'\n\n{len(rows) // len(set(r["workload"] for r in rows))} rounds.'


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('record')
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--calls', type=int, default=20)
  parser.add_argument('--table', action='store_true')
  args = parser.parse_args()
  if args.table:
    print(table(_rows(args.record)))
    return

  from flax_srae.platform import cpu_speedups
  cpu_speedups.configure()  # before JAX starts, as the command-line tools do
  import jax
  import onnxruntime
  import flax_srae
  from flax_srae import export

  workloads = _workloads()
  upscalers, sessions = {}, {}
  with tempfile.TemporaryDirectory() as tmp:
    for name in {model for model, _ in workloads.values()}:
      upscalers[name] = flax_srae.load(f'pretrained:{name}')
      path = export.export(f'pretrained:{name}', os.path.join(tmp, f'{name}.onnx'),
                           format='onnx')
      sessions[name] = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
  for round_ in range(args.rounds):
    for workload, (model, x) in workloads.items():
      upscaler, session = upscalers[model], sessions[model]
      row = {'round': round_, 'workload': workload, 'jax_version': jax.__version__,
             'onnxruntime_version': onnxruntime.__version__,
             'jax': _images_per_second(lambda z: upscaler.upscale(z, batch_size=len(z)), x,
                                       args.calls),
             'onnx': _images_per_second(lambda z: session.run(None, {'images': z}), x,
                                        args.calls)}
      print(json.dumps(row), flush=True)
      with open(args.record, 'a') as f:
        f.write(json.dumps(row) + '\n')
  print(table(_rows(args.record)))


if __name__ == '__main__':
  main()
