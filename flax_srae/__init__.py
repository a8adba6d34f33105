"""flax_srae: convolutional autoencoders and x2 super-resolution of small images in JAX/Flax.

Importing it changes nothing in the process (environment, XLA flags, allocator): the command
line entry points make the CPU settings that speed JAX up here, and a program of yours can do
the same with `flax_srae.platform.cpu_speedups.configure()` before its first JAX computation.
"""
from flax_srae.inference import load, Coder, Upscaler  # noqa: F401
# `flax_srae.cpu_speedups.configure()` from before the package had subpackages still works.
from flax_srae.platform import cpu_speedups  # noqa: F401
