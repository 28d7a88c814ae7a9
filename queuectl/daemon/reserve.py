"""Disk space held back for the requests that free space.

On a full disk every SQLite commit fails, `job.delete` included, so queuectl
could not free the space it filled. The daemon keeps a file of reserved space
beside the database; when a space-freeing request fails to commit, the file is
given up and the request tried again. It is made again once there is room.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from queuectl import fsguard

RESERVE_BYTES = 2 * 1024 * 1024  # a delete writes a few dozen 4 KiB pages to the WAL


class SpaceReserve:
    def __init__(self, path: Path, size: int = RESERVE_BYTES):
        self.path = path
        self.size = size

    def present(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Make the reserve if it is missing and the disk has room to spare for it (twice
        its size free, so it never takes the last of what a delete just freed)."""
        if self.present():
            return True
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return False
        if st.f_bavail * st.f_frsize < 2 * self.size:
            return False
        fd = fsguard.open_nofollow(self.path, os.O_WRONLY | os.O_CREAT)
        try:
            os.posix_fallocate(fd, 0, self.size)  # real blocks, not a sparse promise
            return True
        except OSError:
            self.release()
            return False
        finally:
            os.close(fd)

    def release(self) -> bool:
        """Give the space back to the file system; False if there was none held."""
        held = self.present()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return held
