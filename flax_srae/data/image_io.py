"""Reading and writing image files as numpy arrays, keeping 8- or 16-bit depth.

Pillow reads and writes everything except 16-bit colour PNGs, which it truncates to 8 bits;
those go through pypng (pure Python).
"""
import contextlib
import os
import threading

import numpy as np
from PIL import Image
from PIL import ImageOps
import png

from flax_srae.platform import files
from flax_srae.errors import UserError

# The formats read, everywhere (predict's files and folders, data folders, uploads): Pillow's
# other formats run other code (EPS even starts Ghostscript) and are not worth the risk.
READ_FORMATS = ('PNG', 'JPEG', 'BMP', 'GIF', 'WEBP', 'TIFF')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.webp', '.tif', '.tiff')
# The formats written: those that hold our pixels unchanged (GIF keeps 256 colours, WebP turns
# grey into RGB), JPEG's loss aside.
WRITE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
# Pillow's own decompression-bomb limit: a few kilobytes of PNG can declare gigapixels.
MAX_PIXELS = 89_478_485


def _png_bit_depth(path: str) -> int:
  with open(path, 'rb') as f:
    head = f.read(25)
  return head[24] if head[:8] == b'\x89PNG\r\n\x1a\n' and len(head) == 25 else 0


# Held while Pillow's limit is lifted for one open. Without it, threads reading at once (serve's
# uploads) take turns on the module setting: one opens under the limit another has just put
# back, and Pillow refuses an image within --max_pixels (DecompressionBombError), and the
# setting can stay lifted for the rest of the process. Test: tests/test_hostile.py::
# test_pillows_own_limit_is_lifted_for_each_open_whatever_the_other_threads_do.
_PILLOW_LIMIT = threading.Lock()


class PixelLimitError(UserError):
  """An image above the pixel limit of `read_array`, refused before it is decoded."""

  def __init__(self, message: str, width: int, height: int):
    super().__init__(message)
    self.width, self.height = width, height


@contextlib.contextmanager
def _open(path: str, max_pixels: int, formats=None):
  """Pillow's lazy open (of `formats` only, when given), refusing (PixelLimitError) an image
  whose header declares more than `max_pixels` pixels before anything else reads it: a PNG's
  `getexif` decodes the whole image to look for an eXIf chunk after the pixels, so a few
  megabytes declaring 30000x30000 would take gigabytes. Pillow's own bomb check (in `open`
  alone, against a module setting) is lifted for that call only, under _PILLOW_LIMIT."""
  if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block the open forever
    raise UserError(f'cannot read image {path}: not a regular file; remove or replace it')
  with _PILLOW_LIMIT:
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
      im = Image.open(path, formats=formats)
    finally:
      Image.MAX_IMAGE_PIXELS = limit
  with im:
    width, height = im.size  # a turn by EXIF orientation keeps the count
    if width * height > max_pixels:
      raise PixelLimitError(f'{path} is {width}x{height} ({width * height:,} pixels), above '
                            f'the limit of {max_pixels:,}: downscale it or leave it out',
                            width, height)
    yield im


def _seen_size(im):
  """(width, height) of an opened image as it is meant to be seen: EXIF orientations 5-8 turn
  the picture by 90 degrees. A PNG's EXIF is looked at only when it comes before the pixels:
  Pillow would decode the whole image to look for one after them."""
  width, height = im.size
  if im.format == 'PNG' and 'exif' not in im.info:
    return width, height
  return (height, width) if im.getexif().get(0x0112, 1) in (5, 6, 7, 8) else (width, height)


def size_of(path: str, max_pixels: int = MAX_PIXELS):
  """(width, height) of an image file as it is meant to be seen; one of more than `max_pixels`
  pixels is refused from its header (PixelLimitError)."""
  try:
    with _open(path, max_pixels, READ_FORMATS) as im:
      return _seen_size(im)
  except (OSError, ValueError, SyntaxError) as e:
    raise UserError(f'cannot read image {path}: {e}; remove or replace the file') from e


