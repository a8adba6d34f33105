"""Datasets of high-resolution images in [0, 1], their splits, patches and degradation.

Every source gives a list of float32 HWC images in [0, 1] per split; training draws random
`hr_size` patches from them (a function of seed and step only, so a resumed run sees the same
batches), evaluation uses a fixed set of patches. The low-resolution input is made from the
high-resolution batch on the device (`model_input`). Under the super-resolution literature's
protocol (`config.protocol = 'literature'`) low-resolution images are instead made once from
whole 8-bit images (`bicubic_pairs`), training crops aligned pairs and evaluation uses whole
images.
"""
import dataclasses
import glob
import gzip
import os
import re
from typing import Any, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from flax_srae.data import image_ops
from flax_srae.training import metrics
from flax_srae.errors import UserError
from flax_srae.data.image_io import IMAGE_SUFFIXES, read_array

# Photos shipped inside scikit-image's wheel (read from its data folder, never downloaded).
# The held-out ones have real texture: flat images would make bicubic look perfect.
BUILTIN_SPLITS = {
    'train': ('astronaut.png', 'camera.png', 'cell.png', 'coffee.png', 'coins.png',
              'grass.png', 'gravel.png', 'hubble_deep_field.jpg', 'microaneurysms.png',
              'moon.png', 'motorcycle_left.png', 'page.png', 'retina.jpg', 'text.png'),
    'test': ('brick.png', 'chelsea.png', 'ihc.png', 'rocket.jpg'),
}
# Fixed, seed-independent, so eval figures are comparable across runs.
EVAL_PATCH_SEED = 1234

_SPLIT_RE = re.compile(r'^(?P<name>[\w-]+)(\[(?P<start>-?\d+%?)?:(?P<stop>-?\d+%?)?\])?$')


@dataclasses.dataclass(frozen=True)
class Split:
  """A TFDS-style split: a named split, optionally sliced by index or percent."""
  name: str
  start: Optional[str] = None
  stop: Optional[str] = None

  def indices(self, n: int) -> range:
    def bound(b):
      if b is None:
        return None
      if b.endswith('%'):
        return int(round(n * int(b[:-1]) / 100))
      return int(b)
    return range(n)[slice(bound(self.start), bound(self.stop))]


def parse_split(spec: str) -> Split:
  """'train', 'test[:8000]', 'test[8000:]', 'train[:90%]', 'train[10:-5]'."""
  m = _SPLIT_RE.match(spec.strip())
  if not m:
    raise UserError(f'cannot parse split {spec!r}: use a name with an optional slice, '
                    f"e.g. 'train', 'test[:8000]', 'train[90%:]'")
  return Split(m['name'], m['start'], m['stop'])


@dataclasses.dataclass(frozen=True)
class Protocol:
  """How the task is posed and measured, chosen once from `config.protocol` (`protocol_of`).
  'patches': hr_size patches of [0, 1] images, made low-resolution on the device by
  `config.degradation`, measured on fixed eval patches against the project's bicubic.
  'literature' (the super-resolution papers' x2): whole images paired once with their PIL
  bicubic downscale, measured whole on studio-range luma with a border shaved, against
  bicubic; a grayscale model sees that luma."""
  name: str
  whole_images: bool  # train on crops of whole-image pairs, evaluate whole images

  def studio_luma(self, config) -> bool:
    """Whether the model's input and output are studio-range luma (not [0, 1] grey)."""
    return self.whole_images and config.channels == 1

  def describe(self, config, images: int, on: str, shave: int) -> str:
    """The measuring protocol, for results and tables (`on`: the channels compared)."""
    if self.whole_images:
      return (f'{images} whole images, PIL bicubic downscale, {on} of 8-bit-rounded output, '
              f'shave {shave} px')
    return f'{images} images of {config.hr_size}x{config.hr_size}, {on}, shave {shave} px'


PROTOCOLS = {name: Protocol(name, whole) for name, whole in (('patches', False),
                                                           ('literature', True))}


def protocol_of(config) -> Protocol:
  """The protocol of `config` (configs saved before protocols existed: 'patches')."""
  name = config.get('protocol', 'patches')
  if name not in PROTOCOLS:
    raise UserError(f'unknown protocol {name!r}: choose one of {", ".join(PROTOCOLS)}')
  return PROTOCOLS[name]


@dataclasses.dataclass
class Data:
  """protocol 'patches': train is a list of HWC float32 images in [0, 1] of any size >= hr_size,
  eval an (N, hr_size, hr_size, C) array of fixed patches. 'literature': both are lists of
  (low, high)-resolution whole-image pairs (`bicubic_pairs`)."""
  train: list
  eval: Any


