"""The autoencoder's rate-distortion against PCA, its denoising, and pictures of its codes.

  python experiments/autoencoder.py OUT_DIR [ROW ...]   train the rows (default: all), record
                                                        them, then the tables and figures
  python experiments/autoencoder.py --record ROW WORKDIR SECONDS
                            record a run of ROW made by hand with the command ROW names (timed)
  python experiments/autoencoder.py --tables            the tables and the rate-distortion plot
                                                        from experiments/autoencoder/
  python experiments/autoencoder.py --figures OUT_DIR   the interpolation (from OUT_DIR/d32) and
                                                        the 2-D codes (from OUT_DIR/d2)
  python experiments/autoencoder.py --validation OUT_DIR [RECIPE ...]
                            train the recipes on the validation slice, record them, the tables
  python experiments/autoencoder.py --record-validation RECIPE WORKDIR
                            record a run of RECIPE made by hand with the command RECIPE names
  python experiments/autoencoder.py --other OUT_DIR [SET ...]
                            the recipe on other 28x28 grayscale sets it was not chosen on, as
                            IDX files in OUT_DIR/SET: glyphs rendered in matplotlib's fonts,
                            patches of the sun80 photos
  python experiments/autoencoder.py --record-other SET WORKDIR SECONDS
                            record a run of SET made by hand with the command it names

A row is `configs/ae28.py` with one code size and noise level (ROWS), trained from scratch in
OUT_DIR/<row> by `python -m flax_srae.main`, whose wall time (start to finish: data loading,
compilation and evaluations included) is recorded with its results.json in
experiments/autoencoder/<row>.json, and its samples.png as <row>.png. The training run itself
measures PCA with as many components (fitted on the same training images) and the area code
of about the same size, on the same eval images: every figure in the tables and the plot is
read from those records, none is typed by hand.
"""
import datetime
import glob
import gzip
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from experiments import run  # pylint: disable=g-import-not-at-top,wrong-import-position

RECORDS = os.path.join(HERE, 'autoencoder')
DOCS = os.path.join(ROOT, 'docs')
SIZES = (2, 4, 8, 16, 30, 32, 64, 128)
NOISE = (0.2, 0.5)
ROWS = {**{f'd{d}': (d, 0.0) for d in SIZES},
        **{f'd32_noise{s:g}': (32, s) for s in NOISE}}
# Hinton & Salakhutdinov (Science, 2006, Fig. 2B) on the 10,000 MNIST test images, trained on
# 60,000: average squared error per image of their 30-value autoencoder and of 30-component PCA.
LITERATURE = {'autoencoder 784-1000-500-250-30': 3.00, 'PCA 30': 13.87}
# The recipe of configs/ae28.py was chosen on a validation slice of the training images, so that
# the eval images [8000, 10000) choose nothing: train on [0, 7000), measure on [7000, 8000).
VALIDATION_SPLIT = ['--config.train_split=test[:7000]', '--config.eval_split=test[7000:8000]']
RECIPES = {'constant_lr1e-3': ['--config.lr_schedule=constant', '--config.learning_rate=1e-3',
                               '--config.warmup_steps=0'],
           'cosine_lr1e-3': ['--config.learning_rate=1e-3'],
           'cosine_lr2e-3': ['--config.learning_rate=2e-3'],
           # The length: with 8,000 images the network can overfit, so a shorter and a longer
           # run of the chosen rate are measured too.
           'cosine_lr2e-3_3000steps': ['--config.learning_rate=2e-3',
                                       '--config.num_train_steps=3000'],
           'cosine_lr2e-3_9000steps': ['--config.learning_rate=2e-3',
                                       '--config.num_train_steps=9000']}


def command(row: str, workdir: str):
  d, noise = ROWS[row]
  return [sys.executable, '-m', 'flax_srae.main', '--config=configs/ae28.py',
          f'--config.latent_dim={d}', f'--config.noise_std={noise:g}', f'--workdir={workdir}']


