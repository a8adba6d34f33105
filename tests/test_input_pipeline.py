import gzip
import os

import numpy as np
import pytest
from PIL import Image

from configs import default
from flax_srae.training import evaluation
from flax_srae.data import image_ops
from flax_srae.data import input_pipeline
from flax_srae.training import metrics
from flax_srae.errors import UserError
from conftest import MNIST_DIR


def _config(**overrides):
  config = default.get_config()
  config.update(overrides)
  return config


@pytest.mark.parametrize('spec,n,expected', [
    ('train', 10, range(10)), ('test[:8000]', 10000, range(8000)),
    ('test[8000:]', 10000, range(8000, 10000)), ('train[:90%]', 10, range(9)),
    ('train[90%:]', 10, range(9, 10)), ('train[2:-3]', 10, range(2, 7)),
    ('train[:70]', 80, range(70)), ('train[70:]', 80, range(70, 80))])
def test_split_parsing(spec, n, expected):
  assert list(input_pipeline.parse_split(spec).indices(n)) == list(expected)


@pytest.mark.parametrize('spec', ['train[::2]', 'train[a:]', '', 'train+test'])
def test_bad_split_rejected(spec):
  with pytest.raises(UserError, match='cannot parse split'):
    input_pipeline.parse_split(spec)


def test_overlapping_splits_rejected_and_disjoint_ones_accepted(tmp_path):
  _write_idx(tmp_path / 't10k-images-idx3-ubyte.gz', np.zeros((10, 4, 4), np.uint8))
  config = _config(dataset='idx', data_dir=str(tmp_path), train_split='test[:6]',
                   eval_split='test[5:]')
  with pytest.raises(UserError, match='overlap'):
    input_pipeline.check_disjoint(config)
  config.eval_split = 'test[6:]'
  input_pipeline.check_disjoint(config)
  config.eval_split = 'test'
  with pytest.raises(UserError, match='overlap'):
    input_pipeline.check_disjoint(config)


def test_train_batches_are_a_function_of_seed_and_step():
  images = [np.random.default_rng(i).random((30 + i, 40, 1), dtype=np.float32) for i in range(5)]
  a = input_pipeline.train_batch(images, seed=0, step=7, batch_size=16, size=12)
  b = input_pipeline.train_batch(images, seed=0, step=7, batch_size=16, size=12)
  assert a.shape == (16, 12, 12, 1)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, input_pipeline.train_batch(images, 0, 8, 16, 12))
  assert not np.array_equal(a, input_pipeline.train_batch(images, 1, 7, 16, 12))
  # Each process cuts only its rows; together they are the batch one process would make.
  parts = [input_pipeline.train_batch(images, 0, 7, 16, 12, rows=slice(i, i + 4))
           for i in range(0, 16, 4)]
  np.testing.assert_array_equal(np.concatenate(parts), a)


def test_eval_patches_fixed_and_whole_images_kept():
  photos = [np.random.default_rng(i).random((50, 60, 1), dtype=np.float32) for i in range(3)]
  a = input_pipeline.eval_patches(photos, 12, 30)
  np.testing.assert_array_equal(a, input_pipeline.eval_patches(photos, 12, 30))
  assert a.shape == (30, 12, 12, 1)
  digits = [np.full((12, 12, 1), i, np.float32) for i in range(4)]
  np.testing.assert_array_equal(input_pipeline.eval_patches(digits, 12, 30), np.stack(digits))


def _write_idx(path, images):
  n, h, w = images.shape
  header = b''.join(int(v).to_bytes(4, 'big') for v in (0x803, n, h, w))
  opener = gzip.open if str(path).endswith('.gz') else open
  with opener(path, 'wb') as f:
    f.write(header + images.tobytes())


@pytest.mark.parametrize('suffix', ['', '.gz'])
def test_idx_source(tmp_path, suffix):
  train = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
  test = np.random.default_rng(1).integers(0, 256, (3, 8, 8), dtype=np.uint8)
  _write_idx(tmp_path / f'train-images-idx3-ubyte{suffix}', train)
  _write_idx(tmp_path / f't10k-images-idx3-ubyte{suffix}', test)
  config = _config(dataset='idx', data_dir=str(tmp_path))
  got = input_pipeline.load_split(config, 'train[1:3]')
  np.testing.assert_allclose(np.stack(got)[..., 0], train[1:3] / 255.0, atol=1e-7)
  assert len(input_pipeline.load_split(config, 'test')) == 3
  with pytest.raises(UserError, match="'train' or 'test'"):
    input_pipeline.load_split(config, 'validation')


