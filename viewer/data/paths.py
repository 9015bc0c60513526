"""The one home of path containment and of opening files under the runs folder.

Every file or folder the viewer reads under the root is opened here, never by path with a
plain ``open``:

- **Beneath the root, component by component.** The root is opened as a directory fd; each
  component of the path is opened relative to the previous one with ``O_NOFOLLOW`` (and
  ``O_DIRECTORY`` for folders), then ``fstat``-ed. A symlink is never followed by the kernel:
  its target is read (``readlinkat``) and resolved again beneath the root, so a link that stays
  inside the root still works, and one leading out (or a folder swapped for such a link in the
  middle of a request, ``renameat2(RENAME_EXCHANGE)`` in a loop) is refused. At most
  ``MAX_LINKS`` symlinks are followed per open (loops end). ``..`` never climbs above the root.
  Checking a path (``realpath``) and then opening it is a race; opening it this way is not:
  what was opened is what was checked.
- **Regular files only, never blocking.** Files are opened ``O_NONBLOCK`` (a FIFO swapped in
  for a log or a report would otherwise block the gevent worker until gunicorn kills it), then
  ``fstat``: anything but a regular file is refused.
- **Containment by text** (:func:`contains`) for paths that are built, not opened: a path is
  inside ``root`` when it *is* the root or starts with ``root + "/"`` (never a bare
  ``startswith(root)``: ``/runs-evil`` is not inside ``/runs``).

Readers that do not know their root (format readers get a run folder) are confined to the
roots this process serves: :func:`confine` registers one (``RunStore`` does), and a path is
opened beneath the deepest registered root that contains it, or beneath its own folder when
none does (a reader used on its own, in a test or a script).

This module never imports Flask.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat

#: Symlinks followed while resolving one path (Linux's own limit is 40).
MAX_LINKS = 40

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_PATH = getattr(os, "O_PATH", os.O_RDONLY)       # a handle for walking, not for reading
_DIR = _PATH | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_FILE = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | _CLOEXEC

_roots: set[str] = set()


class Outside(OSError):
    """The path leads out of the root (by ``..`` or by a symlink); never read."""

    def __init__(self, path, why="leads out of the root"):
        super().__init__(errno.EXDEV, why, path)


# -- containment by text --------------------------------------------------------------------

def contains(root, path):
    """True when the absolute ``path`` is ``root`` or lies under it, by text (no file system).

    Both should be normalised (``os.path.abspath`` or ``realpath``); ``..`` is not resolved.
    """
    root = root.rstrip(os.sep) or os.sep
    return path == root or path.startswith(root if root == os.sep else root + os.sep)


def strictly_inside(root, path):
    """True when ``path`` lies under ``root`` and is not the root itself (by text)."""
    return path != root.rstrip(os.sep) and contains(root, path)


def confine(root):
    """Register a root this process serves: readers' opens under it stay beneath it."""
    _roots.add(os.path.realpath(root))
    _roots.add(os.path.abspath(root))


def root_of(path):
    """The deepest registered root containing ``path``, or None."""
    path = os.path.abspath(path)
    best = None
    for r in _roots:
        if contains(r, path) and (best is None or len(r) > len(best)):
            best = r
    return best


# -- resolving beneath a directory fd ----------------------------------------------------------

def _parts(root, path):
    """The components of ``path`` (absolute, or relative to ``root``) below ``root``."""
    if os.path.isabs(path):
        path = os.path.normpath(path)
        if not contains(root, path):
            real = os.path.realpath(root)
            if not contains(real, path):
                raise Outside(path)
            root = real
        path = path[len(root.rstrip(os.sep)):]
    return [p for p in path.split(os.sep) if p not in ("", ".")]


