"""Files written whole: a reader (or a crash) never sees a half-written result."""
import contextlib
import errno
import json
import os


@contextlib.contextmanager
def atomic_path(path: str, overwrite: bool = True):
  """Yields a temporary path beside `path` (same suffix, so writers that go by it pick the
  format) and moves it onto `path` only once the block has finished writing it. Without
  `overwrite`, it appears at `path` only if nothing is there by then (else FileExistsError)."""
  stem, ext = os.path.splitext(path)
  tmp = f'{stem}.tmp{os.getpid()}{ext}'
  try:
    yield tmp
    if overwrite:
      os.replace(tmp, path)
    else:
      _link_or_rename(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def _link_or_rename(tmp: str, path: str) -> None:
  """Moves `tmp` to `path` unless something is there: a hard link fails if `path` exists,
  where a rename would replace it. File systems without hard links (FAT and exFAT drives,
  some network mounts) get a check and a rename instead."""
  try:
    os.link(tmp, path)
  except OSError as e:
    if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
      raise
    if os.path.lexists(path):
      raise FileExistsError(errno.EEXIST, 'File exists', path) from e
    os.replace(tmp, path)


def write_json(path: str, obj) -> None:
  with atomic_path(path) as tmp, open(tmp, 'w') as f:
    json.dump(obj, f, indent=2)


def read_json(path: str):
  """The JSON in `path`, or None when it is missing or unreadable."""
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None
