"""keep_freed_memory: a freed block comes back without page faults; the user's settings win."""
import os
import subprocess
import sys

import pytest

from flax_srae import allocator

# Frees a 32 MB block, then allocates and writes one again: how many page faults that costs.
_REUSE_FAULTS = """
import ctypes, resource, sys
from flax_srae import allocator
print(allocator.keep_freed_memory())
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
size = 32 << 20
def touch():
  block = libc.malloc(size)
  libc.memset(block, 1, size)
  return block
libc.free(touch())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
libc.free(touch())
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _reuse(**env_extra):
  env = {k: v for k, v in os.environ.items() if k not in allocator.GLIBC_SETTINGS}
  proc = subprocess.run([sys.executable, '-c', _REUSE_FAULTS], env={**env, **env_extra},
                        capture_output=True, text=True, check=True, timeout=120)
  changed, faults = proc.stdout.split()
  return changed == 'True', int(faults)


@pytest.mark.skipif(sys.platform != 'linux', reason='glibc malloc settings')
def test_keep_freed_memory_reuses_a_freed_block_and_leaves_user_settings_alone():
  changed, faults = _reuse()
  assert changed
  assert faults < 8, faults  # the block came back from the heap, already mapped
  # glibc's default mmaps and unmaps a block that size: at least one fault per 2 MB page.
  changed, faults = _reuse(MALLOC_TRIM_THRESHOLD_='131072')
  assert not changed
  assert faults >= 16, faults