def train_row(row: str, out: str) -> dict:
  workdir = os.path.join(out, row)
  if os.path.exists(workdir):  # a resumed run would not time a fresh one
    sys.exit(f'error: {workdir} exists: pick another OUT_DIR')
  os.makedirs(out, exist_ok=True)
  start = time.time()
  with open(workdir + '.log', 'w') as log:
    proc = subprocess.run(command(row, workdir), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
  if proc.returncode:
    sys.exit(f'error: training {row} failed (exit {proc.returncode}); see {workdir}.log')
  return record_row(row, workdir, time.time() - start)


def record_row(row: str, workdir: str, wall: float) -> dict:
  if not os.path.isfile(os.path.join(workdir, 'results.json')):
    sys.exit(f'error: {workdir} has no results.json: give the workdir of a finished run')
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  d, noise = ROWS[row]
  coding = results.get('coding')
  if not coding or coding['latent_dim'] != d or coding['noise_std'] != noise:
    sys.exit(f'error: {workdir} is not a run of {row} (latent_dim {d}, noise_std {noise:g})')
  cmd = ' '.join(['python'] + command(row, 'OUT_DIR/' + row)[1:])
  record = {'row': row, 'command': cmd, 'parameters': results['parameters'],
            'steps': results['step'], 'wall_seconds': round(wall, 1),
            'images_per_sec': round(results['train']['images_per_sec'] or 0, 1),
            'coding': coding, 'num_eval_images': results['num_eval_images'],
            'date': datetime.date.today().isoformat(), 'machine': run._cpu(),  # pylint: disable=protected-access
            'jax': importlib.metadata.version('jax')}
  os.makedirs(RECORDS, exist_ok=True)
  with open(os.path.join(RECORDS, row + '.json'), 'w') as f:
    json.dump(record, f, indent=2)
  shutil.copyfile(os.path.join(workdir, 'samples.png'), os.path.join(RECORDS, row + '.png'))
  m = coding['methods']
  print(f'{row:14s} wall {wall / 60:4.1f} min  autoencoder {m["model"]["psnr"]:.2f} dB  '
        f'PCA {m["pca"]["psnr"]:.2f} dB ({m["model"]["psnr"] - m["pca"]["psnr"]:+.2f})  '
        f'squared error {m["model"]["squared_error_per_image"]:.2f}', flush=True)
  return record


def validation_command(recipe: str, workdir: str):
  return [sys.executable, '-m', 'flax_srae.main', '--config=configs/ae28.py', *VALIDATION_SPLIT,
          *RECIPES[recipe], f'--workdir={workdir}']


def train_recipe(recipe: str, out: str) -> None:
  workdir = os.path.join(out, 'val_' + recipe)
  if os.path.exists(workdir):
    sys.exit(f'error: {workdir} exists: pick another OUT_DIR')
  os.makedirs(out, exist_ok=True)
  with open(workdir + '.log', 'w') as log:
    proc = subprocess.run(validation_command(recipe, workdir), cwd=ROOT, stdout=log,
                          stderr=subprocess.STDOUT)
  if proc.returncode:
    sys.exit(f'error: training {recipe} failed (exit {proc.returncode}); see {workdir}.log')
  record_recipe(recipe, workdir)


def record_recipe(recipe: str, workdir: str) -> None:
  if not os.path.isfile(os.path.join(workdir, 'results.json')):
    sys.exit(f'error: {workdir} has no results.json: give the workdir of a finished run')
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  if results['eval_split'] != VALIDATION_SPLIT[1].split('=')[1]:
    sys.exit(f'error: {workdir} was not measured on the validation slice')
  cmd = ' '.join(['python'] + validation_command(recipe, 'OUT_DIR/val_' + recipe)[1:])
  record = {'row': recipe, 'command': cmd, 'steps': results['step'],
            'coding': results['coding'], 'num_eval_images': results['num_eval_images'],
            'date': datetime.date.today().isoformat(), 'machine': run._cpu(),  # pylint: disable=protected-access
            'jax': importlib.metadata.version('jax')}
  os.makedirs(os.path.join(RECORDS, 'validation'), exist_ok=True)
  with open(os.path.join(RECORDS, 'validation', recipe + '.json'), 'w') as f:
    json.dump(record, f, indent=2)


SUN80_DIR = os.path.join(ROOT, '..', 'shared', 'data', 'sun80')


def _write_idx(out: str, images: np.ndarray) -> str:
  """(N, 28, 28) uint8 images as OUT/t10k-images-idx3-ubyte.gz, the file `--config.dataset=idx`
  reads as its 'test' split; returns `out`."""
  os.makedirs(out, exist_ok=True)
  with gzip.open(os.path.join(out, 't10k-images-idx3-ubyte.gz'), 'wb') as f:
    f.write(np.array([0x803, len(images), 28, 28], '>u4').tobytes() + images.tobytes())
  return out


def write_photo_patches(out: str) -> str:
  """10,000 grayscale 28x28 patches of the sun80 photos as an IDX file, in MNIST's layout:
  [0, 8000) from the training photos [0, 70), [8000, 10000) from the eval photos [70, 80)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  names = sorted(f for f in os.listdir(SUN80_DIR) if f.endswith('.jpg'))
  if len(names) != 80:
    sys.exit(f'error: {SUN80_DIR} should hold the 80 sun80 photos, found {len(names)}')
  rng = np.random.default_rng(0)

  def patches(files, count):
    photos = [np.asarray(Image.open(os.path.join(SUN80_DIR, f)).convert('L')) for f in files]
    corners = [(p, rng.integers(0, p.shape[0] - 28), rng.integers(0, p.shape[1] - 28))
               for p in (photos[k % len(photos)] for k in range(count))]
    return np.stack([p[y:y + 28, x:x + 28] for p, y, x in corners])
  images = np.concatenate([patches(names[:70], 8000), patches(names[70:], 2000)])
  return _write_idx(out, images)


GLYPH_FONTS = ('DejaVuSans', 'DejaVuSans-Bold', 'DejaVuSans-Oblique', 'DejaVuSansMono',
               'DejaVuSansMono-Bold', 'DejaVuSerif', 'DejaVuSerif-Bold', 'DejaVuSerif-Italic',
               'STIXGeneral', 'STIXGeneralBol', 'STIXGeneralItalic', 'cmr10', 'cmss10', 'cmtt10')
GLYPHS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789&?@#%$'


def write_glyphs(out: str) -> str:
  """10,000 white-on-black 28x28 glyphs (letters, digits, signs) in 14 fonts that ship with
  matplotlib, each at a random size, slant and place, as an IDX file in MNIST's layout."""
  import matplotlib  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  from PIL import Image, ImageDraw, ImageFont  # pylint: disable=g-import-not-at-top,import-outside-toplevel
  fonts = os.path.join(os.path.dirname(matplotlib.__file__), 'mpl-data', 'fonts', 'ttf')
  rng = np.random.default_rng(0)
  images = np.zeros((10000, 28, 28), np.uint8)
  for i in range(len(images)):
    font = ImageFont.truetype(os.path.join(fonts, GLYPH_FONTS[rng.integers(len(GLYPH_FONTS))]
                                           + '.ttf'), int(rng.integers(16, 25)))
    canvas = Image.new('L', (56, 56))
    ImageDraw.Draw(canvas).text((28, 28), GLYPHS[rng.integers(len(GLYPHS))], fill=255,
                                font=font, anchor='mm')
    canvas = canvas.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR,
                           translate=tuple(int(t) for t in rng.integers(-2, 3, 2)))
    images[i] = np.asarray(canvas)[14:42, 14:42]
  return _write_idx(out, images)