def model_input(hr, degradation: str, scale: int, noise_std: float = 0.0, key=None):
  """What the model sees of a high-resolution batch: its degraded version for
  super-resolution; for the autoencoder (scale 1) the batch itself, or with `noise_std` > 0
  the batch plus Gaussian noise of that standard deviation drawn from `key`, clipped to
  [0, 1] as an image file would hold it (a denoiser's input)."""
  if scale != 1:
    return image_ops.degrade(hr, degradation, scale)
  if not noise_std:
    return hr
  return jnp.clip(hr + noise_std * jax.random.normal(key, hr.shape, hr.dtype), 0.0, 1.0)


def to_channels(img: np.ndarray, channels: int) -> np.ndarray:
  """HW or HWC image -> HWC with `channels` (1: BT.601 luma, 3: RGB), alpha dropped."""
  if img.ndim == 2:
    img = img[..., None]
  if img.shape[-1] in (2, 4):
    img = img[..., :-1]
  if channels == 1 and img.shape[-1] == 3:
    img = image_ops.luma(img)
  elif channels == 3 and img.shape[-1] == 1:
    img = np.repeat(img, 3, axis=-1)
  return np.ascontiguousarray(img, np.float32)


def read_image(path: str, channels: int) -> np.ndarray:
  """An image file as HWC float32 in [0, 1] with `channels` channels."""
  return to_channels(image_ops.to_float(read_array(path)), channels)


# IDX files: (magic number, dimensions, file name part) of MNIST's images and labels.
_IDX_KINDS = {'images': (0x803, 3, 'images-idx3'), 'labels': (0x801, 1, 'labels-idx1')}


def _read_idx(path: str, kind: str = 'images') -> np.ndarray:
  """An IDX file: images as (N, H, W, 1) uint8, labels as (N,) uint8."""
  magic, ndim, _ = _IDX_KINDS[kind]
  opener = gzip.open if path.endswith('.gz') else open
  try:
    with opener(path, 'rb') as f:
      data = f.read()
  except (OSError, EOFError) as e:
    raise UserError(f'cannot read {path}: {e}; replace the file') from e
  header = 4 + 4 * ndim
  if len(data) < header or int.from_bytes(data[:4], 'big') != magic:
    raise UserError(f'{path} is not an IDX {kind[:-1]} file (magic 0x{magic:08x}): check '
                    f'config.data_dir')
  dims = [int.from_bytes(data[i:i + 4], 'big') for i in range(4, header, 4)]
  if len(data) != header + int(np.prod(dims)):
    raise UserError(f'{path} is truncated ({len(data)} bytes, expected '
                    f'{header + int(np.prod(dims))})')
  array = np.frombuffer(data, np.uint8, offset=header).reshape(dims)
  return array[..., None] if kind == 'images' else array


def _load_idx(data_dir: str, name: str, kind: str = 'images') -> np.ndarray:
  prefixes = {'train': ('train',), 'test': ('t10k', 'test')}
  if name not in prefixes:
    raise UserError(f"idx split must be 'train' or 'test' (the train-* and t10k-* files), got {name!r}")
  part = _IDX_KINDS[kind][2]
  paths = sorted(p for prefix in prefixes[name]
                 for p in glob.glob(os.path.join(data_dir, f'*{prefix}-{part}-ubyte*')))
  if len(paths) != 1:
    found = ', '.join(map(os.path.basename, paths)) or 'none'
    raise UserError(f'need exactly one *{prefixes[name][0]}-{part}-ubyte[.gz] file in '
                    f'{data_dir} for split {name!r}, found {found}')
  return _read_idx(paths[0], kind)


def load_labels(config, spec: str) -> np.ndarray:
  """The labels of one (sliced) split of an IDX dataset (MNIST's digits), (N,) uint8, in the
  order of `load_split`'s images."""
  if config.dataset != 'idx':
    raise UserError(f'labels are read from IDX files (dataset idx), not {config.dataset}')
  split = parse_split(spec)
  labels = _load_idx(config.data_dir, split.name, 'labels')
  return labels[split.indices(len(labels))]


