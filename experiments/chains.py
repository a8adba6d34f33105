"""The eval curves of long runs trained in chunks, and their gain per hour.

  python experiments/chains.py              the table of experiments/README.md and a curve
                                            experiments/chains/<chain>.png for each chain

A chain is a folder experiments/chains/<chain>/ of stage logs, trained one after the other
(`<n>_<stage>.log`, each starting from the weights the one before ended with, through
`config.init_from`). Each log holds its description and command in its first two lines, then
the lines that matter of the training log of all its chunks (`--chunk_minutes`, each appended
with `>>`): every chunk's `JAX ...` start line and the evaluations, at least. Hours are the
wall time of the chunks, from each chunk's start line to the evaluation: startup, compilation
and evaluations included, the time between chunks left out. The figures are read from the
logs; none is typed by hand.
"""
import datetime
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_STAMP = re.compile(r'^I(\d{4} \d\d:\d\d:\d\d\.\d+) ')
_EVAL = re.compile(r'step (\d+)[/:].*?eval psnr ([\d.]+).*?bicubic ([\d.]+)')
_START = re.compile(r'main\.py:\d+\] JAX ')


def _time(stamp: str, year: int = 2026) -> datetime.datetime:
  return datetime.datetime.strptime(f'{year}{stamp}', '%Y%m%d %H:%M:%S.%f')


def read_stage(path: str):
  """(description, [(hours into the stage, step, eval PSNR, bicubic PSNR)]) of a stage log:
  hours counted within its chunks only."""
  with open(path) as f:
    what, lines = f.readline(), f.read().splitlines()
  done, chunk_start, last, points = 0.0, None, None, []
  for line in lines:
    stamp = _STAMP.match(line)
    if not stamp:
      continue
    now = _time(stamp.group(1))
    if _START.search(line):  # a chunk begins: the one before ended at its last line
      if chunk_start is not None:
        done += (last - chunk_start).total_seconds() / 3600
      chunk_start = now
    last = now
    found = _EVAL.search(line)
    if found and chunk_start is not None:
      step, psnr, bicubic = found.groups()
      points.append((done + (now - chunk_start).total_seconds() / 3600, int(step),
                     float(psnr), float(bicubic)))
  if not what.startswith('# ') or not points:
    sys.exit(f'error: {path} needs a "# description" first line, then log lines from the '
             f'training command\'s start line on, with eval psnr lines')
  return what[2:].strip(), points


def read_chain(folder: str):
  """[(stage name, description, [(chain hours, stage step, PSNR, bicubic)])] in stage order,
  hours added up over the stages."""
  stages, offset = [], 0.0
  for path in sorted(glob.glob(os.path.join(folder, '*.log'))):
    what, points = read_stage(path)
    stages.append((os.path.basename(path)[:-4], what,
                   [(offset + h, step, psnr, bic) for h, step, psnr, bic in points]))
    offset = stages[-1][2][-1][0]
  return stages


def table(chains) -> str:
  """One row per evaluation: its stage, step, chain hours, PSNR and the gain per hour since
  the evaluation before."""
  lines = ['| chain | stage | step | hours | val PSNR dB | gain since last dB | dB per hour |',
           '|' + '---|' * 7]
  for name, stages in chains:
    before = None
    for stage, _, points in stages:
      for hours, step, psnr, _ in points:
        gain = per_hour = ''
        if before is not None:
          gain = f'{psnr - before[1]:+.2f}'
          per_hour = f'{(psnr - before[1]) / (hours - before[0]):+.2f}' if hours > before[0] else ''
        lines.append(f'| `{name}` | `{stage}` | {step:,} | {hours:.2f} | {psnr:.2f} | {gain} | '
                     f'{per_hour} |')
        before = (hours, psnr)
  return '\n'.join(lines)


def plot(path: str, name: str, stages) -> None:
  """PSNR against chain hours, one colour per stage, a dotted line where each stage began.
  Bicubic is far below: it is named in the title, not drawn, so the axis shows the gains."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(8, 4))
  ax = fig.subplots()
  start = 0.0
  for stage, _, points in stages:
    ax.axvline(start, color='gray', linestyle=':')
    ax.plot([p[0] for p in points], [p[2] for p in points], 'o-', label=stage)
    start = points[-1][0]
  ax.set(xlabel='training hours (chunks only)', ylabel='eval PSNR dB', xlim=(0, None),
         title=f'{name} (bicubic {stages[0][2][0][3]:.2f} dB)')
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=90)


def main() -> None:
  sys.path.insert(0, HERE)
  import run  # pylint: disable=g-import-not-at-top
  chains = [(os.path.basename(f), read_chain(f))
            for f in sorted(glob.glob(os.path.join(HERE, 'chains', '*'))) if os.path.isdir(f)]
  for name, stages in chains:
    plot(os.path.join(HERE, 'chains', f'{name}.png'), name, stages)
  readme = os.path.join(HERE, 'README.md')
  with open(readme) as f:
    text = run._replace(f.read(), 'chains', table(chains))  # pylint: disable=protected-access
  with open(readme, 'w') as f:
    f.write(text)
  print(f'wrote the chains table of {readme} and {len(chains)} curve(s)')


if __name__ == '__main__':
  main()
