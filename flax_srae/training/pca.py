"""Principal component analysis of images: the linear code an autoencoder is measured against.

`fit` finds, by a numpy SVD of the centred training images, the `components` directions that
keep the most of their variance; `encode` projects images onto them (a code of `components`
values), `decode` maps codes back to images, clipped to [0, 1] as the autoencoder's are.
A `PCA` is a pytree: its methods run on numpy or JAX arrays, inside jit too.
"""
from typing import Tuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from flax_srae.errors import UserError

# Above this many values, the SVD runs in float32: a float64 copy would double its memory.
_FLOAT64_VALUES = 1 << 25


@flax.struct.dataclass
class PCA:
  mean: jax.Array                 # (D,): the mean training image, flattened
  components: jax.Array           # (k, D): orthonormal rows, by decreasing variance
  shape: Tuple[int, ...] = flax.struct.field(pytree_node=False)  # (H, W, C) of an image

  def encode(self, images):
    """(N, H, W, C) images -> (N, k) codes."""
    flat = images.reshape(images.shape[0], -1) - self.mean
    return jnp.matmul(flat, self.components.T, precision='highest')

  def decode(self, codes):
    """(N, k) codes -> (N, H, W, C) images in [0, 1]."""
    flat = jnp.matmul(codes, self.components, precision='highest') + self.mean
    return jnp.clip(flat, 0.0, 1.0).reshape((codes.shape[0],) + tuple(self.shape))

  def reconstruct(self, images):
    return self.decode(self.encode(images))


def fit(images: np.ndarray, components: int) -> PCA:
  """The PCA of `components` components of (N, H, W, C) images; needs more images than
  components."""
  n = len(images)
  if components >= n:
    raise UserError(f'PCA with {components} components needs more than {components} training '
                    f'images, got {n}: use a larger train split or a smaller latent_dim')
  dtype = np.float64 if images.size <= _FLOAT64_VALUES else np.float32
  flat = np.asarray(images, dtype).reshape(n, -1)
  mean = flat.mean(axis=0)
  _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
  return PCA(mean=mean.astype(np.float32), components=vt[:components].astype(np.float32),
             shape=tuple(images.shape[1:]))
