import glob
import importlib
import importlib.util
import json
import os

import pytest
import skimage.data

from flax_srae.data import input_pipeline
from flax_srae.training import train
from conftest import SUN80_DIR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_spec = importlib.util.spec_from_file_location('run', os.path.join(ROOT, 'experiments', 'run.py'))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

ROWS = run._rows()  # pylint: disable=protected-access


def test_every_row_belongs_to_a_task_and_has_a_results_record_or_none():
  assert ROWS and all(row.split('_')[0] in run.TASKS for row in ROWS)
  recorded = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(ROOT, 'experiments',
                                                                       'results', '*.json'))}
  assert recorded <= set(ROWS)


@pytest.mark.parametrize('row', ROWS)
def test_every_row_config_is_valid_and_described(row):
  config = importlib.import_module(f'experiments.configs.{row}').get_config()
  train.validate_config(config)
  assert run._describe(os.path.join('experiments', 'configs', row + '.py'))  # pylint: disable=protected-access


def test_table_is_written_from_the_records():
  record = {'row': 'mnist_x', 'config': 'experiments/configs/mnist_edsr.py', 'model': 'edsr',
            'parameters': 75460, 'steps': 2000, 'wall_seconds': 204.0,
            'eval': {'psnr': 30.123, 'ssim': 0.98512, 'bicubic_psnr': 20.2, 'bicubic_ssim': 0.8},
            'methods': {'lanczos': {'psnr': 20.5, 'ssim': 0.81}}, 'protocol': 'p',
            'date': '2026-11-26', 'machine': 'm'}
  text = run.table([record])
  assert ('| `mnist_x` | edsr width 32, 4 blocks, MSE, 2,000 steps of 128 (configs/mnist.py, the '
          'default model) | edsr | 75,460 | 2,000 | 3.4 | 30.12 | 0.9851 | +9.92 | +9.62 | '
          '[png](samples/mnist_x.png) |') in text
  assert 'Bicubic 20.20 dB / 0.8000, Lanczos 20.50 dB / 0.8100; p. Measured 2026-11-26 (JAX 0.10.2) on m.' in text


def test_validation_table_is_written_from_the_logs(tmp_path):
  (tmp_path / 'photo_a.log').write_text(
      '# edsr 32x6, 12,000 steps\n# python -m flax_srae.main --config=configs/photo.py\n'
      'I1126 train.py:361] step 2000/12000  loss 0.01  2803 img/s  eval psnr 34.68 dB (bicubic 32.78)\n'
      'I1126 train.py:361] step 4000/12000  loss 0.01  3415 img/s  eval psnr 34.91 dB (bicubic 32.78)\n'
      'I1126 train.py:382] step 12000: eval psnr 34.85 dB, ssim 0.9420; bicubic 32.78 dB, ssim 0.9\n')
  assert run.validation_table(str(tmp_path)).split('\n')[2] == (
      '| `photo_a` | edsr 32x6, 12,000 steps | 12,000 | 34.91 (4,000) | 34.85 | 32.78 |')
  (tmp_path / 'photo_b.log').write_text('# no evaluations\n')
  with pytest.raises(SystemExit, match='photo_b.log'):
    run.validation_table(str(tmp_path))


@pytest.mark.parametrize('folder', ['validation', 'scaling'])
def test_readme_validation_table_is_the_one_the_logs_give(folder):
  with open(os.path.join(ROOT, 'experiments', 'README.md')) as f:
    assert run.validation_table(os.path.join(ROOT, 'experiments', folder)) in f.read()


_speed_spec = importlib.util.spec_from_file_location('speed', os.path.join(ROOT, 'experiments',
                                                                           'speed.py'))
speed = importlib.util.module_from_spec(_speed_spec)
_speed_spec.loader.exec_module(speed)