def read_array(path: str, max_pixels: int = MAX_PIXELS, formats=READ_FORMATS) -> np.ndarray:
  """An image file's pixels as stored: HW or HWC (grey, grey+alpha, RGB, RGBA), uint8 or uint16.
  Files of more than `max_pixels` pixels are refused before they are decoded (PixelLimitError),
  and so are files of Pillow formats outside `formats`."""
  try:
    with _open(path, max_pixels, formats) as im:
      if _png_bit_depth(path) != 16:
        im = ImageOps.exif_transpose(im)  # camera JPEGs: pixels as the photo is meant to be seen
        if im.mode == '1':
          im = im.convert('L')
        elif im.mode.startswith('I;16'):  # 16-bit grey TIFF: converting would clip it to 8 bits
          return np.asarray(im).astype(np.uint16)
        elif im.mode in ('I', 'F'):
          kind = 'floating-point' if im.mode == 'F' else 'signed or 32-bit integer'
          raise UserError(f'{path} holds {kind} pixels: convert it to 8 or 16 bits')
        elif im.mode not in ('L', 'LA', 'RGB', 'RGBA'):
          # Palette, CMYK, ...: their raw values are not intensities.
          im = im.convert('RGBA' if 'A' in im.getbands() or 'transparency' in im.info else 'RGB')
        return np.asarray(im)
    # 16-bit PNGs: through pypng, since Pillow truncates their colour to 8 bits.
    width, height, rows, info = png.Reader(filename=path).asDirect()
    # asDirect() scales down to the significant bits of an sBIT chunk: scale back to 16 bits.
    arr = np.vstack([np.asarray(r, np.uint16) for r in rows]) << (16 - info['bitdepth'])
    return arr.reshape(height, width, info['planes']).squeeze(-1) if info['planes'] == 1 \
        else arr.reshape(height, width, info['planes'])
  except (OSError, ValueError, SyntaxError, png.Error) as e:
    raise UserError(f'cannot read image {path}: {e}; remove or replace the file') from e


def check_format(path: str, arr: np.ndarray) -> None:
  """Raises UserError unless `arr` (HW/HWC, uint8/uint16) can be stored as `path`'s format."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in WRITE_SUFFIXES:
    raise UserError(f'cannot write {path}: use one of {", ".join(WRITE_SUFFIXES)}')
  grey = arr.ndim == 2 or arr.shape[-1] == 1
  if arr.dtype == np.uint16 and ext != '.png' and not (grey and ext in ('.tif', '.tiff')):
    raise UserError(f'{path}: 16-bit images can only be written as PNG (or TIFF when grey)')
  if ext in ('.jpg', '.jpeg', '.bmp') and arr.ndim == 3 and arr.shape[-1] in (2, 4):
    kind = 'BMP' if ext == '.bmp' else 'JPEG'
    raise UserError(f'{path}: {kind} cannot hold an alpha channel; write PNG')


def output_name(name: str) -> str:
  """The name an output of the image file `name` gets: the same, or with .png for a format
  that is read but not written."""
  stem, ext = os.path.splitext(name)
  return name if ext.lower() in WRITE_SUFFIXES else stem + '.png'


def write_array(path: str, arr: np.ndarray, overwrite: bool = True) -> None:
  """Writes HW/HWC uint8 or uint16 pixels atomically: an existing file is replaced only whole,
  and without `overwrite` not at all (FileExistsError)."""
  check_format(path, arr)
  with files.atomic_path(path, overwrite) as tmp:
    if arr.dtype == np.uint16 and path.lower().endswith('.png'):
      planes = 1 if arr.ndim == 2 else arr.shape[-1]
      writer = png.Writer(arr.shape[1], arr.shape[0], greyscale=planes in (1, 2),
                          alpha=planes in (2, 4), bitdepth=16)
      with open(tmp, 'wb') as f:
        # Row by row: a whole image as Python ints would take ~40 bytes a sample.
        writer.write(f, (row.tolist() for row in arr.reshape(arr.shape[0], -1)))
    else:
      squeezed = arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr
      jpeg = os.path.splitext(path)[1].lower() in ('.jpg', '.jpeg')
      Image.fromarray(squeezed).save(tmp, **({'quality': 95} if jpeg else {}))