def _load_tfds(dataset: str, name: str, data_dir: Optional[str]):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  where = data_dir or 'the default TFDS data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)'
  prepare = (f'prepare it with `tfds build {dataset} --file_format=array_record` where TFDS can '
             f'download it, then pass --config.data_dir')
  try:
    # download=False: a missing dataset fails at once instead of retrying the network for minutes.
    source = tfds.data_source(dataset, split=name, data_dir=data_dir or None, download=False)
  except tfds.core.DatasetNotFoundError as e:
    raise UserError(f'unknown dataset {dataset!r}: use builtin, folder, idx or a TFDS name') from e
  except (KeyError, NotImplementedError) as e:
    raise UserError(f'TFDS dataset {dataset!r} is not prepared (array_record) in {where}: '
                    f'{prepare}') from e
  except ValueError as e:
    raise UserError(f'TFDS {dataset!r} split {name!r}: {str(e).splitlines()[0]}') from e
  return source  # random access: only the sliced records are ever decoded


def _folder_files(data_dir: str) -> List[str]:
  if not os.path.isdir(data_dir):
    raise UserError(f'data_dir {data_dir!r} is not a folder: set --config.data_dir to a folder '
                    f'of images')
  files = sorted(f for f in os.listdir(data_dir) if f.lower().endswith(IMAGE_SUFFIXES))
  if not files:
    raise UserError(f'no image files ({", ".join(IMAGE_SUFFIXES)}) in {data_dir}')
  return [os.path.join(data_dir, f) for f in files]


def _split_items(config, name: str):
  """The whole named split, cheaply indexable: file paths (read later), a uint8 NHWC array
  (IDX) or a TFDS random-access source (records decoded when indexed)."""
  dataset, data_dir = config.dataset, config.data_dir
  if dataset in ('folder', 'idx') and not data_dir:
    raise UserError(f'dataset {dataset!r} needs --config.data_dir')
  if dataset == 'builtin':
    import skimage.data  # pylint: disable=g-import-not-at-top
    if name not in BUILTIN_SPLITS:
      raise UserError(f"builtin splits are 'train' and 'test', got {name!r}")
    paths = [os.path.join(skimage.data.data_dir, f) for f in BUILTIN_SPLITS[name]]
    paths = [p for p in paths if os.path.exists(p)]
    if not paths:
      raise UserError(f'none of the builtin {name} photos are in {skimage.data.data_dir}: '
                      f'reinstall scikit-image')
    return paths
  if dataset == 'folder':
    if name != 'train':
      raise UserError(f"a folder is one split named 'train' (slice it, e.g. 'train[:70]', "
                      f"'train[70:]'), got {name!r}")
    return _folder_files(data_dir)
  if dataset == 'idx':
    if not os.path.isdir(data_dir):
      raise UserError(f'data_dir {data_dir!r} is not a folder: point it at the IDX files')
    return _load_idx(data_dir, name)
  return _load_tfds(dataset, name, data_dir)


def _record_image(record: dict):
  if 'image' not in record:
    raise UserError(f'TFDS records have no \'image\' feature (features: '
                    f'{", ".join(record)}): use an image dataset')
  return record['image']


def _to_image(item, channels: int) -> np.ndarray:
  """A file path, an IDX image array or a TFDS record -> HWC float32 in [0, 1]."""
  if isinstance(item, str):
    return read_image(item, channels)
  if isinstance(item, dict):
    item = np.asarray(_record_image(item))
    if item.dtype not in (np.uint8, np.uint16):
      raise UserError(f'TFDS images are {item.dtype}; 8- or 16-bit images are supported')
  return to_channels(image_ops.to_float(item), channels)


def split_items(config, spec: str) -> list:
  """The items of one (sliced) split, undecoded: file paths, IDX images or TFDS records."""
  split = parse_split(spec)
  items = _split_items(config, split.name)
  return [items[i] for i in split.indices(len(items))]


def load_split(config, spec: str) -> List[np.ndarray]:
  """The images of one split of `config.dataset` as a list of HWC float32 arrays in [0, 1]."""
  return [_to_image(item, config.channels) for item in split_items(config, spec)]


def check_disjoint(config):
  """Train and eval must not share images (only possible when they slice the same split)."""
  a, b = parse_split(config.train_split), parse_split(config.eval_split)
  if a.name != b.name:
    return
  n = len(_split_items(config, a.name))
  if set(a.indices(n)) & set(b.indices(n)):
    raise UserError(f'train split {config.train_split!r} and eval split {config.eval_split!r} '
                    f"overlap: slice them apart, e.g. 'test[:8000]' and 'test[8000:]'")


def _dihedral(rng: np.random.Generator):
  """A random 90-degree rotation count and horizontal flip."""
  return rng.integers(4), rng.integers(2)


def _transform(patch: np.ndarray, k: int, flip: int) -> np.ndarray:
  patch = np.rot90(patch, k)
  return patch[:, ::-1] if flip else patch


