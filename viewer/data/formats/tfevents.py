"""TensorBoard event files: a folder holding ``events.out.tfevents.*`` is a run.

A file is a sequence of TFRecords: ``uint64 length``, ``uint32 masked CRC32C of the length``,
``length`` bytes of an ``Event`` protobuf, ``uint32 masked CRC32C of the data`` (all little
endian). The framing is read here; the messages are parsed with tensorboardX's compiled
protos (``protobuf``); the CRC is ``google-crc32c`` (C, ~1 GB/s; a Python table is ~5 MB/s,
a 1,000,000-scalar file would spend seconds in it).

Several files in one folder (a restarted writer starts a new one) are read in name order
(the name holds the creation time) into one table; a restart's steps going back are purged
by the store, as for CSV. Reading is incremental per file (byte offset of the last complete
record); a torn last record waits; a record whose length or data CRC is wrong is skipped
and counted (the run's row shows it); a length beyond ``MAX_RECORD`` is never allocated.

Scalars: ``simple_value`` and scalar tensors (TF2 ``tf.summary.scalar``, tensorboardX
``new_style``). Text summaries go to the config tab (last value per tag); the HParams
plugin's session start info becomes the run's hparams. Lightning's ``version_N/`` adds its
``hparams.yaml``; Hugging Face's ``<output_dir>/runs/<date>_<host>/`` belongs to the output
dir's run (see ``hf.py``).
"""
from __future__ import annotations

import os
import re
import struct
from array import array

from google_crc32c import value as _crc32c

from .. import paths
from ..cooperative import turn
from .base import NAN, MetricTable, Part, RunHooks, open_regular, safe_text, stat_or_none

EVENT_FILE = re.compile(r"^events\.out\.tfevents\.")
HEADER = 12                 # uint64 length + uint32 length CRC
MAX_RECORD = 64 << 20       # an image summary is a few MB; a bigger length is garbage or hostile
CHUNK = 4 << 20             # bytes read per call when catching up
MAX_IMAGES = 5000           # image items listed per run
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
MAX_TEXT = 4096             # characters of a text summary kept for the config tab
MASK_DELTA = 0xA282EAD8
_HEAD = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_BYTE = [bytes((i,)) for i in range(256)]

BATCH = 4096                # records parsed by one ParseFromString
_pb = None


def protos():
    """(event_pb2, plugin_hparams_pb2, EventBatch), imported on first use (tensorboardX brings numpy).

    ``EventBatch`` is ``message EventBatch { repeated Event events = 1; }``, declared here through
    protobuf's descriptor API: records framed as its field 1 are parsed by one call in C."""
    global _pb
    if _pb is None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        from tensorboardX.proto import event_pb2, plugin_hparams_pb2

        pool = descriptor_pool.Default()
        name = "tailboard/event_batch.proto"
        try:
            desc = pool.FindMessageTypeByName("tailboard.EventBatch")
        except KeyError:
            f = descriptor_pb2.FileDescriptorProto(name=name, package="tailboard", syntax="proto3",
                                                   dependency=[event_pb2.DESCRIPTOR.name])
            m = f.message_type.add(name="EventBatch")
            m.field.add(name="events", number=1, label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
                        type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                        type_name="." + event_pb2.Event.DESCRIPTOR.full_name)
            pool.Add(f)
            desc = pool.FindMessageTypeByName("tailboard.EventBatch")
        _pb = (event_pb2, plugin_hparams_pb2, message_factory.GetMessageClass(desc))
    return _pb


