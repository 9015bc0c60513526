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

from .. import paths
from .base import NAN, MetricTable, Part, RunHooks, open_regular, safe_text, stat_or_none
from . import tfrecords
from .tfrecords import HEADER, RecordReader, frame, masked_crc  # noqa: F401 - frame re-exported

EVENT_FILE = re.compile(r"^events\.out\.tfevents\.")
MAX_IMAGES = 5000           # image items listed per run
MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))
MAX_TEXT = 4096             # characters of a text summary kept for the config tab
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
                             f"(over {tfrecords.MAX_RECORD >> 20} MiB): not read, later records wait behind it")
            if r.too_long:
                parts.append(f"{r.too_long} record(s) over {tfrecords.MAX_RECORD >> 20} MiB skipped")
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
            if length > tfrecords.MAX_RECORD:
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

