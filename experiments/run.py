"""Reruns the experiments: one config per row, then the tables of experiments/README.md.

  python experiments/run.py OUT_DIR [ROW ...]     train the rows (default: all), then the tables
  python experiments/run.py --tables              rebuild the tables from experiments/results/,
                                                  experiments/validation/ and scaling/
  python experiments/run.py --record ROW WORKDIR SECONDS
                          record a run of ROW's config made by hand (`python -m flax_srae.main
                          --config=experiments/configs/ROW.py --workdir=WORKDIR`, timed)

The validation and scaling tables are written from the training logs in experiments/validation/
and experiments/scaling/ (each holds its description and command in its first two lines, then
the log lines that matter).

A row is a config in experiments/configs/, named <task>_<name>.py. Each is trained from scratch
in OUT_DIR/<row> with `python -m flax_srae.main` and evaluated with `python -m flax_srae.evaluate`
(which adds the classic upscalers, Lanczos included). The wall time is that of the training
command, start to finish: data loading, compilation and its evaluations included. The figures
go to experiments/results/<row>.json, evaluate's sample grid to experiments/samples/<row>.png,
and every table between its `<!-- table:TASK -->` markers in experiments/README.md is written
again from all the results there: no figure in those tables is typed by hand.
"""
import datetime
import glob
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TASKS = ('val', 'mnist', 'sun80', 'builtin28', 'builtin56')  # README.md's table markers


def _rows():
  return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, 'configs', '*.py'))
                if not p.endswith('__init__.py'))


def _cpu() -> str:
  try:
    with open('/proc/cpuinfo') as f:
      name = re.search(r'model name\s*:\s*(.*)', f.read())[1]
  except (OSError, TypeError):
    name = platform.processor() or platform.machine()
  return f'{name}, {os.cpu_count()} cores'


def _run(cmd, log):
  with open(log, 'a') as f:
    proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
  if proc.returncode:
    sys.exit(f'error: {" ".join(cmd)} failed (exit {proc.returncode}); see {log}')


def run_row(row: str, out: str) -> dict:
  workdir = os.path.join(out, row)
  if os.path.exists(workdir):  # a resumed run would not time a fresh one
    sys.exit(f'error: {workdir} exists: pick another OUT_DIR')
  os.makedirs(out, exist_ok=True)
  log = workdir + '.log'
  config = os.path.join('experiments', 'configs', row + '.py')
  start = time.time()
  _run([sys.executable, '-m', 'flax_srae.main', f'--config={config}', f'--workdir={workdir}'], log)
  return record_row(row, workdir, time.time() - start)


def record_row(row: str, workdir: str, wall: float) -> dict:
  """Evaluates the finished run of `row` in `workdir` and records it with its wall time."""
  log = workdir + '.log'
  config = os.path.join('experiments', 'configs', row + '.py')
  _run([sys.executable, '-m', 'flax_srae.evaluate', f'--workdir={workdir}',
        f'--output_dir={workdir}'], log)
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  stem = max(glob.glob(os.path.join(workdir, 'eval_*.json')), key=os.path.getmtime)[:-5]
  with open(stem + '.json') as f:
    evaluation = json.load(f)
  record = {'row': row, 'config': config, 'model': results['model'],
            'parameters': results['parameters'], 'steps': results['step'],
            'wall_seconds': round(wall, 1),
            'images_per_sec': round(results['train']['images_per_sec'] or 0, 1),
            'eval': results['eval'], 'methods': evaluation['methods'],
            'protocol': evaluation['protocol'], 'date': datetime.date.today().isoformat(),
            'machine': _cpu(), 'jax': importlib.metadata.version('jax')}
  os.makedirs(os.path.join(HERE, 'results'), exist_ok=True)
  with open(os.path.join(HERE, 'results', row + '.json'), 'w') as f:
    json.dump(record, f, indent=2)
  os.makedirs(os.path.join(HERE, 'samples'), exist_ok=True)
  with open(stem + '.png', 'rb') as src, \
       open(os.path.join(HERE, 'samples', row + '.png'), 'wb') as dst:
    dst.write(src.read())
  e = record['eval']
  print(f'{row:28s} {record["model"]:14s} steps {record["steps"]:5d}  wall {wall / 60:5.1f} min  '
        f'psnr {e["psnr"]:.2f} dB  ssim {e["ssim"]:.4f}  bicubic {e["bicubic_psnr"]:.2f} dB '
        f'(+{e["psnr"] - e["bicubic_psnr"]:.2f})', flush=True)
  return record


def _describe(config_path: str) -> str:
  """The first line of a row config's docstring."""
  with open(os.path.join(ROOT, config_path)) as f:
    return re.search(r'"""(.*?)(?:"""|\n)', f.read())[1].strip().rstrip('.')


