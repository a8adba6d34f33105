"""flax_srae: convolutional autoencoders and x2 super-resolution of small images in JAX/Flax."""
from flax_srae.inference import load, Upscaler  # noqa: F401
