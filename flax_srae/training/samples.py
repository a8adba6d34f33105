"""A PNG grid of eval examples, one row each: for an upscaler low-res input | bicubic | model |
ground truth, for an autoencoder original | PCA | autoencoder; the columns named on top."""
from typing import Optional, Sequence

import numpy as np
from PIL import Image
from PIL import ImageDraw

from flax_srae.data import image_io
from flax_srae.data import image_ops

PAD = 2  # white pixels between tiles
LABEL_HEIGHT = 16  # pixels of the strip naming the columns


def grid(columns, zoom=None, labels: Optional[Sequence[str]] = None) -> np.ndarray:
  """columns: NHWC arrays in [0, 1]; a smaller first column (the low-res input) is enlarged
  (nearest) to the size of the others.

  Returns a uint8 image, every tile enlarged `zoom` times (nearest; default: to about 112
  pixels) so small patches are visible and large ones stay small files; with `labels`, a
  strip above names each column.
  """
  size = columns[-1].shape[1]
  zoom = zoom or max(1, 112 // size)
  columns = [c.repeat(size // c.shape[1], 1).repeat(size // c.shape[2], 2) for c in columns]
  n, h, w, ch = columns[0].shape
  out = np.ones((n * (h + PAD) + PAD, len(columns) * (w + PAD) + PAD, ch), np.float32)
  for col, images in enumerate(columns):
    for r, img in enumerate(images):
      y, x = PAD + r * (h + PAD), PAD + col * (w + PAD)
      out[y:y + h, x:x + w] = img
  out = image_ops.to_pixels(out, np.uint8).repeat(zoom, 0).repeat(zoom, 1)
  out = out[..., 0] if ch == 1 else out
  if labels:
    lefts = [(PAD + col * (w + PAD)) * zoom for col in range(len(columns))]
    out = np.concatenate([_label_strip(labels, lefts, w * zoom, out), out])
  return out


def _label_strip(labels: Sequence[str], lefts: Sequence[int], tile: int, image: np.ndarray):
  """A white strip as wide as `image` with each label centred over its column of `tile`
  pixels starting at `lefts`."""
  strip = Image.new('L' if image.ndim == 2 else 'RGB', (image.shape[1], LABEL_HEIGHT), 'white')
  draw = ImageDraw.Draw(strip)
  for left, text in zip(lefts, labels):
    text_left, _, text_right, _ = draw.textbbox((0, 0), text)
    draw.text((max(0, left + (tile - (text_right - text_left)) // 2), 2), text, fill='black')
  return np.asarray(strip)


def write_grid(path: str, columns, zoom=None, labels: Optional[Sequence[str]] = None) -> None:
  image_io.write_array(path, grid(columns, zoom, labels))