def test_speed_tables_are_written_from_the_records():
  def rec(round_, label, **result):
    return {'round': round_, 'label': label, 'env': {}, 'result': result}
  records = []
  for r, (ours, peer, without) in enumerate(((900.0, 600.0, 300.0), (800.0, 400.0, 400.0)), 1):
    records += [rec(r, 'mnist/ours/all', images_per_sec=ours, infer_56_images_per_sec_batch1=1.0,
                    infer_56_images_per_sec_batch256=1.0, infer_28_images_per_sec_batch256=1.0),
                rec(r, 'mnist/peer/train', images_per_sec=peer),
                rec(r, 'mnist/ours/without conv_forms', images_per_sec=without,
                    infer_56_images_per_sec_batch1=0.5, infer_56_images_per_sec_batch256=1.0,
                    infer_28_images_per_sec_batch256=2.0)]
  assert ('| seed training, images/s | 800-900 | 400-600 | 1.50 / 2.00 | >= 1.5 | yes |'
          in speed.peer_table(records))
  assert ('| `conv_forms` | seed | 2.00-3.00x | 2.00x / 1.00x / 0.50x |'
          in speed.speedup_table(records))
  # Time to quality: the seed peer stops at its target and gives its wall time only.
  records += [rec(1, 'mnist/peer/to 28 dB', eval_psnr=28.04, wall_seconds=160.0),
              rec(1, 'mnist/ours/to 28 dB (default edsr)', seconds_to_target=24.0),
              rec(2, 'mnist/peer/to 28 dB', eval_psnr=27.5, wall_seconds=300.0),
              rec(2, 'mnist/ours/to 28 dB (default edsr)', seconds_to_target=26.0)]
  assert ('| wall s to 28 dB, compile and evaluations included: default edsr vs the peer | '
          '24.0-26.0 | 160.0-inf | 0.15 / 0.00 | <= 0.25 | yes |'
          in speed.peer_table(records))


_onnx_spec = importlib.util.spec_from_file_location('onnx_speed', os.path.join(
    ROOT, 'experiments', 'onnx_speed.py'))
onnx_speed = importlib.util.module_from_spec(_onnx_spec)
_onnx_spec.loader.exec_module(onnx_speed)


def test_onnx_speed_table_gives_ranges_and_ratios_within_rounds():
  rows = [{'round': 0, 'workload': 'photo', 'jax': 10.0, 'onnx': 8.0},
          {'round': 1, 'workload': 'photo', 'jax': 8.0, 'onnx': 8.0},
          {'round': 0, 'workload': 'mnist', 'jax': 1000.0, 'onnx': 1500.0},
          {'round': 1, 'workload': 'mnist', 'jax': 1200.0, 'onnx': 1200.0}]
  table = onnx_speed.table(rows)
  assert '| photo | 8-10 | 8-8 | 0.80-1.00x |' in table
  assert '| mnist | 1,000-1,200 | 1,200-1,500 | 1.00-1.50x |' in table
  assert table.endswith('2 rounds.')


def test_readme_onnx_table_is_the_one_the_record_gives():
  record = os.path.join(ROOT, 'experiments', 'onnx', '2026-12-02.jsonl')
  with open(os.path.join(ROOT, 'experiments', 'README.md')) as f:
    assert onnx_speed.table(onnx_speed._rows(record)) in f.read()  # pylint: disable=protected-access


_ensemble_spec = importlib.util.spec_from_file_location('ensemble', os.path.join(
    ROOT, 'experiments', 'ensemble.py'))
ensemble = importlib.util.module_from_spec(_ensemble_spec)
_ensemble_spec.loader.exec_module(ensemble)


def test_readme_ensemble_table_is_the_one_the_record_gives():
  with open(os.path.join(ROOT, 'experiments', 'ensemble', '2026-12-02c.jsonl')) as f:
    rows = [json.loads(line) for line in f if line.strip()]
  with open(os.path.join(ROOT, 'experiments', 'README.md')) as f:
    assert ensemble.table(rows) in f.read()


_recipe_spec = importlib.util.spec_from_file_location(
    'recipe', os.path.join(ROOT, 'experiments', 'recipe.py'))
recipe = importlib.util.module_from_spec(_recipe_spec)
_recipe_spec.loader.exec_module(recipe)


@pytest.mark.parametrize('name', sorted(recipe.RECIPES))
def test_every_recipe_is_a_valid_config_on_validation_data(name):
  (base, split), _, overrides = recipe.RECIPES[name]
  module = importlib.import_module(base[:-3].replace('/', '.'))
  config = module.get_config()
  config.update({**split, **overrides})
  train.validate_config(config)
  assert split['train_split'] in ('train[:60]', 'train[:78]', 'test[:7000]')  # never eval files