def random_patches(images: List[np.ndarray], rng: np.random.Generator, count: int, size: int,
                   augment: bool = False, rows: slice = slice(None)):
  """`rows` of `count` random size x size patches: uniform image (with replacement), uniform
  position, with `augment` a random rotation and flip. All `count` patches are drawn whatever
  `rows` is, so processes that each cut their own rows together hold exactly the patches that
  one process would cut."""
  idx = rng.integers(0, len(images), count)
  corners = [(rng.integers(0, images[i].shape[0] - size + 1),
              rng.integers(0, images[i].shape[1] - size + 1)) for i in idx]
  transforms = [_dihedral(rng) if augment else (0, 0) for _ in idx]
  return np.stack([_transform(images[i][y:y + size, x:x + size], *t)
                   for i, (y, x), t in zip(idx[rows], corners[rows], transforms[rows])])


def train_batch(images: List[np.ndarray], seed: int, step: int, batch_size: int, size: int,
                augment: bool = False, rows: slice = slice(None)):
  """`rows` of the high-resolution batch for `step`. The batch depends only on (seed, step):
  resume is exact, and the same whatever the number of processes sharing it."""
  return random_patches(images, np.random.default_rng([seed, step]), batch_size, size, augment,
                        rows)


def _uint8_rgb(item) -> np.ndarray:
  """A file path, IDX image or TFDS record as an HW3 uint8 array."""
  if isinstance(item, str):
    img = read_array(item)
  else:
    img = np.asarray(_record_image(item) if isinstance(item, dict) else item)
  if img.dtype != np.uint8:
    raise UserError(f'the literature protocol is for 8-bit images, got {img.dtype}: use '
                    f"protocol 'patches'")
  return to_channels(img.astype(np.float32), 3).astype(np.uint8)


