"""One training run per workdir: an advisory lock that the OS drops when its process ends.

`flock` locks belong to the open file, so a run killed by SIGKILL leaves no stale lock
behind, only the lock file with its last holder's name (on NFS, a lost host's lock lasts until
its lease ends). Each process of a multi-process run locks its own file
(WORKDIR/.lock.<process index>): the processes of one run never meet, while a second run's
process 0 finds the first run's process 0 holding its file and stops that run. Filesystems
without locks (some FUSE and Lustre mounts) get a warning and no lock.
"""
import contextlib
import datetime
import fcntl
import os
import socket

from absl import logging

from flax_srae.errors import UserError


@contextlib.contextmanager
def hold(workdir: str, process_index: int = 0):
  """Holds the workdir's lock for this process for the duration of the block; raises a
  UserError naming the holder when another run has it."""
  path = os.path.join(workdir, f'.lock.{process_index}')
  # 'a+' neither truncates the holder's note nor fails when the file exists.
  f = open(path, 'a+')  # pylint: disable=consider-using-with
  try:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = f.read().strip() or 'a process that has not written its name yet'
      raise UserError(f'workdir {workdir} is in use by another training run ({holder}): wait '
                      f'for it to finish or stop it, or choose another --workdir') from None
    except OSError as e:  # ENOLCK, EOPNOTSUPP, ...: this filesystem keeps no locks
      logging.warning('cannot lock %s (%s): nothing stops a second run on this workdir', path,
                      e.strerror)
    try:
      f.seek(0)
      f.truncate()
      f.write(f'pid {os.getpid()} on {socket.gethostname()}, since '
              f'{datetime.datetime.now().isoformat(" ", "seconds")}\n')
      f.flush()
    except OSError:  # a full disk: the lock holds all the same, only its note is missing
      pass
    yield
  finally:
    f.close()  # releases the lock
