"""flax_srae: convolutional autoencoders and x2 super-resolution of small images in JAX/Flax.

Importing it changes nothing in the process (environment, XLA flags, allocator): the command
line entry points make the CPU setting that speeds training up, and a program of yours can do
the same with `flax_srae.cpu_speedups.configure()`.
"""
from flax_srae.inference import load, Upscaler  # noqa: F401