def _shrunk(rgb: np.ndarray, scale: float) -> np.ndarray:
  """An 8-bit RGB image shrunk by `scale` (<= 1) with PIL's antialiased bicubic, as a smaller
  photo of the same scene would be (the images themselves at scale 1)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if scale == 1:
    return rgb
  size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
  return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))


def bicubic_pairs(items, channels: int, scales: Sequence[float] = (1.0,)):
  """(low, high)-resolution float32 HWC pairs by the literature's x2 protocol: the image cropped
  to even size, the low resolution by PIL's antialiased bicubic downscale of the whole 8-bit RGB
  image; one channel means studio-range luma of both. `items` as `split_items` gives them; with
  `scales`, each item gives a pair for each of its versions shrunk by those factors, in order."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  pairs = []
  for rgb in (_shrunk(_uint8_rgb(item), s) for item in items for s in scales):
    hr = rgb[:rgb.shape[0] // 2 * 2, :rgb.shape[1] // 2 * 2]
    low_res = np.asarray(Image.fromarray(hr).resize((hr.shape[1] // 2, hr.shape[0] // 2),
                                                Image.BICUBIC))
    low_res, hr = image_ops.to_float(low_res), image_ops.to_float(hr)
    if channels == 1:  # in float64, as the literature's figures are computed
      low_res, hr = (image_ops.studio_luma(a.astype(np.float64)).astype(np.float32)
                     for a in (low_res, hr))
    pairs.append((low_res, hr))
  return pairs


def pair_batch(pairs, seed: int, step: int, batch_size: int, low_res_size: int, augment: bool,
               rows: slice = slice(None)):
  """`rows` of aligned random crops {'low_res': (N, s, s, C), 'hr': (N, 2s, 2s, C)} of (low,
  high) pairs, drawn as ../shared/peers/torch_photo_sr.py draws them; a function of (seed,
  step) only, all draws made whatever `rows` is (as `random_patches`)."""
  rng = np.random.default_rng([seed, step])
  keep = set(range(batch_size)[rows])
  low_res_crops, high_res_crops = [], []
  for i in range(batch_size):
    low_res, hr = pairs[rng.integers(len(pairs))]
    y = rng.integers(low_res.shape[0] - low_res_size)
    x = rng.integers(low_res.shape[1] - low_res_size)
    k, flip = _dihedral(rng) if augment else (0, 0)
    if i in keep:
      low_res_crops.append(_transform(low_res[y:y + low_res_size, x:x + low_res_size], k, flip))
      high_res_crops.append(_transform(
          hr[2 * y:2 * (y + low_res_size), 2 * x:2 * (x + low_res_size)], k, flip))
  return {'low_res': np.stack(low_res_crops), 'hr': np.stack(high_res_crops)}


def batch(data: 'Data', config, step: int, rows: slice = slice(None)) -> dict:
  """`rows` of the training batch for `step`: {'hr'} (degraded on the device) or, for the
  literature protocol, {'low_res', 'hr'} crops of precomputed pairs."""
  if protocol_of(config).whole_images:
    return pair_batch(data.train, config.seed, step, config.batch_size, config.hr_size // 2,
                      config.augment, rows)
  return {'hr': train_batch(data.train, config.seed, step, config.batch_size, config.hr_size,
                            config.augment, rows)}


SAMPLE_CROP = 64  # low-resolution side of the crops shown in sample grids of whole images


def center_crops(pairs, low_res_size: int, count: int):
  """(low_res, hr) arrays of crops of the first `count` pairs, low_res_size (2 * low_res_size)
  square and central, or, for images smaller than that, the top-left part of the central crop at the
  smallest image's size."""
  crops = []
  for low_res, hr in pairs[:count]:
    s = min(low_res_size, *low_res.shape[:2]) // 2 * 2
    y, x = (low_res.shape[0] - s) // 2, (low_res.shape[1] - s) // 2
    crops.append((low_res[y:y + s, x:x + s], hr[2 * y:2 * (y + s), 2 * x:2 * (x + s)]))
  s = min(c[0].shape[0] for c in crops)
  return np.stack([c[0][:s, :s] for c in crops]), np.stack([c[1][:2 * s, :2 * s] for c in crops])


def train_scales(config) -> tuple:
  """The factors each training photo is also shrunk by (`config.train_scales`; configs saved
  before the field: the photos alone)."""
  return tuple(config.get('train_scales', (1.0,)))


def literature_pairs(config, spec: str, crop: int = 0, shave: int = 0,
                     scales: Sequence[float] = (1.0,)):
  """`bicubic_pairs` of a split, refused with a clear error when empty, when a low-resolution
  side is not larger than the training `crop`, or when the shaved high-resolution images are
  smaller than the SSIM window."""
  scales = tuple(scales)
  pairs = bicubic_pairs(split_items(config, spec), config.channels, scales)
  if not pairs:
    raise UserError(f'split {spec!r} of {config.dataset} is empty: check the slice')
  small = min(min(low_res.shape[:2]) for low_res, _ in pairs)
  if small <= crop:
    shrunk = f' shrunk by train_scales {scales}' if scales != (1.0,) else ''
    raise UserError(f'split {spec!r} has images{shrunk} of side {2 * small}, not larger than '
                    f'hr_size {2 * crop}: lower --config.hr_size'
                    + (' or raise the smallest train_scales' if shrunk else ''))
  if 2 * small - 2 * shave < metrics.SSIM_WINDOW:
    raise UserError(f'split {spec!r} has images of side {2 * small}: a {shave}-pixel shave leaves '
                    f'less than the {metrics.SSIM_WINDOW}-pixel SSIM window; lower the shave')
  return pairs


def eval_patches(images: List[np.ndarray], size: int, count: int) -> np.ndarray:
  """Whole images when they are all `size` x `size` (MNIST-like), else `count` fixed patches."""
  if all(img.shape[:2] == (size, size) for img in images):
    return np.stack(images)
  return random_patches(images, np.random.default_rng(EVAL_PATCH_SEED), count, size)


def check_images(images: List[np.ndarray], spec: str, config) -> None:
  """A split must hold images and none smaller than the patches cut from it."""
  if not images:
    raise UserError(f'split {spec!r} of {config.dataset} is empty: check the slice')
  small = min(min(img.shape[:2]) for img in images)
  if small < config.hr_size:
    raise UserError(f'split {spec!r} has images of side {small}, smaller than hr_size '
                    f'{config.hr_size}: lower --config.hr_size')


def load_eval(config, split: Optional[str] = None):
  """The eval data of `split` (default: `config.eval_split`) under `config.protocol`: fixed
  patches (or whole images of exactly hr_size), or whole-image pairs."""
  split = split or config.eval_split
  if protocol_of(config).whole_images:
    return literature_pairs(config, split, shave=config.shave)
  images = load_split(config, split)
  check_images(images, split, config)
  return eval_patches(images, config.hr_size, config.num_eval_patches)


def load(config) -> Data:
  """Training data and fixed eval data for `config`, with clear errors for bad input."""
  if config.degradation not in image_ops.DEGRADATIONS:
    raise UserError(f'unknown degradation {config.degradation!r}: choose one of '
                    f'{", ".join(image_ops.DEGRADATIONS)}')
  check_disjoint(config)
  if protocol_of(config).whole_images:
    train = literature_pairs(config, config.train_split, crop=config.hr_size // 2,
                             scales=train_scales(config))
  else:
    train = load_split(config, config.train_split)
    check_images(train, config.train_split, config)
  return Data(train=train, eval=load_eval(config))