def _walk(root, path, final):
    """Open ``path`` beneath ``root``; ``final(name, dirfd)`` opens the last component (with
    ``O_NOFOLLOW``) and returns an fd. Returns ``(fd, components)``: ``components`` are the
    real names below the root (no symlink among them). Raises OSError (``Outside``, ELOOP...)."""
    root = os.path.abspath(root)
    todo = _parts(root, path)
    base = os.open(root, _DIR & ~os.O_NOFOLLOW)
    fds, names, links = [base], [], 0
    try:
        if not todo:
            return os.dup(base) if final is None else final(".", base), []
        while todo:
            name = todo.pop(0)
            if name in ("", "."):
                continue
            if name == "..":
                if len(fds) == 1:
                    raise Outside(path)
                os.close(fds.pop())
                names.pop()
                if not todo:
                    todo = ["."]
                continue
            last = not todo
            try:
                if last:
                    fd = final(name, fds[-1])
                    mode = os.fstat(fd).st_mode
                    if stat.S_ISLNK(mode):  # O_PATH|O_NOFOLLOW opened the link itself
                        os.close(fd)
                        raise OSError(errno.ELOOP, "a symlink", name)
                    names.append(name)
                    return fd, names
                fd = os.open(name, _DIR, dir_fd=fds[-1])
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                try:
                    target = os.readlink(name, dir_fd=fds[-1])
                except OSError:
                    raise e from None  # not a symlink (or swapped back since): a real ENOTDIR
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many levels of symbolic links", path) from None
                if os.path.isabs(target):
                    rest = _parts(root, target)  # Outside when it leads out
                    while len(fds) > 1:
                        os.close(fds.pop())
                    names = []
                else:
                    rest = [p for p in target.split(os.sep) if p not in ("", ".")]
                todo = rest + todo
                if not todo:
                    todo = ["."]
                continue
            fds.append(fd)
            names.append(name)
        # the path ended on ".." or "." after a link: the folder reached is the answer
        return os.dup(fds[-1]) if final is None else final(".", fds[-1]), names
    finally:
        for fd in fds:
            os.close(fd)


def _open_path(name, dirfd):
    return os.open(name, _PATH | os.O_NOFOLLOW | _CLOEXEC, dir_fd=dirfd)


def resolve(root, path):
    """``(real path, stat)`` of ``path`` beneath ``root``, symlinks inside the root followed.

    ``path`` is absolute or relative to the root. Raises OSError (``Outside`` when it leads
    out). The real path has no symlink left in it: nothing of it was trusted to the kernel.
    """
    fd, names = _walk(root, path, _open_path)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return os.path.join(os.path.abspath(root), *names), st


def stat_beneath(root, path):
    """``os.stat`` of ``path`` resolved beneath ``root``; None when missing or outside."""
    try:
        return resolve(root, path)[1]
    except (OSError, ValueError):
        return None


def is_inside(path, folder):
    """True when ``path`` resolves beneath ``folder`` (symlinks followed only inside it) and is
    not ``folder`` itself. Never raises: a vanished, looping or racing path is not inside."""
    try:
        real, _st = resolve(folder, os.path.abspath(path))
    except (OSError, ValueError):
        return False
    return real != os.path.abspath(folder)


def escapes(path, root):
    """True when ``path`` is a symlink (or passes through one) that leads out of ``root``;
    False for a missing file (nothing to read) and for one inside."""
    try:
        resolve(root, os.path.abspath(path))
    except Outside:
        return True
    except (OSError, ValueError) as e:
        return e.errno == errno.ELOOP
    return False


# -- opening ---------------------------------------------------------------------------------

def _open_file(name, dirfd):
    return os.open(name, _FILE, dir_fd=dirfd)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(os.uname().machine)
RESOLVE_NO_MAGICLINKS, RESOLVE_BENEATH = 0x02, 0x08
try:
    _syscall = ctypes.CDLL(None, use_errno=True).syscall if _SYS_OPENAT2 else None
except (OSError, AttributeError):
    _syscall = None