def test_idx_errors(tmp_path):
  config = _config(dataset='idx', data_dir=str(tmp_path))
  with pytest.raises(UserError, match='need exactly one'):
    input_pipeline.load_split(config, 'train')
  (tmp_path / 'train-images-idx3-ubyte').write_bytes(b'not an idx file at all')
  with pytest.raises(UserError, match='not an IDX image file'):
    input_pipeline.load_split(config, 'train')
  with pytest.raises(UserError, match='needs --config.data_dir'):
    input_pipeline.load_split(_config(dataset='idx'), 'train')


def test_folder_source_sorted_grey_colour_and_16_bit(tmp_path):
  rgb = np.zeros((6, 8, 3), np.uint8)
  rgb[..., 0] = 255
  Image.fromarray(rgb).save(tmp_path / 'b.png')
  Image.fromarray(np.full((6, 8), 128, np.uint8)).save(tmp_path / 'a.jpg', quality=100)
  Image.fromarray(np.full((6, 8), 1000, np.uint16)).save(tmp_path / 'c.png')
  (tmp_path / 'notes.txt').write_text('ignored')
  config = _config(dataset='folder', data_dir=str(tmp_path))
  a, b, c = input_pipeline.load_split(config, 'train')
  assert a.shape == b.shape == c.shape == (6, 8, 1)
  np.testing.assert_allclose(a, 128 / 255, atol=2 / 255)
  np.testing.assert_allclose(b, 0.299, atol=1e-6)           # BT.601 luma of pure red
  np.testing.assert_allclose(c, 1000 / 65535, atol=1e-7)    # 16-bit precision kept
  assert len(input_pipeline.load_split(config, 'train[1:]')) == 2
  config.channels = 3
  np.testing.assert_allclose(input_pipeline.load_split(config, 'train[1:2]')[0][0, 0], [1, 0, 0])


def test_folder_errors(tmp_path):
  config = _config(dataset='folder', data_dir=str(tmp_path))
  with pytest.raises(UserError, match='no image files'):
    input_pipeline.load_split(config, 'train')
  (tmp_path / 'broken.png').write_bytes(b'\x89PNG garbage')
  with pytest.raises(UserError, match='cannot read image .*broken.png'):
    input_pipeline.load_split(config, 'train')
  config.data_dir = str(tmp_path / 'missing')
  with pytest.raises(UserError, match='is not a folder'):
    input_pipeline.load_split(config, 'train')


def test_builtin_source_needs_no_network_and_holds_out_photos(monkeypatch):
  import socket

  def no_network(*args, **kwargs):
    raise AssertionError('the builtin dataset must not touch the network')
  monkeypatch.setattr(socket, 'socket', no_network)
  monkeypatch.setattr(socket, 'create_connection', no_network)
  config = _config()
  data = input_pipeline.load(config)
  assert len(data.train) >= 10
  assert data.eval.shape == (config.num_eval_patches, 28, 28, 1)
  assert 0.0 <= data.eval.min() and data.eval.max() <= 1.0
  assert not set(input_pipeline.BUILTIN_SPLITS['train']) & set(input_pipeline.BUILTIN_SPLITS['test'])


def test_images_smaller_than_hr_size_rejected():
  with pytest.raises(UserError, match='smaller than hr_size'):
    input_pipeline.load(_config(hr_size=4096))


def test_tfds_source_with_mock_data():
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(num_examples=12):
    images = input_pipeline.load_split(_config(dataset='mnist'), 'train[:5]')
  assert len(images) == 5 and images[0].shape == (28, 28, 1)


def test_tfds_unprepared_or_unknown_dataset_is_a_clear_error(tmp_path):
  with pytest.raises(UserError, match='not prepared'):
    input_pipeline.load_split(_config(dataset='mnist', data_dir=str(tmp_path)), 'train')
  with pytest.raises(UserError, match='unknown dataset'):
    input_pipeline.load_split(_config(dataset='no_such_dataset', data_dir=str(tmp_path)), 'train')


@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason='needs ../shared/data/mnist')
def test_mnist_bicubic_protocol():
  """The shared MNIST split's bicubic figure (20.20 dB in its README) checks our protocol."""
  config = _config(dataset='idx', data_dir=MNIST_DIR, train_split='test[:8000]',
                   eval_split='test[8000:]')
  data = input_pipeline.load(config)
  assert len(data.train) == 8000 and data.eval.shape == (2000, 28, 28, 1)
  bicubic = evaluation.baseline(image_ops.degrade(data.eval, 'area'))
  assert float(np.mean(metrics.psnr(bicubic, data.eval))) == pytest.approx(20.20, abs=0.05)


