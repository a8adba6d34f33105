"""Measures speed against the PyTorch peers, and what each CPU speed-up gains, in interleaved rounds.

  python experiments/speed.py RECORD.jsonl --peer_python=VENV/bin/python [--rounds=3]
                                          run the rounds, append each result to RECORD.jsonl,
                                          then write the tables
  python experiments/speed.py RECORD.jsonl --tables
                                          write the tables from RECORD.jsonl only

The peers (../shared/peers/) run in another Python that has torch (`pip install torch==2.13.0
numpy pillow`); the product never imports it. Each round runs, one after the other: the seed
peer (training, then inference), `python -m flax_srae.benchmark` on its protocol with every
CPU speed-up and then without each one (`--speedups=-NAME`), the photo peer and our photo
benchmark the same way. The peers drift by up to 1.7x between runs, so every figure is given
as the range over the rounds and every ratio is taken within a round. Then two rounds of time
to a quality target (the peers' protocols), and one run per other XLA:CPU option of JAX
(`XLA_FLAGS`). The tables go between the `<!-- table:speed* -->` markers of
experiments/README.md.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(ROOT, '..', 'shared')
MNIST, SUN80 = os.path.join(SHARED, 'data', 'mnist'), os.path.join(SHARED, 'data', 'sun80')
PEERS = os.path.join(SHARED, 'peers')
SPEEDUPS = {'mnist': ('subpixel_upsample', 'conv_forms', 'inference_chunks', 'ynn_dots',
                      'keep_freed_memory'),
            'photo': ('conv_forms', 'inference_chunks', 'ynn_dots', 'keep_freed_memory')}
XLA_OPTIONS = ('--xla_cpu_experimental_ynn_fusion_type=',
               '--xla_cpu_experimental_ynn_fusion_type=dot,eltwise',
               '--xla_cpu_experimental_ynn_fusion_type=individual_dot',
               '--xla_cpu_experimental_ynn_fusion_type=individual_convolution',
               '--xla_cpu_experimental_ynn_fusion_type=dot,individual_convolution',
               '--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY')


def _ours(task, *flags, model='seed'):
  """The benchmark on `task`; for mnist of `model` (None: the default config's, edsr)."""
  data = MNIST if task == 'mnist' else SUN80
  model = [f'--model={model}'] if task == 'mnist' and model else []
  return [sys.executable, '-m', 'flax_srae.benchmark', f'--task={task}', f'--data_dir={data}',
          *model, *flags]


def _peer(peer_python, task, *flags):
  script = 'torch_seed_sr.py' if task == 'mnist' else 'torch_photo_sr.py'
  data = [f'--data_dir={MNIST if task == "mnist" else SUN80}'] if '--mode' not in flags else []
  return [peer_python, os.path.join(PEERS, script), *data, *flags]


def _round(peer_python):
  """(label, command, extra environment) of one round of throughput runs."""
  runs = []
  for task in ('mnist', 'photo'):
    steps = ['--steps=500', '--eval_every=0' if task == 'mnist' else '--eval_every=500']
    runs += [(f'{task}/peer/train', _peer(peer_python, task, *steps), {}),
             (f'{task}/peer/infer', _peer(peer_python, task, '--mode', 'infer'), {}),
             (f'{task}/ours/all', _ours(task, '--steps=500', '--eval_every=0'), {})]
    for name in SPEEDUPS[task]:
      # Without the sub-pixel form the seed model trains ~7x slower: fewer steps, same rate.
      steps = '--steps=100' if name == 'subpixel_upsample' else '--steps=500'
      runs.append((f'{task}/ours/without {name}',
                   _ours(task, steps, '--eval_every=0', f'--speedups=-{name}'), {}))
  return runs


def _to_target(peer_python):
  return [('mnist/peer/to 28 dB', _peer(peer_python, 'mnist', '--steps=5000', '--eval_every=50',
                                        '--target_psnr=28'), {}),
          ('mnist/ours/to 28 dB (default edsr)',
           _ours('mnist', '--steps=5000', '--eval_every=50', '--target_psnr=28', model=None), {}),
          ('photo/peer/to 35.9 dB', _peer(peer_python, 'photo', '--target_psnr=35.9'), {}),
          ('photo/ours/to 35.9 dB (our recipe)',
           _ours('photo', '--steps=1500', '--target_psnr=35.9', '--batch_size=8',
                 '--lr_schedule=cosine', '--warmup_steps=50'), {})]


def _xla_options():
  return [(f'{task}/ours/XLA_FLAGS={option}', _ours(task, '--steps=300', '--eval_every=0',
                                                     '--seconds=3'), {'XLA_FLAGS': option})
          for option in XLA_OPTIONS for task in ('mnist', 'photo')]


def _run(record: str, round_: int, label: str, cmd, env) -> None:
  proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
  lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
  result = lines[-1] if proc.returncode == 0 and lines else None
  if result is None:
    print(f'{label}: failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}', flush=True)
  with open(record, 'a') as f:
    f.write(json.dumps({'round': round_, 'label': label, 'env': env, 'result': result}) + '\n')
  print(f'round {round_} {label}: {json.dumps(result)[:160]}', flush=True)


# (row, task, our summary's key, the peer's run, its key, target ratio)
_PEER_ROWS = (
    ('seed training, images/s', 'mnist', 'images_per_sec', 'train', 'images_per_sec', 1.5),
    ('seed inference 28->56, batch 1, images/s', 'mnist', 'infer_56_images_per_sec_batch1',
     'infer', 'images_per_sec_batch1', 2.0),
    ('seed inference 28->56, batch 256, images/s', 'mnist', 'infer_56_images_per_sec_batch256',
     'infer', 'images_per_sec_batch256', 2.0),
    ('photo network training, patches/s', 'photo', 'images_per_sec', 'train', 'images_per_sec',
     1.0),
    ('photo inference, one 256->512 image, megapixels/s', 'photo', 'infer_512_megapixels_per_sec',
     'infer', 'infer_512_megapixels_per_sec', 2.0),
    ('photo inference, 16 x 64->128, megapixels/s', 'photo',
     'infer_128_batch16_megapixels_per_sec', 'infer', 'infer_128_batch16_megapixels_per_sec', 2.0),
)


def _by_round(records, label):
  return {r['round']: r['result'] for r in records if r['label'] == label and r['result']}


def _span(values, digits=0):
  fmt = f'{{:,.{digits}f}}'
  lo, hi = min(values), max(values)
  return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f'{fmt.format(lo)}-{fmt.format(hi)}'


def _digits(value):
  return 0 if value >= 100 else 1 if value >= 10 else 2


def _seconds_to_target(result, target: float) -> float:
  """Wall seconds to `target` dB (inf: not reached). The seed peer stops at its target and
  reports its wall time only."""
  if 'seconds_to_target' in result:
    return result['seconds_to_target'] or float('inf')
  return result['wall_seconds'] if result['eval_psnr'] >= target else float('inf')


def peer_table(records) -> str:
  lines = ['| measure | ours | peer | ours / peer, per round | target | met |',
           '|---|---|---|---|---|---|']
  for name, task, key, peer_kind, peer_key, target in _PEER_ROWS:
    ours, peer = _by_round(records, f'{task}/ours/all'), _by_round(records, f'{task}/peer/{peer_kind}')
    rounds = sorted(set(ours) & set(peer))
    if not rounds:
      continue
    a, b = [ours[r][key] for r in rounds], [peer[r][peer_key] for r in rounds]
    ratios = [x / y for x, y in zip(a, b)]
    met = 'yes' if min(ratios) >= target else 'no' if max(ratios) < target else 'in some rounds'
    lines.append(f'| {name} | {_span(a, _digits(min(a)))} | {_span(b, _digits(min(b)))} | '
                 f'{" / ".join(f"{q:.2f}" for q in ratios)} | >= {target} | {met} |')
  for task, what, target in (('mnist', '28 dB', 0.25), ('photo', '35.9 dB', 0.5)):
    ours = [r for r in records if r['label'].startswith(f'{task}/ours/to ') and r['result']]
    peer = _by_round(records, f'{task}/peer/to {what}')
    pairs = [(o['result'], peer[o['round']]) for o in ours if o['round'] in peer]
    if not pairs:
      continue
    db = float(what.split()[0])
    a = [_seconds_to_target(o, db) for o, _ in pairs]
    b = [_seconds_to_target(p, db) for _, p in pairs]
    ratios = [x / y for x, y in zip(a, b)]
    met = 'yes' if max(ratios) <= target else 'no' if min(ratios) > target else 'in some rounds'
    lines.append(f'| wall s to {what}, compile and evaluations included: {ours[0]["label"].split("(")[-1][:-1]} '
                 f'vs the peer | {_span(a, 1)} | {_span(b, 1)} | '
                 f'{" / ".join(f"{q:.2f}" for q in ratios)} | <= {target} | {met} |')
  return '\n'.join(lines)


_SPEEDUP_KEYS = {'mnist': ('images_per_sec', 'infer_56_images_per_sec_batch1',
                           'infer_56_images_per_sec_batch256', 'infer_28_images_per_sec_batch256'),
                 'photo': ('images_per_sec', 'infer_512_megapixels_per_sec',
                           'infer_128_batch16_megapixels_per_sec')}
_KEY_NAMES = {'images_per_sec': 'training', 'infer_56_images_per_sec_batch1': '28->56 batch 1',
              'infer_56_images_per_sec_batch256': '28->56 batch 256',
              'infer_28_images_per_sec_batch256': '14->28 batch 256',
              'infer_512_megapixels_per_sec': 'one 256->512',
              'infer_128_batch16_megapixels_per_sec': '16 x 64->128'}


def speedup_table(records) -> str:
  """Per speed-up and model, the gain of 'all' over 'without it' in each round (x)."""
  lines = ['| speed-up | model | ' + ' | '.join(
      ['training', 'inference (seed: 28->56 b1 / b256 / 14->28 b256; photo: 512 / 16x128)']) + ' |',
           '|---|---|---|---|']
  for name in SPEEDUPS['mnist']:
    for task in ('mnist', 'photo'):
      if name not in SPEEDUPS[task]:
        continue
      with_, without = _by_round(records, f'{task}/ours/all'), _by_round(
          records, f'{task}/ours/without {name}')
      rounds = sorted(set(with_) & set(without))
      if not rounds:
        continue
      gains = {k: [with_[r][k] / without[r][k] for r in rounds] for k in _SPEEDUP_KEYS[task]}
      cell = lambda k: f'{_span(gains[k], 2)}x'
      infer = ' / '.join(cell(k) for k in _SPEEDUP_KEYS[task][1:])
      lines.append(f'| `{name}` | {"seed" if task == "mnist" else "photo network"} | '
                   f'{cell("images_per_sec")} | {infer} |')
  return '\n'.join(lines)


def xla_table(records) -> str:
  lines = ['| XLA_FLAGS | seed training, images/s | seed 28->56 b256, images/s | photo training, '
           'patches/s | photo 16 x 64->128, MP/s |', '|---|---|---|---|---|']
  options = sorted({r['env']['XLA_FLAGS'] for r in records if r['env'].get('XLA_FLAGS')})
  for option in options:
    cells = []
    for task, keys in (('mnist', ('images_per_sec', 'infer_56_images_per_sec_batch256')),
                       ('photo', ('images_per_sec', 'infer_128_batch16_megapixels_per_sec'))):
      runs = [r['result'] for r in records
              if r['label'] == f'{task}/ours/XLA_FLAGS={option}' and r['result']]
      cells += [_span([run[k] for run in runs], _digits(runs[0][k])) if runs else '-' for k in keys]
    lines.append(f'| `{option}` | ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def write_tables(record: str) -> None:
  sys.path.insert(0, HERE)
  import run  # pylint: disable=g-import-not-at-top  # experiments/run.py: the table markers
  with open(record) as f:
    records = [json.loads(line) for line in f]
  readme = os.path.join(HERE, 'README.md')
  with open(readme) as f:
    text = f.read()
  for marker, body in (('speed', peer_table(records)), ('speedups', speedup_table(records)),
                       ('speed_xla', xla_table(records))):
    text = run._replace(text, marker, body)  # pylint: disable=protected-access
  with open(readme, 'w') as f:
    f.write(text)
  print(f'wrote the speed tables of {readme} from {record} ({len(records)} runs)')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('record')
  parser.add_argument('--peer_python')
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--tables', action='store_true')
  args = parser.parse_args()
  if not args.tables:
    if not args.peer_python:
      sys.exit('error: --peer_python=PATH (a Python with torch) is needed to run the peers')
    for round_ in range(1, args.rounds + 1):
      for label, cmd, env in _round(args.peer_python):
        _run(args.record, round_, label, cmd, env)
    for round_ in (1, 2):
      for label, cmd, env in _to_target(args.peer_python):
        _run(args.record, round_, label, cmd, env)
    for label, cmd, env in _xla_options():
      _run(args.record, 1, label, cmd, env)
  write_tables(args.record)


if __name__ == '__main__':
  main()
