"""The bundled demo: example runs of every format plus a run that keeps training.

``start()`` copies ``examples/runs`` into a folder under the system temp dir (never writing into
the checkout), then a background "training job" appends to a live stable-pretraining-style run
there every second: a metrics row, log lines, a tqdm progress bar, an image now and then. Only
one process writes (an flock), so several gunicorn workers share one live run. This writer is
the demo's simulated training job; the viewer itself never writes into a runs folder.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import random
import shutil
import struct
import tempfile
import threading
import time
import zlib

from .data.package_files import bundled_dir

EXAMPLES = os.path.join(bundled_dir("examples"), "runs")
STEPS_PER_RUN = 600
KEEP_LIVE_RUNS = 3


def demo_root():
    return os.path.join(tempfile.gettempdir(), f"tailboard-demo-{os.getuid()}")


def prepare(root=None):
    """Copy the example runs into ``root`` (once) and date them two days back."""
    root = root or demo_root()
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".prepare.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(root, ".prepared")):
            shutil.copytree(EXAMPLES, root, dirs_exist_ok=True)
            old = time.time() - 2 * 86400
            write_sweep(root, old)
            for dirpath, _dirs, files in os.walk(root):
                for f in files:
                    p = os.path.join(dirpath, f)
                    os.chmod(p, 0o644)
                    os.utime(p, (old, old))
            open(os.path.join(root, ".prepared"), "w").close()
    return root


SWEEP_LRS = (0.01, 0.03)
SWEEP_SEEDS = (0, 1, 2)
SWEEP_STEPS = 400


def write_sweep(root, t0):
    """A finished learning-rate sweep, three seeds each, plus a run resumed from a checkpoint.

    Generated (deterministically) rather than committed: six runs to compare, overlay and
    average over seeds; the resumed run logs steps 250..300 twice, as a job requeued by SLURM does.
    """
    for lr in SWEEP_LRS:
        for seed in SWEEP_SEEDS:
            _sweep_run(root, t0, lr, seed)
    _sweep_run(root, t0, 0.1, 0, resumed_at=250, crashed_at=300)


def _sweep_run(root, t0, lr, seed, resumed_at=None, crashed_at=None):
    rng = random.Random(f"{lr}-{seed}")
    name = f"lr{lr}-seed{seed}" + ("-resumed" if resumed_at else "")
    d = os.path.join(root, "sweep", name)
    os.makedirs(d, exist_ok=True)
    rows = ["epoch,lr,step,train/loss,val/acc,val/loss"]
    steps = list(range(1, SWEEP_STEPS + 1))
    if resumed_at:  # crashed at ``crashed_at``, requeued from the checkpoint at ``resumed_at``
        steps = list(range(1, crashed_at + 1)) + list(range(resumed_at + 1, SWEEP_STEPS + 1))
    t = t0
    for s in steps:
        t += 0.5
        loss = 2.5 * math.exp(-s * lr / 3) + 0.2 + 0.1 * seed / 3 + rng.gauss(0, 0.06)
        rows.append(f"{s // 50},{lr},{s},{loss:.6f},,")
        if s % 20 == 0:
            vloss = loss + 0.1 + rng.gauss(0, 0.02)
            rows.append(f"{s // 50},,{s},,{min(0.99, 1 - vloss / 3):.6f},{vloss:.6f}")
    with open(os.path.join(d, "metrics.csv"), "w") as f:
        f.write("\r\n".join(rows) + "\r\n")
    last_loss = float(rows[-1].split(",")[5] or rows[-2].split(",")[5])
    sidecar = {"schema_version": 1, "run_id": name, "run_dir": d, "status": "completed",
               "created_at": t0, "ended_at": t, "updated_at": t, "display_name": name,
               "tags": ["demo", "sweep"] + (["resumed"] if resumed_at else []),
               "notes": "requeued once: steps 251-300 were logged twice" if resumed_at else "",
               "hparams": {"model.name": "tiny-mlp", "model.hidden": 64, "optim.name": "adamw",
                           "optim.lr": lr, "data.batch_size": 32, "trainer.max_steps": SWEEP_STEPS,
                           "seed": seed},
               "summary": {"val/loss": last_loss, "val/acc": min(0.99, 1 - last_loss / 3)},
               "checkpoint_path": None}
    with open(os.path.join(d, "sidecar.json"), "w") as f:
        json.dump(sidecar, f, indent=2)


def png(width, height, pixel):
    """A tiny RGB PNG; ``pixel(x, y) -> (r, g, b)``."""
    raw = b"".join(b"\x00" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


class LiveTrainer:
    """Writes a live spt-style run, one step a second, the way a real training job would.

    ``unstable``: the demo's other job, whose learning rate is too high: after a minute or two
    its loss blows up, turns NaN and the job dies with a traceback (then it starts again), so
    the alert rules have something to say at the demo's first start.
    """

    def __init__(self, root, interval=1.0, seed=None, unstable=False):
        self.root = root
        self.interval = interval
        self.rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.unstable = unstable
        self.folder = "unstable" if unstable else "live"

    def _atomic_json(self, path, data):
        fd, tmp = tempfile.mkstemp(prefix=".sidecar.json.", suffix=".tmp", dir=os.path.dirname(path))
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)

    def new_run(self):
        now = time.time()
        rid = "%012x" % self.rng.getrandbits(48)
        d = os.path.join(self.root, self.folder, time.strftime("%Y%m%d", time.localtime(now)),
                         time.strftime("%H%M%S", time.localtime(now)), rid)
        os.makedirs(os.path.join(d, "media", "samples"), exist_ok=True)
        lr = 0.3 if self.unstable else self.rng.choice([0.003, 0.01, 0.03])
        tags = ["demo", "unstable", "lr-too-high"] if self.unstable else ["demo", "live", f"sweep:lr{lr}"]
        self.run = {"dir": d, "lr": lr, "step": 0, "blow_at": self.rng.randint(60, 120), "sidecar": {
            "schema_version": 1, "run_id": rid, "run_dir": d, "status": "running",
            "created_at": now, "ended_at": None, "updated_at": now, "display_name": f"live-{rid[:6]}",
            "tags": tags, "notes": ("the demo's unstable run: its loss diverges, then it crashes" if self.unstable
                                    else "the demo's live run: one step a second"),
            "hparams": {"model.name": "tiny-mlp", "model.hidden": 64, "optim.name": "adamw",
                        "optim.lr": lr, "data.batch_size": 32, "trainer.max_steps": STEPS_PER_RUN, "seed": rid[:4]},
            "summary": {}, "checkpoint_path": None}}
        with open(os.path.join(d, "metrics.csv"), "w") as f:
            f.write("epoch,lr,step,train/loss,val/acc,val/loss\r\n")
        self._atomic_json(os.path.join(d, "sidecar.json"), self.run["sidecar"])
        open(os.path.join(d, "heartbeat"), "w").close()
        with open(os.path.join(d, "train.err"), "a") as f:
            f.write(f"\x1b[32mINFO\x1b[0m starting run {rid} with lr={lr}\n")
        self._prune()

    def _prune(self):
        live = []
        for dirpath, dirs, files in os.walk(os.path.join(self.root, self.folder)):
            if "sidecar.json" in files:
                live.append(dirpath)
                dirs[:] = []
        for old in sorted(live, key=os.path.getmtime)[:-KEEP_LIVE_RUNS]:
            shutil.rmtree(old, ignore_errors=True)

    def step(self):
        r, d = self.run, self.run["dir"]
        r["step"] += 1
        s, epoch = r["step"], r["step"] // 60
        loss = 2.5 * math.exp(-s * min(r["lr"], 0.03) / 2) + 0.15 + self.rng.gauss(0, 0.05)
        if self.rng.random() < 0.01:
            loss *= 2  # a spike, kept visible by the min/max band (not a divergence)
        if self.unstable and s >= r["blow_at"]:
            if s >= r["blow_at"] + 25:
                return self._crash()
            loss = loss * 1.6 ** (s - r["blow_at"]) if s < r["blow_at"] + 20 else math.nan
        rows = [f"{epoch},{r['lr']},{s},{loss:.6f},,"]
        summary = r["sidecar"]["summary"]
        summary.update({"train/loss": loss, "epoch": epoch, "lr": r["lr"]})
        if s % 10 == 0:
            vloss = loss + 0.1 + self.rng.gauss(0, 0.02)
            acc = min(0.99, 1 - vloss / 3)
            rows.append(f"{epoch},,{s},,{acc:.6f},{vloss:.6f}")
            summary.update({"val/loss": vloss, "val/acc": acc})
            with open(os.path.join(d, "train.out"), "a") as f:
                f.write(f"Epoch {epoch:3d} | step {s:5d} | train/loss {loss:.4f} | val/loss {vloss:.4f} | val/acc {acc:.3f}\n")
        with open(os.path.join(d, "metrics.csv"), "a") as f:
            f.write("\r\n".join(rows) + "\r\n")
        with open(os.path.join(d, "train.err"), "a") as f:
            pct = s % 60 * 100 // 60
            f.write(f"\rEpoch {epoch}: {pct:3d}%|{'█' * (pct // 10):<10}| {s % 60}/60 [loss={loss:.3f}]")
            if s % 60 == 0:
                f.write("\n")
        if s % 30 == 0:
            shade = int(255 * min(1.0, s / STEPS_PER_RUN))
            path = f"media/samples/{s:08d}_0.png"
            with open(os.path.join(d, path), "wb") as f:
                f.write(png(32, 32, lambda x, y: ((x * 8) % 256, (y * 8 + shade) % 256, shade)))
            with open(os.path.join(d, "media.jsonl"), "a") as f:
                f.write(json.dumps({"step": s, "tag": "samples", "type": "image", "path": path,
                                    "caption": f"samples @ step {s}"}) + "\n")
        os.utime(os.path.join(d, "heartbeat"))
        if s % 10 == 0 or s >= STEPS_PER_RUN:
            r["sidecar"]["updated_at"] = time.time()
            if s >= STEPS_PER_RUN:
                r["sidecar"].update(status="completed", ended_at=time.time())
            self._atomic_json(os.path.join(d, "sidecar.json"), r["sidecar"])
        return s >= STEPS_PER_RUN

    def _crash(self):
        """The unstable job dies as real ones do: a traceback, and its sidecar says failed."""
        r, d = self.run, self.run["dir"]
        with open(os.path.join(d, "train.err"), "a") as f:
            f.write("\nTraceback (most recent call last):\n  File \"train.py\", line 88, in <module>\n"
                    "    loss.backward()\nFloatingPointError: loss is NaN at step %d\n" % r["step"])
        r["sidecar"].update(status="failed", ended_at=time.time(), updated_at=time.time())
        self._atomic_json(os.path.join(d, "sidecar.json"), r["sidecar"])
        return True

    def run_forever(self):
        self.new_run()
        while not self.stop_event.wait(self.interval):
            if self.step():
                self.new_run()


def _writer_loop(root, stop_event):
    """Become the one writer when no other process holds the lock; retry every few seconds."""
    lock = open(os.path.join(root, ".writer.lock"), "w")
    while not stop_event.is_set():
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            stop_event.wait(5)
            continue
        unstable = LiveTrainer(root, unstable=True)
        unstable.stop_event = stop_event
        threading.Thread(target=unstable.run_forever, name="tailboard-demo-unstable", daemon=True).start()
        trainer = LiveTrainer(root)
        trainer.stop_event = stop_event
        trainer.run_forever()


def start(root=None):
    """Prepare the demo folder and start its live writer thread; returns (root, stop event)."""
    root = prepare(root)
    stop_event = threading.Event()
    threading.Thread(target=_writer_loop, args=(root, stop_event), name="tailboard-demo", daemon=True).start()
    return root, stop_event
