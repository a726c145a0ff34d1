"""Files written so that a kill, a full disk or a second writer never leaves half of one.

Every write goes through a hidden temporary file named after its writer's process,
``.<name>.<pid>.tmp`` beside the target, fsynced and then renamed over it. So a temporary
file whose writer is alive is a write in progress (another runner's, say), and one whose
writer is gone is an orphan that anyone may remove. Standard library only.
"""
import hashlib
import os
from pathlib import Path

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


def file_sha256(path):
    """The SHA-256 of a file's bytes, in hex: what names a weights file wherever a copy of it goes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_atomically(path, write):
    """``write(file)`` into a temporary file beside ``path``, then rename it into place; on any error
    (a full disk, a checksum ``write`` refuses) the temporary file is removed and the error goes on."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_orphans(folder):
    """Remove the temporary files in ``folder`` whose writer is gone (a kill -9); live writers' are left alone."""
    for tmp in Path(folder).glob(TEMPORARY):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