OTHER_SETS = {'glyphs': (write_glyphs, 'glyphs in 14 fonts'),
              'photo_patches': (write_photo_patches, 'sun80 photo patches')}


def other_command(data_dir: str, workdir: str):
  return [sys.executable, '-m', 'flax_srae.main', '--config=configs/ae28.py',
          f'--config.data_dir={data_dir}', f'--workdir={workdir}']


def train_other(name: str, out: str) -> None:
  workdir = os.path.join(out, 'other_' + name)
  if os.path.exists(workdir):
    sys.exit(f'error: {workdir} exists: pick another OUT_DIR')
  data_dir = OTHER_SETS[name][0](os.path.join(out, name))
  start = time.time()
  with open(workdir + '.log', 'w') as log:
    proc = subprocess.run(other_command(data_dir, workdir), cwd=ROOT, stdout=log,
                          stderr=subprocess.STDOUT)
  if proc.returncode:
    sys.exit(f'error: training failed (exit {proc.returncode}); see {workdir}.log')
  record_other(name, workdir, time.time() - start)


def record_other(name: str, workdir: str, wall: float) -> None:
  if not os.path.isfile(os.path.join(workdir, 'results.json')):
    sys.exit(f'error: {workdir} has no results.json: give the workdir of a finished run')
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  if results['dataset'] != 'idx' or results.get('coding', {}).get('latent_dim') != 32:
    sys.exit(f'error: {workdir} is no run of configs/ae28.py on an IDX set')
  cmd = ' '.join(['python'] + other_command(f'OUT_DIR/{name}', f'OUT_DIR/other_{name}')[1:])
  record = {'row': name, 'command': cmd, 'steps': results['step'],
            'wall_seconds': round(wall, 1), 'coding': results['coding'],
            'num_eval_images': results['num_eval_images'],
            'date': datetime.date.today().isoformat(), 'machine': run._cpu(),  # pylint: disable=protected-access
            'jax': importlib.metadata.version('jax')}
  os.makedirs(os.path.join(RECORDS, 'other'), exist_ok=True)
  with open(os.path.join(RECORDS, 'other', name + '.json'), 'w') as f:
    json.dump(record, f, indent=2)
  shutil.copyfile(os.path.join(workdir, 'samples.png'),
                  os.path.join(RECORDS, 'other', name + '.png'))