def test_palette_and_bilevel_images_read_as_intensities(tmp_path):
  rgb = np.zeros((4, 4, 3), np.uint8)
  rgb[:2] = (0, 0, 255)
  Image.fromarray(rgb).convert('P', palette=Image.ADAPTIVE).save(tmp_path / 'p.png')
  Image.fromarray(np.full((4, 4), 255, np.uint8)).convert('1').save(tmp_path / 'q.png')
  p, q = input_pipeline.load_split(_config(dataset='folder', data_dir=str(tmp_path)), 'train')
  np.testing.assert_allclose(p[:2], 0.114, atol=1e-6)   # BT.601 luma of pure blue
  np.testing.assert_allclose(p[2:], 0.0)
  np.testing.assert_allclose(q, 1.0)


def test_augmented_pairs_stay_aligned_and_deterministic():
  # HR = nearest 2x upscaling of LR, so an aligned crop of HR is the 2x2 blow-up of LR's crop
  # under any common rotation/flip; misaligned crops or transforms would break that.
  rng = np.random.default_rng(0)
  low_res_crops = [rng.random((20 + i, 30, 1), dtype=np.float32) for i in range(3)]
  pairs = [(low_res, np.kron(low_res, np.ones((2, 2, 1), np.float32))) for low_res in low_res_crops]
  a = input_pipeline.pair_batch(pairs, seed=0, step=3, batch_size=64, low_res_size=6, augment=True)
  assert a['low_res'].shape == (64, 6, 6, 1) and a['hr'].shape == (64, 12, 12, 1)
  np.testing.assert_array_equal(a['hr'], np.kron(a['low_res'], np.ones((1, 2, 2, 1))))
  b = input_pipeline.pair_batch(pairs, seed=0, step=3, batch_size=64, low_res_size=6, augment=True)
  np.testing.assert_array_equal(a['low_res'], b['low_res'])
  plain = input_pipeline.pair_batch(pairs, 0, 3, 64, 6, augment=False)
  # Some of 64 patches are rotated or flipped.
  assert not np.array_equal(a['low_res'], plain['low_res'])


def test_augmented_train_batch_is_deterministic_and_covers_all_transforms():
  img = np.arange(12 * 12, dtype=np.float32).reshape(12, 12, 1)
  a = input_pipeline.train_batch([img], seed=0, step=1, batch_size=64, size=12, augment=True)
  np.testing.assert_array_equal(a, input_pipeline.train_batch([img], 0, 1, 64, 12, True))
  transforms = {np.rot90(f, k).tobytes() for f in (img, img[:, ::-1]) for k in range(4)}
  seen = {p.tobytes() for p in a}
  assert seen <= transforms and len(seen) == 8


def test_bicubic_pairs_follow_the_literature_protocol(tmp_path):
  rgb = (np.random.default_rng(0).random((31, 42, 3)) * 255).astype(np.uint8)
  Image.fromarray(rgb).save(tmp_path / 'a.png')
  [(low_res, hr)] = input_pipeline.bicubic_pairs([str(tmp_path / 'a.png')], channels=1)
  assert hr.shape == (30, 42, 1) and low_res.shape == (15, 21, 1)
  y = 16 + rgb[:30].astype(np.float64) / 255 @ np.array([65.481, 128.553, 24.966])
  np.testing.assert_allclose(hr[..., 0] * 255, y, atol=1e-4)
  small = np.asarray(Image.fromarray(rgb[:30]).resize((21, 15), Image.BICUBIC), np.float64)
  np.testing.assert_allclose(low_res[..., 0] * 255, 16 + small / 255 @ [65.481, 128.553, 24.966],
                             atol=1e-4)
  [(lr3, hr3)] = input_pipeline.bicubic_pairs([str(tmp_path / 'a.png')], channels=3)
  np.testing.assert_allclose(hr3 * 255, rgb[:30], atol=1e-4)
  assert lr3.shape == (15, 21, 3)


def test_pair_batch_rows_partition_the_batch():
  rng = np.random.default_rng(1)
  low_res_crops = [rng.random((16, 18, 1), dtype=np.float32) for _ in range(3)]
  pairs = [(low_res, np.kron(low_res, np.ones((2, 2, 1), np.float32))) for low_res in low_res_crops]
  whole = input_pipeline.pair_batch(pairs, 0, 5, 8, 6, True)
  parts = [input_pipeline.pair_batch(pairs, 0, 5, 8, 6, True, rows=slice(i, i + 2))
           for i in range(0, 8, 2)]
  for key in ('low_res', 'hr'):
    np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), whole[key])


