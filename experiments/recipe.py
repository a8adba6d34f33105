"""Recipe search at equal CPU time, on validation data only (issue 18).

  python experiments/recipe.py OUT_DIR [--minutes=M | --steps=N] NAME [NAME ...]
  python experiments/recipe.py --table

Each NAME is a recipe below: a base config and overrides. A recipe is first run for a few
hundred steps to measure this CPU's throughput for it (results.json's images/s, compilation
excluded), then trained from scratch for as many steps as fit `--minutes` of training at that
throughput, on the validation split (photos: sun80 files [0, 60) train, [60, 70) validate;
MNIST: test[:7000] trains, test[7000:8000] validates), evaluated four times along the way. Step
counts, not time limits, end the runs, so their PSNR does not depend on what else the machine
does. `--steps=N` skips the probe and trains N steps: for recipes whose steps cost what their
baseline's do (another learning rate, other training photos), so both run the same steps.
`photo_b16_32x8_builtin` trains on a folder of links that it makes in OUT_DIR. Each run's
description, command and evaluation lines go to experiments/recipe/NAME.log, and the table
between the `<!-- table:recipe -->` markers of experiments/README.md is written again from all
those logs.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LOGS = os.path.join(HERE, 'recipe')
sys.path.insert(0, ROOT)
from experiments import run  # pylint: disable=g-import-not-at-top

PHOTO = ('configs/photo.py', {'train_split': 'train[:60]', 'eval_split': 'train[60:70]',
                              'num_blocks': 6})
# sun80 [0, 60) and scikit-image's 18 builtin photos train, sun80 [60, 70) validates: a
# folder of links that `_photos_and_builtin` makes in OUT_DIR keeps that order.
PHOTO_BUILTIN = ('configs/photo.py', {'train_split': 'train[:78]', 'eval_split': 'train[78:88]',
                                      'num_blocks': 6})
MNIST = ('configs/mnist.py', {'train_split': 'test[:7000]', 'eval_split': 'test[7000:8000]'})

# name: (base, description, overrides). The photo rows start from configs/photo.py with edsr
# 32x6 (L1, rotations and flips, warmup and cosine decay over the run, crops of 24x24).
RECIPES = {
    'photo_b32': (PHOTO, 'batch 32, warmup 200 (pretrained:photo until 2026-12-02)',
                  {'batch_size': 32, 'warmup_steps': 200}),
    'photo_b16': (PHOTO, 'batch 16, warmup 100', {'batch_size': 16, 'warmup_steps': 100}),
    'photo_b8': (PHOTO, 'batch 8, warmup 50', {'batch_size': 8, 'warmup_steps': 50}),
    'photo_b16_p32': (PHOTO, 'batch 16 of 32x32 crops, warmup 100',
                      {'batch_size': 16, 'warmup_steps': 100, 'hr_size': 64}),
    'photo_b16_x2': (PHOTO, 'batch 16, warmup 100, collapsible blocks expanded 2x',
                     {'batch_size': 16, 'warmup_steps': 100, 'expansion': 2}),
    'photo_b16_32x8': (PHOTO, 'batch 16, warmup 100, edsr 32x8 (149,444 parameters)',
                       {'batch_size': 16, 'warmup_steps': 100, 'num_blocks': 8}),
    'photo_b16_mse': (PHOTO, 'batch 16, warmup 100, L1 then MSE for the last quarter',
                      {'batch_size': 16, 'warmup_steps': 100, 'mse_finetune': 0.25}),
    'photo_b16_ema': (PHOTO, 'batch 16, warmup 100, EMA 0.999',
                      {'batch_size': 16, 'warmup_steps': 100, 'ema': 0.999}),
    'photo_b16_noaug': (PHOTO, 'batch 16, warmup 100, no rotations or flips',
                        {'batch_size': 16, 'warmup_steps': 100, 'augment': False}),
    'photo_b16_32x8_lr2e3': (PHOTO, 'batch 16, warmup 100, edsr 32x8, learning rate 2e-3',
                             {'batch_size': 16, 'warmup_steps': 100, 'num_blocks': 8,
                              'learning_rate': 2e-3}),
    'photo_b16_32x8_lr5e4': (PHOTO, 'batch 16, warmup 100, edsr 32x8, learning rate 5e-4',
                             {'batch_size': 16, 'warmup_steps': 100, 'num_blocks': 8,
                              'learning_rate': 5e-4}),
    'photo_b16_32x8_builtin': (PHOTO_BUILTIN, 'batch 16, warmup 100, edsr 32x8, the builtin '
                               'scikit-image photos added to the training photos',
                               {'batch_size': 16, 'warmup_steps': 100, 'num_blocks': 8}),
    # MNIST rows start from configs/mnist.py (edsr 32x4, MSE, constant rate, batch 128).
    'mnist_b32_ema': (MNIST, 'batch 32, EMA 0.999 (pretrained:mnist until 2026-12-02)',
                      {'batch_size': 32, 'ema': 0.999}),
    'mnist_b16_cosine_ema': (MNIST, 'batch 16, EMA 0.999, warmup 100 and cosine decay',
                             {'batch_size': 16, 'ema': 0.999, 'lr_schedule': 'cosine',
                              'warmup_steps': 100}),
    'mnist_b32_ema_augment': (MNIST, 'batch 32, EMA 0.999, rotations and flips',
                              {'batch_size': 32, 'ema': 0.999, 'augment': True}),
    'mnist_b32_augment_cosine': (MNIST, 'batch 32, rotations and flips, warmup 100 and cosine '
                                 'decay', {'batch_size': 32, 'augment': True,
                                           'lr_schedule': 'cosine', 'warmup_steps': 100}),
}


def _photos_and_builtin(out: str) -> str:
  """A folder of links whose sorted names give sun80 [0, 60), the builtin photos, sun80 [60, 70)."""
  import skimage.data  # pylint: disable=g-import-not-at-top
  from flax_srae.data import input_pipeline  # pylint: disable=g-import-not-at-top
  sun80_dir = os.path.join(ROOT, '..', 'shared', 'data', 'sun80')
  sun80 = (input_pipeline._folder_files(sun80_dir)  # pylint: disable=protected-access
           if os.path.isdir(sun80_dir) else [])
  builtin = [os.path.join(skimage.data.data_dir, f)
             for f in sum(input_pipeline.BUILTIN_SPLITS.values(), ())]
  missing = [p for p in builtin if not os.path.exists(p)]
  if len(sun80) < 70:
    missing.insert(0, f'sun80 files [{len(sun80)}, 70) in {sun80_dir}')
  if missing:
    sys.exit(f'error: the builtin-photos recipe needs sun80 [0, 70) and the builtin photos; '
             f'missing: {", ".join(missing)}')
  folder = os.path.join(out, 'sun80_and_builtin')
  shutil.rmtree(folder, ignore_errors=True)  # links only, made here: PHOTO_BUILTIN's counts hold
  os.makedirs(folder)
  for prefix, paths in (('a_', sun80[:60]), ('b_', builtin), ('c_', sun80[60:70])):
    for path in paths:
      os.symlink(os.path.abspath(path), os.path.join(folder, prefix + os.path.basename(path)))
  return folder


def _command(base, overrides, steps, workdir, eval_every):
  config, split = base
  fields = {**split, **overrides, 'num_train_steps': steps, 'eval_every_steps': eval_every,
            'checkpoint_every_steps': 10 ** 9}
  return ([sys.executable, '-m', 'flax_srae.main', f'--config={config}', f'--workdir={workdir}']
          + [f'--config.{k}={v}' for k, v in fields.items()])


def _train(cmd, log):
  with open(log, 'w') as f:
    if subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT).returncode:
      sys.exit(f'error: {" ".join(cmd)} failed; see {log}')


def run_recipe(name: str, out: str, minutes: float, probe_steps: int, steps: int = 0) -> None:
  base, what, overrides = RECIPES[name]
  out = os.path.abspath(out)  # the training runs in ROOT
  probe, workdir = os.path.join(out, name + '_probe'), os.path.join(out, name)
  for folder in (workdir,) if steps else (probe, workdir):
    if os.path.exists(folder):  # training would resume it, not time a fresh run
      sys.exit(f'error: {folder} exists: pick another OUT_DIR')
  os.makedirs(out, exist_ok=True)
  data_dir = _photos_and_builtin(out) if base is PHOTO_BUILTIN else None
  if data_dir:
    overrides = {**overrides, 'data_dir': data_dir}
  if steps:
    timing = f'{steps:,} steps, as its baseline: a step costs the same'
  else:
    # The probe trains on the recipe's first loss only: a second compilation is not throughput.
    _train(_command(base, {**overrides, 'mse_finetune': 0.0}, probe_steps, probe, probe_steps),
           probe + '.log')
    with open(os.path.join(probe, 'results.json')) as f:
      results = json.load(f)
    per_sec = results['train']['steps_timed'] / results['train']['seconds']
    steps = max(100, int(minutes * 60 * per_sec) // 100 * 100)
    timing = f'{minutes:g} min of training at {per_sec:.2f} steps/s'
  cmd = _command(base, overrides, steps, workdir, steps // 4)
  _train(cmd, workdir + '.log')
  with open(workdir + '.log') as f:
    kept = [line for line in f if 'eval psnr' in line or 'parameters' in line]
  os.makedirs(LOGS, exist_ok=True)
  shown = ' '.join(['python'] + cmd[1:]).replace(workdir, 'DIR')
  if data_dir:
    shown = shown.replace(data_dir, 'OUT_DIR/sun80_and_builtin')
  with open(os.path.join(LOGS, name + '.log'), 'w') as f:
    f.write(f'# {what}; {timing}\n'
            f'# {shown}\n' + ''.join(kept))


def table(folder: str = LOGS) -> str:
  """The runs' curves, from their logs: every evaluation's PSNR, then the last one."""
  lines = ['| run | what | steps | val PSNR dB along the run | last val PSNR dB | bicubic dB |',
           '|' + '---|' * 6]
  for path in sorted(glob.glob(os.path.join(folder, '*.log'))):
    what, evals = run.read_curve(path)
    curve = ', '.join(p for _, p, _ in evals)
    lines.append(f'| `{os.path.basename(path)[:-4]}` | {what} | {int(evals[-1][0]):,} '
                 f'| {curve} | {evals[-1][1]} | {evals[-1][2]} |')
  return '\n'.join(lines)


def write_table() -> None:
  readme = os.path.join(HERE, 'README.md')
  with open(readme) as f:
    text = f.read()
  with open(readme, 'w') as f:
    f.write(run._replace(text, 'recipe', table()))  # pylint: disable=protected-access


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('out', nargs='?')
  parser.add_argument('names', nargs='*', metavar='NAME')
  parser.add_argument('--minutes', type=float, help='minutes of training (default 6)')
  parser.add_argument('--probe_steps', type=int, default=300)
  parser.add_argument('--steps', type=int, default=0,
                      help="train this many steps, unprobed: for recipes whose steps cost their "
                           "baseline's (another learning rate, other training photos)")
  parser.add_argument('--table', action='store_true')
  args = parser.parse_intermixed_args()
  if not args.table:
    if not args.out or not args.names:
      parser.error('give OUT_DIR and at least one recipe: ' + ', '.join(RECIPES))
    if args.minutes is not None and args.steps:
      parser.error('give --minutes or --steps, not both')
    if (args.minutes is not None and args.minutes <= 0) or 0 < args.steps < 4 or args.steps < 0:
      parser.error('--minutes must be > 0 and --steps >= 4 (4 evaluations)')
    unknown = set(args.names) - set(RECIPES)
    if unknown:
      parser.error(f'unknown recipe(s) {", ".join(sorted(unknown))}: choose from '
                   + ', '.join(RECIPES))
    for name in args.names:
      run_recipe(name, args.out, 6.0 if args.minutes is None else args.minutes,
                 args.probe_steps, args.steps)
  write_table()


if __name__ == '__main__':
  main()