def test_builtin_photos_join_the_training_photos_only(tmp_path):
  if not os.path.isdir(SUN80_DIR):
    pytest.skip(f'needs {SUN80_DIR}')
  folder = recipe._photos_and_builtin(str(tmp_path))  # pylint: disable=protected-access
  files = input_pipeline._folder_files(folder)  # pylint: disable=protected-access
  files = [os.path.realpath(f) for f in files]
  sun80 = input_pipeline._folder_files(SUN80_DIR)  # pylint: disable=protected-access
  split = recipe.PHOTO_BUILTIN[1]
  train_files, val_files = ([files[i] for i in input_pipeline.parse_split(split[k]).indices(
      len(files))] for k in ('train_split', 'eval_split'))
  assert val_files == [os.path.realpath(f) for f in sun80[60:70]]
  assert train_files[:60] == [os.path.realpath(f) for f in sun80[:60]]
  builtin = os.path.realpath(skimage.data.data_dir) + os.sep
  assert len(set(train_files[60:])) == 18 and all(f.startswith(builtin) for f in train_files[60:])
  stray = os.path.join(folder, 'b_stray.png')  # from an earlier run: would shift the splits
  os.symlink(sun80[0], stray)
  recipe._photos_and_builtin(str(tmp_path))  # pylint: disable=protected-access
  assert not os.path.lexists(stray) and len(os.listdir(folder)) == 88


def test_recipe_table_is_written_from_the_logs_and_readme_holds_it(tmp_path):
  (tmp_path / 'photo_a.log').write_text(
      '# batch 16; 6 min of training at 30.00 steps/s\n# python -m flax_srae.main ...\n'
      'I1202 train.py:309] step 2650/10600  loss 0.01  25.9 steps/s  eval psnr 34.66 dB (bicubic 32.78)\n'
      'I1202 train.py:336] step 10600: eval psnr 34.94 dB, ssim 0.9419; bicubic 32.78 dB, ssim 0.9\n')
  assert recipe.table(str(tmp_path)).split('\n')[2] == (
      '| `photo_a` | batch 16; 6 min of training at 30.00 steps/s | 10,600 | 34.66, 34.94 | 34.94 '
      '| 32.78 |')
  with open(os.path.join(ROOT, 'experiments', 'README.md')) as f:
    assert recipe.table() in f.read()


_autoencoder_spec = importlib.util.spec_from_file_location(
    'autoencoder', os.path.join(ROOT, 'experiments', 'autoencoder.py'))
autoencoder = importlib.util.module_from_spec(_autoencoder_spec)
_autoencoder_spec.loader.exec_module(autoencoder)


def _coding_record(row, d, noise, model_psnr, pca_psnr):
  metrics = lambda psnr: {'psnr': psnr, 'ssim': 0.5, 'psnr_of_mean_mse': psnr - 1,
                          'squared_error_per_image': 784 / 10 ** ((psnr - 1) / 10)}
  methods = {'model': metrics(model_psnr), 'pca': metrics(pca_psnr),
             'area_bicubic': metrics(10.0), 'noisy_input': metrics(9.0)}
  return {'row': row, 'wall_seconds': 300.0, 'steps': 6000, 'num_eval_images': 2000,
          'date': '2026-12-05', 'jax': '0.12.0.1', 'machine': 'm',
          'coding': {'latent_dim': d, 'noise_std': noise, 'compression_ratio': 784 / d,
                     'area_code': {'values': 36}, 'methods': methods}}


def test_autoencoder_tables_are_written_from_the_records():
  clean = _coding_record('d32', 32, 0.0, 24.5, 18.4)
  noisy = _coding_record('d32_noise0.5', 32, 0.5, 20.0, 15.0)
  assert autoencoder.rate_distortion_table([clean]).split('\n')[2] == (
      '| 32 | 24.5:1 | 5.0 | **24.50** | 18.40 | +6.10 | 10.00 (36) | 0.5000 | 0.5000 | 3.50 | '
      '14.27 | 23.50 | 17.40 | [png](autoencoder/d32.png) |')
  assert autoencoder.denoising_table([noisy], {32: clean}).split('\n')[2] == (
      '| 0.5 | 32 | 5.0 | 9.00 | 15.00 | **20.00** | 0.5000 | 24.50 | '
      '[png](autoencoder/d32_noise0.5.png) |')
  assert '6,000 steps' in autoencoder._footer([clean])  # pylint: disable=protected-access