def table(records) -> str:
  lines = ['| row | what | model | parameters | steps | wall (min) | PSNR dB | SSIM | '
           'over bicubic | over Lanczos | samples |', '|' + '---|' * 11]
  for r in records:
    e, lanczos = r['eval'], r['methods']['lanczos']
    lines.append(
        f'| `{r["row"]}` | {_describe(r["config"])} | {r["model"]} | {r["parameters"]:,} | '
        f'{r["steps"]:,} | {r["wall_seconds"] / 60:.1f} | {e["psnr"]:.2f} | {e["ssim"]:.4f} | '
        f'{e["psnr"] - e["bicubic_psnr"]:+.2f} | {e["psnr"] - lanczos["psnr"]:+.2f} | '
        f'[png](samples/{r["row"]}.png) |')
  first = records[0]
  lines.append('')
  # Records written before they named JAX's version were all made with JAX 0.10.2.
  runs = sorted({(r['date'], r.get('jax', '0.10.2')) for r in records})
  lines.append(f'Bicubic {first["eval"]["bicubic_psnr"]:.2f} dB / {first["eval"]["bicubic_ssim"]:.4f}, '
               f'Lanczos {first["methods"]["lanczos"]["psnr"]:.2f} dB / '
               f'{first["methods"]["lanczos"]["ssim"]:.4f}; {first["protocol"]}. Measured '
               f'{", ".join(f"{d} (JAX {v})" for d, v in runs)} on '
               f'{", ".join(sorted({r["machine"] for r in records}))}.')
  return '\n'.join(lines)


def read_curve(path: str):
  """(description, [(step, eval PSNR, bicubic PSNR) as strings]) of a training log whose first
  line is '# description'."""
  with open(path) as f:
    what, text = f.readline(), f.read()
  evals = re.findall(r'step (\d+)[/:].*?eval psnr ([\d.]+).*?bicubic ([\d.]+)', text)
  if not what.startswith('# ') or not evals:
    sys.exit(f'error: {path} needs a "# description" first line and eval psnr log lines')
  return what[2:].strip(), evals


def validation_table(folder: str = os.path.join(HERE, 'validation')) -> str:
  """The validation runs' curves, from their logs: the best eval PSNR (the earliest step on a
  tie) and the last one. A run stopped by a time limit ends at its last evaluation."""
  lines = ['| run | what | last eval step | best val PSNR dB (step) | last val PSNR dB | '
           'bicubic dB |', '|' + '---|' * 6]
  for path in sorted(glob.glob(os.path.join(folder, '*.log'))):
    what, evals = read_curve(path)
    curve = [(int(step), float(psnr)) for step, psnr, _ in evals]
    best, last = max(curve, key=lambda c: c[1]), curve[-1]
    lines.append(f'| `{os.path.basename(path)[:-4]}` | {what} | {last[0]:,} | '
                 f'{best[1]:.2f} ({best[0]:,}) | {last[1]:.2f} | {evals[-1][2]} |')
  return '\n'.join(lines)


def _replace(text: str, marker: str, body: str) -> str:
  start, end = f'<!-- table:{marker} -->', f'<!-- /table:{marker} -->'
  if start not in text or end not in text:
    sys.exit(f'error: experiments/README.md needs the markers {start} and {end}')
  return re.sub(re.escape(start) + '.*?' + re.escape(end), lambda _: f'{start}\n{body}\n{end}',
                text, flags=re.S)


def write_tables() -> None:
  records = []
  for path in sorted(glob.glob(os.path.join(HERE, 'results', '*.json'))):
    with open(path) as f:
      records.append(json.load(f))
  readme = os.path.join(HERE, 'README.md')
  with open(readme) as f:
    text = f.read()
  for task in TASKS:
    rows = [r for r in records if r['row'].split('_')[0] == task]
    if rows:
      text = _replace(text, task, table(rows))
  for marker in ('validation', 'scaling'):  # a table of logs for each folder
    text = _replace(text, marker, validation_table(os.path.join(HERE, marker)))
  with open(readme, 'w') as f:
    f.write(text)
  print(f'wrote the tables of {readme}')


def main(argv):
  if argv[1:] == ['--tables']:
    return write_tables()
  if argv[1:2] == ['--record'] and len(argv) == 5:
    record_row(argv[2], os.path.abspath(argv[3]), float(argv[4]))
    return write_tables()
  if len(argv) < 2 or argv[1].startswith('-'):
    sys.exit(__doc__)
  out, rows = os.path.abspath(argv[1]), argv[2:] or _rows()
  unknown = sorted(set(rows) - set(_rows()))
  if unknown:
    sys.exit(f'error: unknown rows {", ".join(unknown)}; rows: {", ".join(_rows())}')
  for row in rows:
    run_row(row, out)
  write_tables()


if __name__ == '__main__':
  main(sys.argv)
