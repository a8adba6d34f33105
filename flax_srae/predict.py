"""Upscales images with a trained model, or reconstructs them with an autoencoder.

  python -m flax_srae.predict --workdir=DIR --input=PATH --output=PATH
  python -m flax_srae.predict --model=pretrained:photo --input=PATH --output=PATH [--ensemble]
  python -m flax_srae.predict --model=pretrained:mnist_ae --input=PATH --output=PATH
                              [--codes=CODES.npy]

PATH is an image file (PNG, JPEG, BMP, TIFF, GIF, WebP), a folder of them (a folder of the
same names is written; GIF and WebP as PNG) or a .npy array (a .npy is written; layouts as
`flax_srae.load(DIR).upscale`). An autoencoder writes its reconstructions,
decode(encode(image)), and with --codes the codes too: one row of latent_dim values per image
written, in the order of the input's files (sorted by name) or of the array's images. Outputs
that exist are refused unless --overwrite. Every input is read and checked before anything is
written, and every file is written whole (temporary file, then rename), so a failure never
leaves partial outputs; a folder's files that cannot be read are left out, listed at the end,
and the command ends with status 1. Images above --max_pixels are refused; large ones show
their progress tile by tile.
"""
import os
import sys
import time
from typing import Optional, Tuple

from absl import flags
import numpy as np

from flax_srae import cli
from flax_srae.platform import files
from flax_srae.data import image_io
from flax_srae import inference
from flax_srae.errors import UserError


def _same_or_inside(a: str, b: str) -> bool:
  a, b = os.path.realpath(a), os.path.realpath(b)
  return a == b or a.startswith(b + os.sep)


def _plan(src: str, dst: str, overwrite: bool):
  """[(input path, output path)] and whether they are .npy arrays; checks paths first."""
  if not os.path.exists(src):
    raise UserError(f'input {src} does not exist')
  if _same_or_inside(dst, src) or _same_or_inside(src, dst):
    raise UserError(f'output {dst} would overwrite or sit inside the input {src}: choose '
                    f'another --output')
  parent = os.path.dirname(os.path.abspath(dst))
  if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
    raise UserError(f'cannot write into {parent}: create it or choose another --output')
  if os.path.isdir(src):
    jobs, is_npy = _plan_folder(src, dst), False
  else:
    is_npy = src.lower().endswith('.npy')
    if is_npy != dst.lower().endswith('.npy'):
      raise UserError('a .npy input needs a .npy output and an image input an image output')
    if os.path.isdir(dst):
      raise UserError(f'--output {dst} is a folder; give a file name')
    if not is_npy and not dst.lower().endswith(image_io.WRITE_SUFFIXES):
      raise UserError(f'cannot write {dst}: use one of {", ".join(image_io.WRITE_SUFFIXES)}')
    jobs = [(src, dst)]
  existing = [out for _, out in jobs if os.path.lexists(out)]
  if existing and not overwrite:
    more = f' (and {len(existing) - 1} more outputs)' if len(existing) > 1 else ''
    raise UserError(f'{existing[0]} exists{more}: pass --overwrite to replace, or choose '
                    f'another --output')
  return jobs, is_npy


def _plan_folder(src: str, dst: str):
  """A folder's [(input path, output path)]: its image files, sorted by name, each written
  under its own name (.png for a format that is read but not written)."""
  if os.path.exists(dst) and not (os.path.isdir(dst) and os.access(dst, os.W_OK)):
    raise UserError(f'input is a folder, so --output must be a writable folder; {dst} is not')
  if not os.path.exists(dst) and dst.lower().endswith(image_io.IMAGE_SUFFIXES + ('.npy',)):
    raise UserError(f'input {src} is a folder, so --output names a folder to write, and {dst} '
                    f'is a file name: give a folder (create it first to use that name)')
  names = sorted(f for f in os.listdir(src) if f.lower().endswith(image_io.IMAGE_SUFFIXES))
  if not names:
    raise UserError(f'no image files ({", ".join(image_io.IMAGE_SUFFIXES)}) in {src}')
  outputs = {}
  for name in names:
    out = image_io.output_name(name)
    if out in outputs:
      raise UserError(f'{outputs[out]} and {name} in {src} would both be written as {out}: '
                      f'rename one')
    outputs[out] = name
  return [(os.path.join(src, n), os.path.join(dst, o)) for o, n in outputs.items()]


def _layout(shape) -> tuple:
  """(images, height, width, channels) of an array laid out as `Upscaler.upscale` takes it (an
  array of another rank: no pixels, left to `upscale` to refuse)."""
  if len(shape) == 2 or (len(shape) == 3 and shape[-1] <= 4):
    return (1, *shape[:2], shape[2] if len(shape) == 3 else 1)
  return (shape[0], *shape[1:3], shape[3] if len(shape) == 4 else 1) if len(shape) in (3, 4) \
      else (0, 0, 0, 0)