def _photo_folder(tmp_path, sizes=((40, 50), (36, 44), (34, 38), (30, 32))):
  rng = np.random.default_rng(0)
  for i, (h, w) in enumerate(sizes):
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(tmp_path / f'{i}.png')
  return _config(dataset='folder', data_dir=str(tmp_path), train_split='train[:3]',
                 eval_split='train[3:]', protocol='literature', degradation='bicubic',
                 hr_size=16, batch_size=4)


def test_literature_protocol_loads_whole_image_pairs_and_crops_them(tmp_path):
  config = _photo_folder(tmp_path)
  data = input_pipeline.load(config)
  assert [hr.shape for _, hr in data.train] == [(40, 50, 1), (36, 44, 1), (34, 38, 1)]
  [(low_res, hr)] = data.eval
  assert low_res.shape == (15, 16, 1) and hr.shape == (30, 32, 1)
  assert 16 / 255 - 1e-6 <= hr.min() and hr.max() <= 235 / 255 + 1e-6  # studio-range luma
  batch = input_pipeline.batch(data, config, step=1)
  assert batch['low_res'].shape == (4, 8, 8, 1) and batch['hr'].shape == (4, 16, 16, 1)
  plain = input_pipeline.batch(input_pipeline.load(_config()), _config(batch_size=4), step=1)
  assert set(plain) == {'hr'} and plain['hr'].shape == (4, 28, 28, 1)
  lr_crops, hr_crops = input_pipeline.center_crops(data.train, 12, 3)
  assert lr_crops.shape == (3, 12, 12, 1) and hr_crops.shape == (3, 24, 24, 1)
  np.testing.assert_array_equal(lr_crops[0], data.train[0][0][4:16, 6:18])
  np.testing.assert_array_equal(hr_crops[0], data.train[0][1][8:32, 12:36])


def test_train_scales_add_shrunk_photos_to_the_training_pairs_only(tmp_path):
  config = _photo_folder(tmp_path)
  plain = input_pipeline.load(config)
  config.train_scales = (1.0, 0.75)
  data = input_pipeline.load(config)
  # Each photo, then its version shrunk to 3/4 (PIL bicubic), cropped to even size.
  assert [hr.shape for _, hr in data.train] == [(40, 50, 1), (30, 38, 1), (36, 44, 1),
                                                (26, 32, 1), (34, 38, 1), (26, 28, 1)]
  for (low_res, hr), (plain_low_res, plain_hr) in zip(data.train[::2], plain.train):
    np.testing.assert_array_equal(hr, plain_hr)
    np.testing.assert_array_equal(low_res, plain_low_res)
  rgb = np.asarray(Image.open(tmp_path / sorted(os.listdir(tmp_path))[0]).convert('RGB'))
  shrunk = np.asarray(Image.fromarray(rgb).resize((38, 30), Image.BICUBIC))
  [(_, expected)] = input_pipeline.bicubic_pairs([shrunk], channels=1)
  np.testing.assert_array_equal(data.train[1][1], expected)
  np.testing.assert_array_equal(data.eval[0][1], plain.eval[0][1])  # eval photos untouched


def test_train_scales_too_small_for_the_crops_are_refused_by_name(tmp_path):
  config = _photo_folder(tmp_path)
  config.train_scales = (1.0, 0.25)  # the smallest photo shrinks to 8 low-resolution rows
  with pytest.raises(UserError, match=r"shrunk by train_scales \(1.0, 0.25\) of side 8, not "
                     r"larger than hr_size 16: lower --config.hr_size or raise the smallest "
                     r"train_scales"):
    input_pipeline.load(config)


def test_literature_protocol_needs_8_bit_images(tmp_path):
  config = _photo_folder(tmp_path)
  Image.fromarray(np.zeros((40, 40), np.uint16)).save(tmp_path / '0.png')
  with pytest.raises(UserError, match='literature protocol is for 8-bit images'):
    input_pipeline.load(config)


def test_literature_protocol_refuses_images_too_small_for_crops_or_shave(tmp_path):
  config = _photo_folder(tmp_path)
  config.hr_size = 68  # the smallest training image is 34 pixels high: 17 low-resolution rows
  with pytest.raises(UserError, match="train\\[:3\\]' has images of side 34, not larger than "
                     "hr_size 68: lower --config.hr_size"):
    input_pipeline.load(config)
  config.update(dict(hr_size=16, shave=10))
  with pytest.raises(UserError, match='10-pixel shave leaves less than the 11-pixel SSIM window'):
    input_pipeline.load(config)