def _varint(n):
    if n < 0x80:
        return _BYTE[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(data):
    """``data`` as field 1 (length-delimited) of an ``EventBatch``."""
    return b"\x0a" + _varint(len(data)) + data


def masked_crc(data):
    crc = _crc32c(data)
    return (((crc >> 15) | (crc << 17)) + MASK_DELTA) & 0xFFFFFFFF


def image_type(data):
    """The MIME type of encoded image bytes, from their magic number (never text or HTML)."""
    for magic, mime in MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


class EventMedia:
    """The images of a run's event files as media items (``blob`` says where each lies)."""

    def __init__(self, source):
        self.source = source

    @property
    def items(self):
        return self.source.images

    def refresh(self):
        return list(self.source.images)

    def blob(self, item):
        return self.source.image(item)


def _listdir(folder):
    """Names in ``folder``, listed beneath the root it lies in (``paths``). Raises OSError."""
    return paths.listdir(paths.root_of(folder) or folder, folder)


def is_event_file(name):
    return bool(EVENT_FILE.match(name)) and not name.endswith((".tmp", ".lock"))


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


def _scalar(value):
    """The float a summary value holds, or None (an image, a histogram, text)."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor":
        t = value.tensor
        if t.tensor_shape.dim and any(d.size != 1 for d in t.tensor_shape.dim):
            return None
        if t.float_val:
            return float(t.float_val[0])
        if t.double_val:
            return float(t.double_val[0])
        if t.int_val:
            return float(t.int_val[0])
        if t.int64_val:
            return float(t.int64_val[0])
        if t.tensor_content:
            fmt = {1: "<f", 2: "<d", 3: "<i", 9: "<q", 19: "<e"}.get(t.dtype)
            if fmt and len(t.tensor_content) == struct.calcsize(fmt):
                return float(struct.unpack(fmt, t.tensor_content)[0])
    return None


class EventSource:
    """Every event file of one folder, merged into one :class:`MetricTable` in name order."""

    kind = "tfevents"

    def __init__(self, run_dir, names):
        self.run_dir = run_dir
        self.names = list(names)
        self.path = os.path.join(run_dir, self.names[-1])  # the newest: a new file changes the run
        self.table = MetricTable()
        self.readers = {}
        self.plugins = {}    # tag -> plugin name (the metadata comes with a tag's first value)
        self.hparams = {}
        self.text = {}       # tag -> (step, text)
        self.first_time = None
        self.last_time = None
        self.bad_events = 0  # records with a good CRC that are no Event
        self.images = []     # media items, in file order (append-only: the list is a cursor)

    @property
    def problem(self):
        out = []
        for r in self.readers.values():
            name = safe_text(os.path.basename(r.path))
            if r.not_events:
                out.append(f"{name}: not a TensorBoard event file (first record's length CRC is wrong)")
                continue
            parts = []
            if r.bad_crc:
                parts.append(f"{r.bad_crc} record(s) with a wrong data CRC skipped")
            if r.bad_length:
                parts.append(f"{r.bad_length} place(s) with a wrong length CRC skipped")
            if r.huge and r.huge[0] >= r.offset:
                parts.append(f"the record at byte {r.huge[0]} announces {r.huge[1]:,} bytes "
                             f"(over {MAX_RECORD >> 20} MiB): not read, later records wait behind it")
            if r.too_long:
                parts.append(f"{r.too_long} record(s) over {MAX_RECORD >> 20} MiB skipped")
            if parts:
                out.append(f"{name}: " + "; ".join(parts))
        if self.bad_events:
            out.append(f"{self.bad_events} record(s) with a good CRC but no Event skipped")
        return "; ".join(out) or None

    def _reset(self):
        self.table.reset()
        self.plugins, self.hparams, self.text = {}, {}, {}
        self.first_time = self.last_time = None
        self.bad_events = 0
        self.images = []
        for r in self.readers.values():
            r.restart()

    def refresh(self) -> bool:
        try:
            names = sorted(f for f in _listdir(self.run_dir) if is_event_file(f))
        except OSError:
            names = []
        changed = False
        if names[:len(self.names)] != self.names or any(n not in names for n in self.readers):
            self._reset()  # a file vanished or an older one appeared: order changed, start over
            self.readers = {}
            changed = True
        self.names = names
        stats = []
        for n in names:
            p = os.path.join(self.run_dir, n)
            st = stat_or_none(p)
            if st is None:
                continue
            r = self.readers.get(n) or self.readers.setdefault(n, RecordReader(p))
            if r.rewound(st.st_size):
                self._reset()
                changed = True
            stats.append((r, st.st_size))
        if not stats:
            return changed
        for r, size in stats:
            batch, name = [], os.path.basename(r.path)
            for recs in r.records(size):
                batch += recs
                if len(batch) >= BATCH:
                    changed |= self._events(batch, name)
                    batch = []
            if batch:
                changed |= self._events(batch, name)
        return changed

    def _events(self, records, name):
        """Parse a batch of records in one call (as one ``EventBatch``, C does the loop) and
        append their scalars column-wise; a batch that does not parse is parsed record by record,
        so one bad record (a good CRC over bytes that are no Event) costs only itself."""
        batch_cls = protos()[2]
        batch = batch_cls()
        buf = b"".join(_field(data) for _, data in records)
        try:
            batch.ParseFromString(buf)
            events = zip((at for at, _ in records), batch.events)
        except Exception:  # noqa: BLE001
            events = []
            for at, data in records:
                one = batch_cls()
                try:
                    one.ParseFromString(_field(data))
                except Exception:  # noqa: BLE001
                    self.bad_events += 1
                    continue
                events.append((at, one.events[0]))
        cols = {}
        plugins = self.plugins
        for at, ev in events:
            wall = ev.wall_time
            if wall:
                self.first_time = self.first_time or wall
                self.last_time = wall
            values = ev.summary.value
            if not values:
                continue
            step = float(ev.step)
            for i, v in enumerate(values):
                tag = v.tag
                plugin = plugins.get(tag)
                if plugin is None:
                    plugin = plugins[tag] = v.metadata.plugin_data.plugin_name
                if plugin == "" or plugin == "scalars":
                    kind = v.WhichOneof("value")
                    if kind == "simple_value":
                        y = v.simple_value
                    elif kind == "image":
                        self._image(tag, ev.step, name, at, i, 0)
                        continue
                    else:
                        y = _scalar(v)
                        if y is None:
                            continue
                    c = cols.get(tag)
                    if c is None:
                        c = cols[tag] = ([], [], [])
                    c[0].append(step)
                    c[1].append(wall or NAN)
                    c[2].append(y)
                elif plugin == "hparams":
                    self._hparams(v)
                elif plugin == "images":  # TF2 tf.summary.image: [width, height, image, ...]
                    for k in range(max(0, len(v.tensor.string_val) - 2)):
                        self._image(tag, ev.step, name, at, i, k)
                elif plugin == "text":
                    t = v.tensor
                    if t.string_val:
                        text = b"\n".join(t.string_val).decode("utf-8", "replace")
                        self.text[safe_text(tag)] = (ev.step, text[:MAX_TEXT])
        for tag, (steps, walls, ys) in cols.items():
            s = self.table.get(tag)
            s.step.extend(array("d", steps))
            s.epoch.extend(array("d", [NAN]) * len(steps))
            s.time.extend(array("d", walls))
            s.y.extend(array("d", ys))
        return bool(records)

    def _image(self, tag, step, name, at, i, k):
        if len(self.images) < MAX_IMAGES:
            self.images.append({"tag": safe_text(tag), "step": step, "type": "image", "path": name,
                                "caption": f"{safe_text(tag)} step {step}" + (f" #{k}" if k else ""),
                                "blob": (name, at, i, k), "index": len(self.images)})

    def image(self, item):
        """``(bytes, mimetype)`` of an image item: its record read again, checked, parsed."""
        name, at, i, k = item["blob"]
        if name not in self.readers:
            return None
        with open_regular(os.path.join(self.run_dir, name), within=self.run_dir) as f:
            f.seek(at)
            head = f.read(HEADER)
            if len(head) < HEADER or masked_crc(head[:8]) != struct.unpack_from("<I", head, 8)[0]:
                return None
            (length,) = struct.unpack_from("<Q", head)
            if length > MAX_RECORD:
                return None
            rec = f.read(length + 4)
        data = rec[:length]
        if len(rec) < length + 4 or masked_crc(data) != struct.unpack_from("<I", rec, length)[0]:
            return None  # rewritten since it was listed
        ev = protos()[0].Event()
        ev.ParseFromString(data)
        v = ev.summary.value[i]
        img = v.image.encoded_image_string if v.WhichOneof("value") == "image" else v.tensor.string_val[k + 2]
        return img, image_type(img)

    def _hparams(self, v):
        hp = protos()[1].HParamsPluginData()
        try:
            hp.ParseFromString(v.metadata.plugin_data.content)
        except Exception:  # noqa: BLE001
            return
        if hp.WhichOneof("data") != "session_start_info":
            return
        for k, val in hp.session_start_info.hparams.items():
            kind = val.WhichOneof("kind")
            if kind in ("number_value", "string_value", "bool_value"):
                self.hparams[safe_text(k)] = getattr(val, kind)

    def meta(self, run_dir):
        out = {"hparams": dict(self.hparams)}
        if self.first_time:
            out["created_at"] = self.first_time
        if self.text:
            out["text"] = {k: f"{t} (step {s})" for k, (s, t) in self.text.items()}
        return out


class EventHooks(RunHooks):
    """The files to stamp: every event file the sources know now (a new one joins), and extras."""

    def __init__(self, sources, prefix="", extra=()):
        self.sources, self.prefix, self.extra = sources, prefix, tuple(extra)

    @property
    def watched(self):
        out = list(self.extra)
        for src in self.sources:
            sub = self.prefix + os.path.basename(src.run_dir) + "/" if self.prefix else ""
            out += [sub + n for n in src.names]
        return tuple(out)


def event_names(files):
    return sorted(f for f in files if is_event_file(f))


def detect(dirpath, files, subdirs):
    names = event_names(files)
    if not names:
        return None
    if os.path.basename(os.path.dirname(dirpath)) == "runs" and hf_output_dir(os.path.dirname(os.path.dirname(dirpath))):
        return None  # HF Trainer's logging dir: part of its output dir's run
    source = EventSource(dirpath, names)
    extra = ()
    meta = source.meta
    if "hparams.yaml" in files:  # Lightning's TensorBoardLogger: version_N/hparams.yaml
        from .lightning import read_hparams_yaml

        hp = os.path.join(dirpath, "hparams.yaml")
        extra = ("hparams.yaml",)

        def meta(run_dir, source=source, hp=hp):
            out = source.meta(run_dir)
            out["hparams"] = {**read_hparams_yaml(hp), **out["hparams"]}
            return out
    return Part("tensorboard", 40, metrics=[source], meta=meta, media=EventMedia(source),
                hooks=EventHooks([source], extra=extra))


def hf_output_dir(path):
    """True when ``path`` looks like a Hugging Face Trainer output dir (its state or a checkpoint)."""
    try:
        entries = _listdir(path)
    except OSError:
        return False
    return "trainer_state.json" in entries or any(re.match(r"^checkpoint-\d+$", e) for e in entries)


def hf_logging_parts(dirpath, subdirs):
    """Event sources of ``<output_dir>/runs/<date>_<host>/`` for an HF output dir's run, and
    their hooks (None when there is none)."""
    if "runs" not in subdirs:
        return [], None
    base = os.path.join(dirpath, "runs")
    sources = []
    try:
        with paths.entries(paths.root_of(base) or base, base) as (_real, it):
            subs = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return [], None
    for d in subs:
        try:
            names = event_names(_listdir(os.path.join(base, d)))
        except OSError:
            continue
        if names:
            sources.append(EventSource(os.path.join(base, d), names))
    return sources, (EventHooks(sources, prefix="runs/") if sources else None)

