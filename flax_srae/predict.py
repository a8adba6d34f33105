"""Upscales images with a trained model.

  python -m flax_srae.predict --workdir=DIR --input=PATH --output=PATH
  python -m flax_srae.predict --model=pretrained:photo --input=PATH --output=PATH

PATH is an image file (PNG, JPEG, BMP), a folder of images (a folder of the same names is
written) or a .npy array (a .npy is written; layouts as `flax_srae.load(DIR).upscale`). Every
input is read and checked before anything is written, and every file is written whole
(temporary file, then rename), so a failure never leaves partial outputs.
"""
import os

from absl import flags
import numpy as np

from flax_srae import cli
from flax_srae import files
from flax_srae import image_io
from flax_srae import inference
from flax_srae.errors import UserError


def _same_or_inside(a: str, b: str) -> bool:
  a, b = os.path.realpath(a), os.path.realpath(b)
  return a == b or a.startswith(b + os.sep)


def _plan(src: str, dst: str):
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
    names = sorted(f for f in os.listdir(src) if f.lower().endswith(image_io.IMAGE_SUFFIXES))
    if not names:
      raise UserError(f'no image files ({", ".join(image_io.IMAGE_SUFFIXES)}) in {src}')
    if os.path.exists(dst) and not (os.path.isdir(dst) and os.access(dst, os.W_OK)):
      raise UserError(f'input is a folder, so --output must be a writable folder; {dst} is not')
    return [(os.path.join(src, n), os.path.join(dst, n)) for n in names], False
  is_npy = src.lower().endswith('.npy')
  if is_npy != dst.lower().endswith('.npy'):
    raise UserError('a .npy input needs a .npy output and an image input an image output')
  if os.path.isdir(dst):
    raise UserError(f'--output {dst} is a folder; give a file name')
  return [(src, dst)], is_npy


def _read(path: str, is_npy: bool) -> np.ndarray:
  if not is_npy:
    return image_io.read_array(path)
  try:
    return np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise UserError(f'cannot read array {path}: {e}') from e


def _write(path: str, arr: np.ndarray, is_npy: bool) -> None:
  try:
    if is_npy:
      # Through a file object: np.save would add '.npy' to a name that lacks it.
      with files.atomic_path(path) as tmp, open(tmp, 'wb') as f:
        np.save(f, arr)
    else:
      image_io.write_array(path, arr)
  except OSError as e:
    raise UserError(f'cannot write {path}: {e.strerror or e}') from e


def predict(workdir: str, src: str, dst: str, step=None, tile: int = 512) -> list:
  """Upscales `src` into `dst`; returns the paths written."""
  jobs, is_npy = _plan(src, dst)
  upscaler = inference.load(workdir, step)
  images = [_read(path, is_npy) for path, _ in jobs]  # all readable before anything is written
  if not is_npy:
    for (_, out_path), img in zip(jobs, images):  # the outputs keep the inputs' modes
      image_io.check_format(out_path, img)
  outputs = [upscaler.upscale(img, tile=tile) for img in images]
  if os.path.isdir(src):
    os.makedirs(dst, exist_ok=True)
  for (_, out_path), out, img in zip(jobs, outputs, images):
    _write(out_path, out, is_npy)
    print(f'wrote {out_path}  {"x".join(map(str, out.shape))} {out.dtype}  '
          f'(from {"x".join(map(str, img.shape))})')
  return [out_path for _, out_path in jobs]


def _main():
  f = flags.FLAGS
  predict(f.workdir or f.model, f.input, f.output, f.step, f.tile)


def _define_flags():
  """Flags exist only when this module is the program, so library imports never clash."""
  flags.DEFINE_string('workdir', None, 'Training workdir (or its checkpoints folder).')
  flags.DEFINE_string('model', None, "A model shipped with the package, 'pretrained:photo' or "
                      "'pretrained:mnist' (or a workdir, as --workdir).")
  flags.DEFINE_string('input', None, 'Image file, folder of images, or .npy array.')
  flags.DEFINE_string('output', None, 'Where to write: same kind as --input.')
  flags.DEFINE_integer('step', None, 'Checkpoint step to use (default: the latest).')
  flags.DEFINE_integer('tile', 512, 'Images larger than this (input pixels) go in tiles.')
  flags.mark_flags_as_required(['input', 'output'])
  flags.mark_flags_as_mutual_exclusive(['workdir', 'model'], required=True)


if __name__ == '__main__':
  _define_flags()
  cli.run(_main, quiet=True)