def _check_size(path: str, is_npy: bool, max_pixels: int) -> Tuple[int, int]:
  """The (height, width) of an input's images, from its header; refuses, in one line, one
  whose images have more than `max_pixels` pixels."""
  if is_npy:
    try:
      shape = np.load(path, mmap_mode='r', allow_pickle=False).shape
    except (OSError, ValueError) as e:
      raise UserError(f'cannot read array {path}: {e}') from e
    _, h, w, _ = _layout(shape)
  else:
    try:
      w, h = image_io.size_of(path, max_pixels)
    except image_io.PixelLimitError as e:
      w, h = e.width, e.height
  if h * w > max_pixels:
    raise UserError(f'{path} is {w}x{h} ({h * w:,} pixels), above the limit of {max_pixels:,}: '
                    f'pass --max_pixels={h * w} to upscale it')
  return h, w


def _read(path: str, is_npy: bool, max_pixels: int) -> np.ndarray:
  if not is_npy:
    return image_io.read_array(path, max_pixels)
  try:
    return np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise UserError(f'cannot read array {path}: {e}') from e


def _tile_progress(path: str, img: np.ndarray, tile: int, scale: int, every: float = 5.0):
  """For an image of many tiles: a line on stderr saying its size and the memory it takes, then
  one every `every` seconds with the tiles done and the time left. None for smaller images."""
  images, h, w, channels = _layout(img.shape)
  if h * w < 16 * tile * tile:
    return None
  # Six float32 copies of the output: the tiles' output, colour conversions, clipping and the
  # integer pixels.
  gigabytes = images * h * w * scale ** 2 * channels * 4 * 6 / 1e9
  print(f'{path}: {w}x{h}, in tiles of {tile}x{tile}; about {gigabytes:.1f} GB of memory',
        file=sys.stderr, flush=True)
  t0 = last = time.perf_counter()

  def report(done: int, total: int):
    nonlocal last
    now = time.perf_counter()
    if now - last >= every or done == total:
      last = now
      left = round((now - t0) / done * (total - done))
      print(f'{path}: tile {done}/{total}, {left // 60}:{left % 60:02d} left', file=sys.stderr,
            flush=True)
  return report


def _write(path: str, arr: np.ndarray, is_npy: bool, overwrite: bool) -> None:
  try:
    if is_npy:
      # Through a file object: np.save would add '.npy' to a name that lacks it.
      with files.atomic_path(path, overwrite) as tmp, open(tmp, 'wb') as f:
        np.save(f, arr)
    else:
      image_io.write_array(path, arr, overwrite)
  except FileExistsError as e:
    raise UserError(f'{path} appeared while this ran and is kept: pass --overwrite to replace '
                    f'it, or choose another --output') from e
  except OSError as e:
    raise UserError(f'cannot write {path}: {e.strerror or e}') from e


def _each(jobs, check, left_out: Optional[list]):
  """(the jobs `check` passed, its results). A job it refuses (UserError) is appended to
  `left_out` as (input path, reason), or, when `left_out` is None, ends the command."""
  kept, results = [], []
  for path, out_path in jobs:
    try:
      results.append(check(path, out_path))
      kept.append((path, out_path))
    except UserError as e:
      if left_out is None:
        raise
      left_out.append((path, str(e)))
  return kept, results


def _left_out_error(left_out, total: int, written: int, codes: Optional[str] = None):
  for path, reason in left_out:
    print(f'left out {path}: {reason}', file=sys.stderr)
  unwritten = (f'; --codes not written (its rows would not match the folder\'s files): remove '
               f'the files left out and run again with --overwrite') if codes else ''
  return UserError(f'{len(left_out)} of {total} inputs left out (listed above); '
                   f'{written} written{unwritten}')


def _check_codes_path(codes: str, src: str, dst: str, overwrite: bool) -> None:
  if not codes.lower().endswith('.npy'):
    raise UserError(f'--codes={codes}: the codes are written as a .npy array; name it *.npy')
  if _same_or_inside(codes, src) or _same_or_inside(codes, dst):
    raise UserError(f'--codes={codes} lies in the input or output: choose another path')
  if os.path.lexists(codes) and not overwrite:
    raise UserError(f'--codes={codes} exists: pass --overwrite to replace it, or choose another '
                    f'path')
  parent = os.path.dirname(os.path.abspath(codes))
  if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
    raise UserError(f'cannot write into {parent}: create it or choose another --codes')


def _check_coder_size(model: inference.Coder, path: str, size: Tuple[int, int]) -> None:
  """An autoencoder codes one size: an input's, named with its path, before it is read."""
  h, w = size
  if (h, w) != (model.size, model.size):
    raise UserError(f'{path} holds {w}x{h} images, and this autoencoder codes '
                    f'{model.size}x{model.size} images: resize or crop them to '
                    f'{model.size}x{model.size}')


