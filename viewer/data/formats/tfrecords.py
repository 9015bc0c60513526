"""TFRecord framing of TensorBoard event files: ``uint64 length``, ``uint32 masked CRC32C of
the length``, ``length`` bytes, ``uint32 masked CRC32C of the data`` (little endian), read
incrementally by :class:`RecordReader` from a remembered offset; :func:`frame` writes one."""
from __future__ import annotations

import struct

from google_crc32c import value as _crc32c

from ..cooperative import turn
from .base import open_regular

HEADER = 12                 # uint64 length + uint32 length CRC
MAX_RECORD = 64 << 20       # an image summary is a few MB; a bigger length is garbage or hostile
CHUNK = 4 << 20             # bytes read per call when catching up
MASK_DELTA = 0xA282EAD8
_HEAD = struct.Struct("<QI")
_CRC = struct.Struct("<I")


def masked_crc(data):
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def frame(data):
    """One TFRecord holding ``data`` (what a writer appends); for tests and the bench."""
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked_crc(head)) + data + struct.pack("<I", masked_crc(data))


class RecordReader:
    """Complete records of one growing file, from a remembered offset."""

    def __init__(self, path):
        self.path = path
        self.restart()

    def restart(self):
        self.offset = 0
        self.head = b""          # the first bytes read: a rewritten file shows a different head
        self.bad_crc = 0         # records skipped for a wrong data CRC
        self.bad_length = 0      # places where the length CRC was wrong (resynchronised)
        self.too_long = 0        # records over MAX_RECORD, skipped unread
        self.not_events = False  # the first record is no record: not an event file
        self.huge = None         # (offset, length) of a record over MAX_RECORD not (yet) all there

    def rewound(self, size):
        if size < self.offset:
            return True
        if self.head:
            try:
                with open_regular(self.path) as f:
                    return f.read(len(self.head)) != self.head
            except OSError:
                return True
        return False

    def records(self, size):
        """Yield lists of ``(offset, data)``: the complete, valid records between the offset and
        ``size``, one list per chunk read."""
        if self.not_events:
            return
        with open_regular(self.path) as f:
            while self.offset + HEADER <= size:
                f.seek(self.offset)
                buf = f.read(min(CHUNK, size - self.offset))
                if not self.head:
                    self.head = buf[:64]
                pos, n = 0, len(buf)
                out = []
                crc, head_of, crc_of = _crc32c, _HEAD.unpack_from, _CRC.unpack_from
                while pos + HEADER <= n:
                    length, lcrc = head_of(buf, pos)
                    c = crc(buf[pos:pos + 8])
                    if (((c >> 15) | (c << 17)) + MASK_DELTA) & 0xFFFFFFFF != lcrc:
                        if self.offset + pos == 0:
                            self.not_events = True  # a CSV named like an event file, say
                            self.offset = size
                            return
                        self.bad_length += 1
                        pos = self._resync(buf, pos + 1)
                        continue
                    end = pos + HEADER + length + 4
                    if length > MAX_RECORD:
                        if self.offset + end > size:
                            self.huge = (self.offset + pos, length)
                            break  # may still be written; never allocated
                        self.too_long += 1
                        pos = end
                        continue
                    if end > n:
                        break  # torn: the rest is not written yet (or not in this chunk)
                    data = buf[pos + HEADER:end - 4]
                    c = crc(data)
                    if (((c >> 15) | (c << 17)) + MASK_DELTA) & 0xFFFFFFFF != crc_of(buf, end - 4)[0]:
                        self.bad_crc += 1
                    else:
                        out.append((self.offset + pos, data))
                    pos = end
                if out:
                    yield out
                if pos == 0:
                    if self.offset + n >= size or n < CHUNK:
                        return  # a torn record (or a large one still being written)
                    # a record larger than a chunk: read it whole next time round
                    f.seek(self.offset)
                    (length,) = struct.unpack_from("<Q", buf, 0)
                    if self.offset + HEADER + length + 4 > size:
                        return
                    rec = f.read(HEADER + length + 4)
                    data = rec[HEADER:HEADER + length]
                    if masked_crc(data) == struct.unpack_from("<I", rec, HEADER + length)[0]:
                        yield [(self.offset, data)]
                    else:
                        self.bad_crc += 1
                    self.offset += HEADER + length + 4
                    continue
                self.offset += pos
                turn()  # let other greenlets run between chunks

    def _resync(self, buf, pos):
        """The next position in ``buf`` where a header's length CRC holds (or the end)."""
        n = len(buf)
        while pos + HEADER <= n:
            if masked_crc(buf[pos:pos + 8]) == struct.unpack_from("<I", buf, pos + 8)[0]:
                return pos
            pos += 1
        return max(pos, n - HEADER + 1) if n >= HEADER else n