def _openat2_beneath(root, rel):
    """One ``openat2(RESOLVE_BENEATH)`` (Linux 5.6+): the kernel refuses any step out of the root
    (``..``, absolute or outside symlinks: EXDEV). None when the kernel has no openat2 or refuses
    (an absolute symlink that stays inside is refused too): the component walk then decides."""
    global _syscall
    if _syscall is None or os.path.isabs(rel):
        return None
    try:
        dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    except OSError:
        return None
    try:
        how = _OpenHow(_FILE & ~os.O_NOFOLLOW, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
        fd = _syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(os.fsencode(rel)),
                      ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if fd < 0:
            if ctypes.get_errno() == errno.ENOSYS:
                _syscall = None  # an older kernel (or a seccomp filter): the walk from now on
            return None
        return fd
    finally:
        os.close(dirfd)


def open_fd(root, path):
    """A read-only fd of the regular file ``path`` beneath ``root``: never follows a symlink out,
    never blocks (FIFO), refuses folders, devices and sockets. Raises OSError."""
    rel = os.sep.join(_parts(os.path.abspath(root), path))
    fd = _openat2_beneath(root, rel) if rel else None
    if fd is None:
        fd, _names = _walk(root, path, _open_file)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise OSError(errno.EISDIR, "a folder, not a file", path)
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file (FIFO, socket or device)", path)
        return fd
    except BaseException:
        os.close(fd)
        raise


def open_regular(path, within=None):
    """``open(path, "rb")`` for a regular file beneath ``within`` (default: the registered root
    containing it, else its own folder). See :func:`open_fd`. Raises OSError."""
    path = os.path.abspath(path)
    if within is None:
        within = root_of(path) or os.path.dirname(path)
    if within is not None and not strictly_inside(os.path.abspath(within), path):
        real = os.path.realpath(within)
        if not strictly_inside(real, path):
            raise Outside(path, "a symlink leading out of the run folder, not read")
        within = real
    try:
        fd = open_fd(within, path)
    except Outside:
        raise Outside(path, "a symlink leading out of the run folder, not read") from None
    return os.fdopen(fd, "rb")


def _open_dir(name, dirfd):
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC, dir_fd=dirfd)


def open_dir(root, path):
    """``(fd, real path)`` of the folder ``path`` beneath ``root``. Raises OSError."""
    fd, names = _walk(root, path, _open_dir)
    return fd, os.path.join(os.path.abspath(root), *names)


def scandir(root, path):
    """``[(name, stat)]`` of the folder ``path`` beneath ``root``: entries are ``lstat``-ed, and a
    symlink is replaced by its target's stat when it resolves inside the root (left out
    otherwise). Names are ``str`` (surrogate-escaped, as ``os.listdir``). Raises OSError when
    the folder itself cannot be opened beneath the root."""
    fd, real = open_dir(root, path)
    out = []
    try:
        for name in os.listdir(fd):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    st = resolve(root, os.path.join(real, name))[1]
            except (OSError, ValueError):
                continue
            out.append((name, st))
    finally:
        os.close(fd)
    return out


def listdir(root, path):
    """Names in the folder ``path`` beneath ``root`` (nothing followed). Raises OSError."""
    fd, _real = open_dir(root, path)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def entries(root, path):
    """``with entries(root, path) as (real, it)``: ``os.scandir`` of the folder opened beneath
    ``root`` (``DirEntry`` objects: their type comes from the listing, no stat). ``real`` is the
    folder's path with no symlink in it. Raises OSError when it cannot be opened beneath."""
    fd, real = open_dir(root, path)
    try:
        with os.scandir(fd) as it:
            yield real, it
    finally:
        os.close(fd)


def walk(root, top, max_depth=12):
    """Yield ``(folder, files)`` for ``top`` and its subfolders, each listed beneath ``root``:
    symlinked folders are not entered (no loop); a symlinked file counts when it resolves to a
    regular file inside the root. ``folder`` is as reached from ``top`` (no link in it)."""
    stack = [(top, 0)]
    while stack:
        folder, depth = stack.pop()
        files, subdirs = [], []
        try:
            with entries(root, folder) as (real, it):
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            subdirs.append(e.name)
                        elif e.is_symlink():
                            st = stat_beneath(root, os.path.join(real, e.name))
                            if st is not None and stat.S_ISREG(st.st_mode):
                                files.append(e.name)
                        else:
                            files.append(e.name)
                    except OSError:
                        continue
        except OSError:
            continue
        yield folder, files
        if depth < max_depth:
            stack += [(os.path.join(folder, d), depth + 1) for d in sorted(subdirs, reverse=True)]