def other_table(records) -> str:
  lines = ['| data (28x28 grayscale, 8,000 train / 2,000 eval) | code values | autoencoder PSNR dB '
           '| PCA PSNR dB | over PCA | autoencoder SSIM | PCA SSIM | samples |', '|' + '---|' * 8]
  for r in records:
    c, m = r['coding'], r['coding']['methods']
    lines.append(f'| {OTHER_SETS[r["row"]][1]} | {c["latent_dim"]} | **{m["model"]["psnr"]:.2f}** | '
                 f'{m["pca"]["psnr"]:.2f} | {m["model"]["psnr"] - m["pca"]["psnr"]:+.2f} | '
                 f'{m["model"]["ssim"]:.4f} | {m["pca"]["ssim"]:.4f} | '
                 f'[png](autoencoder/other/{r["row"]}.png) |')
  r = records[0]
  return '\n'.join(lines) + (
      f'\n\n`configs/ae28.py` unchanged ({r["steps"]:,} steps); measured {r["date"]} '
      f'(JAX {r["jax"]}) on {r["machine"]}.')


def _records(folder: str = RECORDS, rows=ROWS):
  records = {}
  for path in glob.glob(os.path.join(folder, '*.json')):
    with open(path) as f:
      record = json.load(f)
    records[record['row']] = record
  return [records[row] for row in rows if row in records]


def validation_table(records) -> str:
  lines = ['| recipe (on top of configs/ae28.py) | steps | autoencoder PSNR dB | SSIM | '
           'PCA PSNR dB |', '|---|---|---|---|---|']
  for r in records:
    m = r['coding']['methods']
    flags = ' '.join(RECIPES[r['row']])
    lines.append(f'| `{flags}` | {r["steps"]:,} | {m["model"]["psnr"]:.2f} | '
                 f'{m["model"]["ssim"]:.4f} | {m["pca"]["psnr"]:.2f} |')
  first, last = min(records, key=lambda r: r['date']), max(records, key=lambda r: r['date'])
  dates = first['date'] if first['date'] == last['date'] else f'{first["date"]} to {last["date"]}'
  versions = ', '.join(sorted({r['jax'] for r in records}))
  return '\n'.join(lines) + (
      f'\n\n{first["num_eval_images"]} validation images (MNIST [7000, 8000)), trained on '
      f'[0, 7000), code size {first["coding"]["latent_dim"]}; measured {dates} '
      f'(JAX {versions}) on {last["machine"]}.')


def rate_distortion_table(records) -> str:
  lines = ['| code values | ratio | wall (min) | autoencoder PSNR dB | PCA PSNR dB | over PCA | '
           'area code (values): PSNR dB | autoencoder SSIM | PCA SSIM | squared error / image: '
           'autoencoder | PCA | PSNR of the mean MSE: autoencoder | PCA | samples |',
           '|' + '---|' * 14]
  for r in records:
    c, m = r['coding'], r['coding']['methods']
    ae, p, area = m['model'], m['pca'], m['area_bicubic']
    lines.append(
        f'| {c["latent_dim"]} | {c["compression_ratio"]:.1f}:1 | {r["wall_seconds"] / 60:.1f} | '
        f'**{ae["psnr"]:.2f}** | {p["psnr"]:.2f} | {ae["psnr"] - p["psnr"]:+.2f} | '
        f'{area["psnr"]:.2f} ({c["area_code"]["values"]}) | {ae["ssim"]:.4f} | {p["ssim"]:.4f} | '
        f'{ae["squared_error_per_image"]:.2f} | {p["squared_error_per_image"]:.2f} | '
        f'{ae["psnr_of_mean_mse"]:.2f} | {p["psnr_of_mean_mse"]:.2f} | '
        f'[png](autoencoder/{r["row"]}.png) |')
  return '\n'.join(lines)