def predict(workdir: str, src: str, dst: str, step=None, tile: int = 512,
            max_pixels: int = image_io.MAX_PIXELS, ensemble: bool = False,
            codes: Optional[str] = None, overwrite: bool = False) -> list:
  """Upscales `src` into `dst` (or reconstructs it, with an autoencoder; its codes into
  `codes`); returns the paths written. A folder's files that cannot be used are left out and
  listed, and the command then ends in a UserError after writing the others (and no codes,
  whose rows would no longer match the folder's files)."""
  if max_pixels <= 0:
    raise UserError(f'--max_pixels must be positive, got {max_pixels}')
  jobs, is_npy = _plan(src, dst, overwrite)
  if codes is not None:
    _check_codes_path(codes, src, dst, overwrite)
  total, left_out = len(jobs), [] if os.path.isdir(src) else None
  # From the headers: no image is decoded before all sizes pass.
  jobs, sizes = _each(jobs, lambda path, _: _check_size(path, is_npy, max_pixels), left_out)
  if not jobs:
    raise _left_out_error(left_out, total, 0)
  model = inference.load(workdir, step)
  _check_model(model, codes, ensemble)
  if isinstance(model, inference.Coder):
    size_of = dict(zip(jobs, sizes))
    jobs, _ = _each(jobs, lambda *job: _check_coder_size(model, job[0], size_of[job]), left_out)
  # All readable, and writable as their outputs' formats, before anything is written.
  jobs, images = _each(jobs, lambda path, out_path: _readable(path, out_path, is_npy,
                                                                max_pixels), left_out)
  if not jobs:
    raise _left_out_error(left_out, total, 0)
  written = _run(model, jobs, images, is_npy, tile, ensemble, overwrite,
                 codes=None if left_out else codes)
  if left_out:
    raise _left_out_error(left_out, total, len(jobs), codes)
  return written


def _run(model, jobs, images, is_npy: bool, tile: int, ensemble: bool, overwrite: bool,
         codes: Optional[str]) -> list:
  """Runs the model on the images read and writes their outputs (and codes); their paths."""
  if isinstance(model, inference.Coder):
    outputs, code_rows = zip(*(model.reconstruct(img, with_codes=True) for img in images))
  else:
    outputs = [model.upscale(img, tile=tile, ensemble=ensemble,
                             progress=_tile_progress(path, img, tile, model.scale))
               for (path, _), img in zip(jobs, images)]
  for (_, out_path), out, img in zip(jobs, outputs, images):
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    _write(out_path, out, is_npy, overwrite)
    print(f'wrote {out_path}  {"x".join(map(str, out.shape))} {out.dtype}  '
          f'(from {"x".join(map(str, img.shape))})')
  written = [out_path for _, out_path in jobs]
  if codes is not None:
    table = np.concatenate(code_rows)
    _write(codes, table, True, overwrite)
    print(f'wrote {codes}  {"x".join(map(str, table.shape))} {table.dtype}  (one code per '
          f'image)')
    written.append(codes)
  return written


def _check_model(model, codes, ensemble: bool) -> None:
  """The flags that do not fit the model's kind, refused before any pixel is read."""
  coder = isinstance(model, inference.Coder)
  if codes is not None and not coder:
    raise UserError('--codes writes an autoencoder\'s codes; this model upscales: drop --codes')
  if ensemble and coder:
    raise UserError('--ensemble averages a super-resolution model over rotations and flips; '
                    'this model is an autoencoder: drop --ensemble')


def _readable(path: str, out_path: str, is_npy: bool, max_pixels: int) -> np.ndarray:
  img = _read(path, is_npy, max_pixels)
  if not is_npy:
    image_io.check_format(out_path, img)  # the outputs keep the inputs' modes
  return img


def _main():
  f = flags.FLAGS
  predict(f.workdir or f.model, f.input, f.output, f.step, f.tile, f.max_pixels, f.ensemble,
          f.codes, f.overwrite)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('workdir', None, 'Training workdir (or its checkpoints folder).')
  flags.DEFINE_string('model', None, "A model shipped with the package, 'pretrained:photo', "
                      "'pretrained:photo_rgb', 'pretrained:mnist' or 'pretrained:mnist_ae' (or a "
                      "workdir, as --workdir).")
  flags.DEFINE_string('input', None, 'Image file, folder of images, or .npy array.')
  flags.DEFINE_string('output', None, 'Where to write: same kind as --input.')
  flags.DEFINE_integer('step', None, 'Checkpoint step to use (default: the latest).')
  flags.DEFINE_integer('tile', 512, 'Images larger than this (input pixels) go in tiles.')
  flags.DEFINE_bool('ensemble', False, 'Average the model over the 8 rotations and flips of '
                    'each image (EDSR\'s "+"): a little sharper, 8x the time.')
  flags.DEFINE_string('codes', None, 'Autoencoders: also write the codes to this new .npy '
                      'file, one row of latent_dim values per image.')
  flags.DEFINE_bool('overwrite', False, 'Replace outputs that exist (else they are refused, '
                    'before any work).')
  flags.DEFINE_integer('max_pixels', image_io.MAX_PIXELS, 'Larger inputs (width x height) are '
                       "refused; the default is Pillow's decompression-bomb limit.")
  flags.mark_flags_as_required(['input', 'output'])
  flags.mark_flags_as_mutual_exclusive(['workdir', 'model'], required=True)


if __name__ == '__main__':
  _define_flags()
  cli.run(_main, quiet=True)
