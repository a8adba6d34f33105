"""glibc malloc settings under which XLA:CPU's per-step buffers stay in the process.

XLA:CPU allocates the buffers of each run of a compiled program (a training step's activations
and gradients, tens of megabytes) with malloc and frees them when the run ends. glibc serves
large blocks with fresh mmaps, unmapped again on free, and hands freed memory at the top of its
heap back to the kernel, so every step faults its buffers in again, page by page: about 13,000
page faults per training step of the photo network. Measured on 2 CPU cores, three side-by-side
pairs (experiments/README.md): with both thresholds raised, page faults per 300-step run fell
from 4.25M to 0.35M and training went from 273-279 to 282-327 patches/s.
"""
import ctypes
import os
import sys

# mallopt parameters, from glibc's <malloc.h>.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
KEEP_BELOW = 1 << 30  # bytes: blocks below this come from the heap and stay there when freed
# glibc reads these at start-up: where the user set them, their choice stands.
GLIBC_SETTINGS = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES')


def keep_freed_memory() -> bool:
  """Raises glibc's mmap and trim thresholds to `KEEP_BELOW` for this whole process, so memory
  it frees is reused by the next step rather than returned to the kernel; the process keeps its
  peak memory until it exits. Does nothing (returns False) outside Linux, with another C library
  (e.g. musl), or when the environment holds glibc's own settings (`GLIBC_SETTINGS`)."""
  if sys.platform != 'linux' or any(name in os.environ for name in GLIBC_SETTINGS):
    return False
  try:
    libc = ctypes.CDLL(None)
  except OSError:
    return False
  if not hasattr(libc, 'gnu_get_libc_version'):  # only glibc has it (musl does not)
    return False
  return all(libc.mallopt(param, KEEP_BELOW) == 1
             for param in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD))