def test_readme_autoencoder_tables_are_the_ones_the_records_give():
  records = autoencoder._records()  # pylint: disable=protected-access
  clean = [r for r in records if not r['coding']['noise_std']]
  noisy = [r for r in records if r['coding']['noise_std']]
  recipes = autoencoder._records(os.path.join(autoencoder.RECORDS, 'validation'),  # pylint: disable=protected-access
                                 autoencoder.RECIPES)
  assert [r['row'] for r in records] == list(autoencoder.ROWS)
  assert [r['row'] for r in recipes] == list(autoencoder.RECIPES)
  by_size = {r['coding']['latent_dim']: r for r in clean}
  with open(os.path.join(ROOT, 'experiments', 'README.md')) as f:
    text = f.read()
  assert autoencoder.rate_distortion_table(clean) in text
  assert autoencoder.denoising_table(noisy, by_size) in text
  assert autoencoder.validation_table(recipes) in text
  other = autoencoder._records(os.path.join(autoencoder.RECORDS, 'other'), autoencoder.OTHER_SETS)  # pylint: disable=protected-access
  assert [r['row'] for r in other] == list(autoencoder.OTHER_SETS)
  assert autoencoder.other_table(other) in text
  with open(os.path.join(ROOT, 'README.md')) as f:
    assert autoencoder.readme_summary(clean, noisy) in f.read()
  for r in records:  # each record was made by the command its row names
    assert r['command'] == ' '.join(['python'] + autoencoder.command(r['row'], 'OUT_DIR/' + r['row'])[1:])


@pytest.mark.parametrize('flags', [autoencoder.command(row, 'w')[4:-1] for row in autoencoder.ROWS]
                         + [autoencoder.VALIDATION_SPLIT + f for f in autoencoder.RECIPES.values()])
def test_every_autoencoder_row_and_recipe_is_a_valid_config(flags):
  config = importlib.import_module('configs.ae28').get_config()
  for flag in flags:
    key, value = flag.removeprefix('--config.').split('=')
    config[key] = type(config[key])(value)
  train.validate_config(config)
  assert config.model == 'autoencoder'


def test_the_rate_distortion_table_of_a_tiny_run(trained_ae_workdir, tmp_path, monkeypatch):
  monkeypatch.setattr(autoencoder, 'RECORDS', str(tmp_path))
  monkeypatch.setattr(autoencoder, 'ROWS', {'d5': (5, 0.0)})
  record = autoencoder.record_row('d5', trained_ae_workdir, 12.0)
  with open(os.path.join(trained_ae_workdir, 'results.json')) as f:
    coding = json.load(f)['coding']
  assert record['coding'] == coding and os.path.isfile(tmp_path / 'd5.png')
  records = autoencoder._records(str(tmp_path), ['d5'])  # pylint: disable=protected-access
  row = autoencoder.rate_distortion_table(records).split('\n')[2]
  ae, pca = coding['methods']['model']['psnr'], coding['methods']['pca']['psnr']
  assert row.startswith(f'| 5 | {coding["compression_ratio"]:.1f}:1 | 0.2 | **{ae:.2f}** | '
                        f'{pca:.2f} | {ae - pca:+.2f} |'), row
  with pytest.raises(SystemExit, match='is not a run of d32'):
    monkeypatch.setattr(autoencoder, 'ROWS', {'d32': (32, 0.0)})
    autoencoder.record_row('d32', trained_ae_workdir, 12.0)


def _load_script(name: str):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, 'experiments',
                                                                   f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(SUN80_DIR), reason='needs ../shared/data/sun80')