def denoising_table(records, clean) -> str:
  lines = ['| noise std | code values | wall (min) | noisy input PSNR dB | PCA of the noisy input '
           '| autoencoder | autoencoder SSIM | the clean-trained autoencoder on clean input | '
           'samples |', '|' + '---|' * 9]
  for r in records:
    c, m = r['coding'], r['coding']['methods']
    reference = clean.get(c['latent_dim'])
    ref = f'{reference["coding"]["methods"]["model"]["psnr"]:.2f}' if reference else 'not run'
    lines.append(
        f'| {c["noise_std"]:g} | {c["latent_dim"]} | {r["wall_seconds"] / 60:.1f} | '
        f'{m["noisy_input"]["psnr"]:.2f} | {m["pca"]["psnr"]:.2f} | **{m["model"]["psnr"]:.2f}** | '
        f'{m["model"]["ssim"]:.4f} | {ref} | [png](autoencoder/{r["row"]}.png) |')
  return '\n'.join(lines)


README_SIZES = (2, 8, 16, 32, 64, 128)  # the columns README.md has room for


def readme_summary(clean, noisy) -> str:
  """README.md's short table of the sweep, and a sentence on the noisiest denoiser."""
  rows = [r['coding'] for r in clean if r['coding']['latent_dim'] in README_SIZES]
  ratio = lambda c: f'{c["compression_ratio"]:.1f}'.removesuffix('.0')
  cells = lambda f: ' | '.join(f(c) for c in rows)
  size = lambda c: f'{c["latent_dim"]} ({ratio(c)}:1)'
  psnr = lambda method: lambda c: f'{c["methods"][method]["psnr"]:.2f}'
  lines = [f'| code values (ratio) | {cells(size)} |',
           '|---' * (len(rows) + 1) + '|',
           f'| autoencoder PSNR dB | {cells(psnr("model"))} |',
           f'| PCA PSNR dB | {cells(psnr("pca"))} |']
  if noisy:
    c = max(noisy, key=lambda r: r['coding']['noise_std'])['coding']
    m = c['methods']
    lines += ['', f'As a denoiser (`--config.noise_std={c["noise_std"]:g}`, codes of '
              f'{c["latent_dim"]}): {m["model"]["psnr"]:.2f} dB from inputs at '
              f'{m["noisy_input"]["psnr"]:.2f} dB, where PCA\'s projection of the noisy input '
              f'gives {m["pca"]["psnr"]:.2f}.']
  return '\n'.join(lines)


def _footer(records) -> str:
  first = records[0]
  runs = sorted({(r['date'], r['jax']) for r in records})
  return (f'{first["num_eval_images"]} eval images; each row trained by `python -m '
          f'flax_srae.main --config=configs/ae28.py --config.latent_dim=D --config.noise_std=S` '
          f'({first["steps"]:,} steps, its record in autoencoder/ names the command). Measured '
          f'{", ".join(f"{d} (JAX {v})" for d, v in runs)} on '
          f'{", ".join(sorted({r["machine"] for r in records}))}.')


def _psnr_of_squared_error(error: float, values: int = 784) -> float:
  return 10 * np.log10(values / error)


