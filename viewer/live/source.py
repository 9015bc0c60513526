"""Which event source serves a runs folder: inotify when it can, polling when it must.

inotify cannot serve a root on a network filesystem (writes from other machines raise no
event); ``VIEWER_POLL`` forces polling. Later, while watching, the per-user watch or instance
limit being reached, or the kernel queue overflowing ``OVERFLOWS_BEFORE_POLLING`` times, turns
a watcher to polling too (see ``watchclient`` and ``watcher``).
"""
from __future__ import annotations

import os

NETWORK_FS = frozenset((
    "nfs", "nfs4", "lustre", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "gpfs",
    "beegfs", "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.rclone",
    "fuse.gcsfuse", "panfs", "wekafs", "pvfs2", "orangefs", "fuse.juicefs"))
OVERFLOWS_BEFORE_POLLING = 3  # kernel queue overflows (each costs a full walk) before giving up inotify


def filesystem_type(path, mounts="/proc/mounts"):
    """The type of the filesystem holding ``path`` (longest matching mount point), or ''."""
    path = os.path.realpath(path)
    best, kind = "", ""
    try:
        with open(mounts, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                point = parts[1].replace("\\040", " ")
                inside = path == point or path.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, parts[2]
    except OSError:
        return ""
    return kind


def choose(root, forced_poll=None):
    """('inotify'|'polling', reason) for ``root``, before trying inotify itself."""
    if forced_poll:
        return "polling", f"forced by VIEWER_POLL={forced_poll:g}"
    fs = filesystem_type(root)
    if fs in NETWORK_FS:
        return "polling", f"the root is on {fs}, where writes from other machines raise no inotify event"
    return "inotify", ""


def limit_reached(reason):
    """True when inotify stopped because a kernel limit was reached: a new watch process
    would hit it too, so polling must take over at once."""
    return "limit" in reason