def test_serve_load_measures_a_server_and_writes_its_table(monkeypatch, tmp_path):
  serve_load = _load_script('serve_load')
  # Three requests, by one client then two, against the shipped photo model's server: real
  # figures, tiny levels.
  monkeypatch.setattr(serve_load, 'LEVELS', ((1, 1), (2, 2)))
  monkeypatch.setattr(serve_load, 'RESULTS', str(tmp_path / 'load.json'))
  monkeypatch.setattr(serve_load, 'DOC', str(tmp_path / 'serve.md'))
  (tmp_path / 'serve.md').write_text('before\n<!-- table:serve_load -->\nold\n'
                                     '<!-- /table:serve_load -->\nafter\n')
  serve_load.main([])
  record = json.loads((tmp_path / 'load.json').read_text())
  assert [(r['clients'], r['requests'], r['not_200']) for r in record['levels']] == [
      (1, 1, []), (2, 2, [])]
  assert all(r['p95_s'] >= r['p50_s'] > 0 and r['resident_mb'] > 100 for r in record['levels'])
  doc = (tmp_path / 'serve.md').read_text()
  assert doc.startswith('before\n<!-- table:serve_load -->\n| clients at once |')
  assert '\n| 2 | 2 | ' in doc and 'old' not in doc and doc.endswith('after\n')


def test_readme_figures_of_the_default_run_are_its_record():
  with open(os.path.join(ROOT, 'experiments', 'results', 'builtin28_edsr.json')) as f:
    record = json.load(f)
  model, bicubic = record['methods']['model']['psnr'], record['methods']['bicubic']['psnr']
  lanczos = record['methods']['lanczos']['psnr']
  with open(os.path.join(ROOT, 'README.md')) as f:
    text = ' '.join(f.read().split())
  assert (f'{record["wall_seconds"] / 60:.1f} minutes in all, and on 2,000 held-out patches PSNR '
          f'{model:.2f} dB against bicubic\'s {bicubic:.2f} (+{model - bicubic:.2f}) but '
          f'Lanczos-3\'s {lanczos:.2f}: **the default run does not beat Lanczos-3**') in text
  assert f'| `configs/sr28.py` | {model:.2f} | {bicubic:.2f} |' in text
  assert f'Lanczos-3 reaches {lanczos:.2f} dB' in text


_chains_spec = importlib.util.spec_from_file_location(
    'chains', os.path.join(ROOT, 'experiments', 'chains.py'))
chains = importlib.util.module_from_spec(_chains_spec)
_chains_spec.loader.exec_module(chains)


def test_a_chains_hours_leave_out_the_time_between_chunks_and_add_up_over_stages(tmp_path):
  (tmp_path / '1_first.log').write_text(
      '# the recipe\n# python -m flax_srae.main ...\n'
      'I1207 10:00:00.000000 1 main.py:45] JAX 0.12.1, process 0/1\n'
      'I1207 10:30:00.000000 1 train.py:527] step 100/300  loss 0.1  eval psnr 30.00 dB (bicubic 28.00)\n'
      'I1207 11:00:00.000000 1 train.py:527] step 200/300  loss 0.1\n'
      # the machine went away for a night; the next chunk resumes
      'I1208 09:00:00.000000 1 main.py:45] JAX 0.12.1, process 0/1\n'
      'I1208 10:00:00.000000 1 train.py:540] step 300: eval psnr 31.00 dB, ssim 0.9; bicubic 28.00 dB\n')
  (tmp_path / '2_more.log').write_text(
      '# extended\n# cmd\n'
      'I1208 11:00:00.000000 1 main.py:45] JAX 0.12.1, process 0/1\n'
      'I1208 11:30:00.000000 1 train.py:540] step 50: eval psnr 31.25 dB, ssim 0.9; bicubic 28.00 dB\n')
  stages = chains.read_chain(str(tmp_path))
  assert [(s, w) for s, w, _ in stages] == [('1_first', 'the recipe'), ('2_more', 'extended')]
  assert stages[0][2] == [(0.5, 100, 30.0, 28.0), (2.0, 300, 31.0, 28.0)]
  assert stages[1][2] == [(2.5, 50, 31.25, 28.0)]
  text = chains.table([('c', stages)])
  assert '| `c` | `1_first` | 300 | 2.00 | 31.00 | +1.00 | +0.67 |' in text
  assert '| `c` | `2_more` | 50 | 2.50 | 31.25 | +0.25 | +0.50 |' in text
  chains.plot(str(tmp_path / 'c.png'), 'c', stages)
  assert (tmp_path / 'c.png').read_bytes()[:4] == b'\x89PNG'