def plot_rate_distortion(records, path: str) -> None:
  """PSNR against code size (log x) for the autoencoder, PCA and the area codes: the mean of
  per-image PSNR, and the PSNR of the mean MSE beside the 2006 figures."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(11, 5))
  d = [r['coding']['latent_dim'] for r in records]
  for ax, key, title in ((axes[0], 'psnr', 'mean of per-image PSNR (this project)'),
                         (axes[1], 'psnr_of_mean_mse', 'PSNR of the mean MSE (the literature)')):
    for method, style, name in (('model', 'o-', 'autoencoder'), ('pca', 's--', 'PCA')):
      ax.plot(d, [r['coding']['methods'][method][key] for r in records], style, label=name)
    area = sorted({(r['coding']['area_code']['values'], r['coding']['methods']['area_bicubic'][key])
                   for r in records})
    ax.plot(*zip(*area), 'x:', color='grey', label='area downscale + bicubic')
    ax.set_xscale('log', base=2)
    ticks = [2 ** i for i in range(8)]  # 30 sits unlabelled beside 32
    ax.set_xticks(ticks, [str(v) for v in ticks])
    ax.set_xlabel('code size (values per 28x28 image)')
    ax.set_ylabel('PSNR dB (eval images [8000, 10000))')
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
  for (name, error), marker in zip(LITERATURE.items(), ('*', 'P')):
    axes[1].plot([30], [_psnr_of_squared_error(error)], marker, markersize=11, color='black',
                 linestyle='none', label=f'Hinton & Salakhutdinov 2006: {name} (60,000 images)')
  for ax in axes:
    ax.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.14))
  fig.suptitle('MNIST 28x28: reconstruction against code size, autoencoder (configs/ae28.py) '
               'and PCA fitted on the same 8,000 images', fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90, bbox_inches='tight')
  plt.close(fig)


def write_tables() -> None:
  records = _records()
  clean = [r for r in records if not r['coding']['noise_std']]
  noisy = [r for r in records if r['coding']['noise_std']]
  if not clean:
    sys.exit(f'error: no records in {RECORDS}: train the rows first')
  readme = os.path.join(HERE, 'README.md')
  with open(readme) as f:
    text = f.read()
  text = run._replace(text, 'autoencoder',  # pylint: disable=protected-access
                      rate_distortion_table(clean) + '\n\n' + _footer(clean))
  if noisy:
    by_size = {r['coding']['latent_dim']: r for r in clean}
    text = run._replace(text, 'denoising',  # pylint: disable=protected-access
                        denoising_table(noisy, by_size) + '\n\n' + _footer(noisy))
  recipes = _records(os.path.join(RECORDS, 'validation'), RECIPES)
  if recipes:
    text = run._replace(text, 'ae_validation', validation_table(recipes))  # pylint: disable=protected-access
  other = _records(os.path.join(RECORDS, 'other'), OTHER_SETS)
  if other:
    text = run._replace(text, 'ae_other', other_table(other))  # pylint: disable=protected-access
  with open(readme, 'w') as f:
    f.write(text)
  top = os.path.join(ROOT, 'README.md')
  with open(top) as f:
    text = f.read()
  if '<!-- table:autoencoder -->' not in text:
    sys.exit('error: README.md needs the markers <!-- table:autoencoder --> and '
             '<!-- /table:autoencoder -->')
  text = run._replace(text, 'autoencoder', readme_summary(clean, noisy))  # pylint: disable=protected-access
  with open(top, 'w') as f:
    f.write(text)
  plot_rate_distortion(clean, os.path.join(DOCS, 'autoencoder_rd.png'))
  print(f'wrote the tables of {readme}, README.md and docs/autoencoder_rd.png')


def _eval_digits(model):
  """The eval images (N, 28, 28, 1) and their labels of the run's own config."""
  from flax_srae.data import input_pipeline  # pylint: disable=g-import-not-at-top
  config = model.config
  images = np.stack(input_pipeline.load_split(config, config.eval_split))
  return images, input_pipeline.load_labels(config, config.eval_split)


