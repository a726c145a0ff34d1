"""Files written so that a kill, a full disk or a second writer never leaves half of one.

Every write goes through a hidden temporary file named after its writer's process,
``.<name>.<pid>.tmp`` beside the target, fsynced and then renamed over it. So a temporary
file whose writer is alive is a write in progress (another runner's, say), and one whose
writer is gone is an orphan that anyone may remove. A write that the disk refuses (full, over
quota, read-only) ends in a DiskError naming the file and the disk, with nothing left behind.
Standard library only.
"""
import errno
import hashlib
import os
from pathlib import Path

from .errors import InputError

TEMPORARY = ".*.*.tmp"


def pid_alive(pid):
    """Is process ``pid`` alive on this machine? Signal 0 only asks: a process we may not signal is alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


DISK_ERRORS = {errno.ENOSPC: "full", errno.EDQUOT: "over its quota", errno.EROFS: "read-only"}


class DiskError(InputError, OSError):
    """The disk refused a write; the message names the file, the disk and what to do."""


def mount_point(path):
    """The folder ``path``'s disk is mounted at: the last of its folders on the same device."""
    path = Path(path).resolve()
    while not path.exists():
        path = path.parent
    device = path.stat().st_dev
    while path.parent != path and path.parent.stat().st_dev == device:
        path = path.parent
    return path


def refused_write(code, path, doing):
    """The one line for a write the disk refused with errno ``code`` (``doing`` says what was being written)."""
    fix = "make it writable" if code == errno.EROFS else "free some space"
    return f"the disk at {mount_point(path)} is {DISK_ERRORS[code]}: could not write {doing} {path}; {fix} and run " \
           f"the same command again"


def disk_error(exc, path, doing):
    """``exc`` as a DiskError when the disk refused a write, else None."""
    return DiskError(refused_write(exc.errno, path, doing)) if exc.errno in DISK_ERRORS else None


def unwritable(path):
    """The nearest existing folder of ``path`` (a file to be written, its folders made as needed) when files
    cannot be made there, or a file standing where a folder must be; None when the write can go ahead."""
    folder = Path(path).resolve().parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    return None if existing.is_dir() and os.access(existing, os.W_OK) else existing


def file_sha256(path):
    """The SHA-256 of a file's bytes, in hex: what names a weights file wherever a copy of it goes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_atomically(path, write, what="the file"):
    """``write(file)`` into a temporary file beside ``path``, then rename it into place; on any error
    (a full disk, a checksum ``write`` refuses) the temporary file is removed and the error goes on, a
    refusing disk's as a DiskError saying ``what`` was being written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        refused = disk_error(exc, path, what)
        if refused is None:
            raise
        raise refused from None
    finally:
        tmp.unlink(missing_ok=True)


def remove_orphans(folder):
    """Remove the temporary files in ``folder`` whose writer is gone (a kill -9); live writers' are left alone."""
    for tmp in Path(folder).glob(TEMPORARY):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
