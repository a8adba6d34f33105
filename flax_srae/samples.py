"""A PNG grid of eval examples, one row each: low-res input | bicubic | model | ground truth."""
import numpy as np

from flax_srae import image_io

PAD = 2  # white pixels between tiles


def grid(columns, zoom=None) -> np.ndarray:
  """columns: NHWC arrays in [0, 1]; the low-res first column is enlarged (nearest) to size.

  Returns a uint8 image, every tile enlarged `zoom` times (nearest; default: to about 112
  pixels) so small patches are visible and large ones stay small files.
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
  out = np.round(np.clip(out, 0, 1) * 255).astype(np.uint8).repeat(zoom, 0).repeat(zoom, 1)
  return out[..., 0] if ch == 1 else out


def write_grid(path: str, columns, zoom=None) -> None:
  image_io.write_array(path, grid(columns, zoom))