def draw_interpolation(workdir: str, path: str, steps: int = 10) -> None:
  """Codes of two held-out digits (the first two eval images of different labels) mixed in
  `steps` steps and decoded, above the same mix of their pixels."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import flax_srae  # pylint: disable=g-import-not-at-top
  model = flax_srae.load(workdir)
  images, labels = _eval_digits(model)
  a, b = 0, int(np.argmax(labels != labels[0]))
  t = np.linspace(0, 1, steps)[:, None]
  codes = model.encode(images[[a, b]])
  rows = {f'decoded codes (d={model.latent_dim})': model.decode((1 - t) * codes[0] + t * codes[1]),
          'mixed pixels': (1 - t[:, :, None, None]) * images[a] + t[:, :, None, None] * images[b]}
  fig, axes = plt.subplots(2, steps + 2, figsize=(steps + 2, 2.6))
  for i, (name, frames) in enumerate(rows.items()):
    tiles = [images[a]] + list(frames) + [images[b]]
    for j, tile in enumerate(tiles):
      axes[i, j].imshow(tile[..., 0], cmap='gray', vmin=0, vmax=1)
      axes[i, j].set_xticks([])
      axes[i, j].set_yticks([])
    axes[i, 0].set_ylabel(name, fontsize=7, rotation=0, ha='right', va='center')
  axes[0, 0].set_title(f'eval #{a}', fontsize=8)
  axes[0, -1].set_title(f'eval #{b}', fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def draw_codes_2d(workdir: str, path: str) -> None:
  """The 2-value codes of the held-out digits coloured by label, beside PCA's 2-D projection
  fitted on the same training images."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import flax_srae  # pylint: disable=g-import-not-at-top
  from flax_srae.training import evaluation  # pylint: disable=g-import-not-at-top
  from flax_srae.data import input_pipeline  # pylint: disable=g-import-not-at-top
  model = flax_srae.load(workdir)
  if model.latent_dim != 2:
    sys.exit(f'error: {workdir} has codes of {model.latent_dim} values, not 2')
  images, labels = _eval_digits(model)
  train = np.stack(input_pipeline.load_split(model.config, model.config.train_split))
  projections = {'autoencoder codes (d=2)': model.encode(images),
                 'PCA, 2 components': np.asarray(evaluation.fit_pca(train, model.config)
                                                 .encode(images))}
  fig, axes = plt.subplots(1, 2, figsize=(11, 5))
  for ax, (name, z) in zip(axes, projections.items()):
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap='tab10', s=4, vmin=-0.5, vmax=9.5)
    ax.set_title(f'{name}: {len(z)} held-out digits', fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
  fig.colorbar(points, ax=axes, ticks=range(10), label='digit')
  fig.savefig(path, dpi=80)
  plt.close(fig)


def draw_figures(out: str) -> None:
  draw_interpolation(os.path.join(out, 'd32'), os.path.join(DOCS, 'autoencoder_interpolation.png'))
  draw_codes_2d(os.path.join(out, 'd2'), os.path.join(DOCS, 'autoencoder_codes_2d.png'))
  print('wrote docs/autoencoder_interpolation.png and docs/autoencoder_codes_2d.png')


def _known(names, choices, kind: str):
  """`names` (all of `choices` if none), or exit naming the unknown ones."""
  unknown = sorted(set(names) - set(choices))
  if unknown:
    sys.exit(f'error: unknown {kind}s {", ".join(unknown)}; {kind}s: {", ".join(choices)}')
  return list(names) or list(choices)


def _seconds(text: str) -> float:
  try:
    return float(text)
  except ValueError:
    sys.exit(f'error: SECONDS must be a number (the run\'s wall time), got {text!r}')


def main(argv):
  caller = os.getcwd()  # OUT_DIR and WORKDIR are relative to it
  path = lambda p: os.path.join(caller, p)
  os.chdir(ROOT)  # the configs name the data relative to the repository
  command, args = (argv[1:2] or [''])[0], argv[2:]
  if argv[1:] == ['--tables']:
    return write_tables()
  if command == '--figures' and len(args) == 1:
    return draw_figures(path(args[0]))
  if command == '--validation' and args:
    for recipe in _known(args[1:], RECIPES, 'recipe'):
      train_recipe(recipe, path(args[0]))
  elif command == '--record-validation' and len(args) == 2:
    record_recipe(_known(args[:1], RECIPES, 'recipe')[0], path(args[1]))
  elif command == '--other' and args:
    for name in _known(args[1:], OTHER_SETS, 'set'):
      train_other(name, path(args[0]))
  elif command == '--record-other' and len(args) == 3:
    record_other(_known(args[:1], OTHER_SETS, 'set')[0], path(args[1]), _seconds(args[2]))
  elif command == '--record' and len(args) == 3:
    record_row(_known(args[:1], ROWS, 'row')[0], path(args[1]), _seconds(args[2]))
  elif not command or command.startswith('-'):
    sys.exit(__doc__)
  else:
    out, rows = path(command), _known(args, ROWS, 'row')
    for row in rows:
      train_row(row, out)
    write_tables()
    if {'d2', 'd32'} <= set(rows):
      draw_figures(out)
    return None
  return write_tables()

if __name__ == '__main__':
  main(sys.argv)
