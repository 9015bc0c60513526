"""Build synthetic but realistic run trees for Tailboard benchmarks.

    python bench/make_runs.py --out /tmp/runs --runs 1000            # 1,000 runs, mixed formats
    python bench/make_runs.py --out /tmp/big --runs 0 --big-rows 1000000

The layouts copy the real samples in ``tests/data/samples`` (see ``tests/data/README.md``):

- ``spt/runs/YYYYMMDD/HHMMSS/<12hex>/``: sidecar.json, heartbeat, metrics.csv (Lightning layout,
  CRLF), hparams.yaml, summary.json, train.out/train.err (tqdm ``\\r`` bars, warnings,
  tracebacks for failed runs), media.jsonl + PNGs for some, ``output_dir`` + submitit logs for sweeps
- ``lightning/<project>/lightning_logs/version_N/``: metrics.csv + nested hparams.yaml
- ``keras/<exp>/training.log`` (or ``history.csv``): one row per epoch, ``NA`` cells
- ``hf/<exp>/``: trainer_state.json (when finished) + ``checkpoint-N/`` (last two kept)
- ``jsonl/<exp>/metrics.jsonl``: nested ``val`` dicts, a partial last line while running
- ``slurm/<job>/slurm-<id>.out|err``: log-only folders (finished, traceback, time limit, OOM)

Everything random comes from ``random.Random(seed)`` (default 0); times are relative to
``--now`` (default: the current time), so ``--now`` pins the output byte for byte.
Each generated folder is exactly one run as the viewer discovers it.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import struct
import sys
import time
import zlib
from array import array

# fraction of runs per format (the remainder goes to spt)
MIX = (("lightning", 0.25), ("keras", 0.10), ("hf", 0.10), ("jsonl", 0.10), ("slurm", 0.05))
DAY = 86400.0


# -- helpers -------------------------------------------------------------------------------


def f32(x):
    """The float Lightning writes for a float32 tensor (``0.05`` -> ``0.05000000074505806``)."""
    return struct.unpack("f", struct.pack("f", x))[0]


def write(path, data, mtime=None, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb" if isinstance(data, bytes) else "w", newline="" if isinstance(data, str) else None) as f:
        f.write(data)
    if mode is not None:
        os.chmod(path, mode)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def cell(v):
    return "" if v is None else repr(v) if isinstance(v, float) else str(v)


def csv_text(header, rows, sep=",", eol="\r\n"):
    """Rows (dicts) as CSV text; absent keys are empty cells (Lightning's sparse rows)."""
    out = [sep.join(header)]
    out += [sep.join(cell(r.get(k)) for k in header) for r in rows]
    return eol.join(out) + eol


def yaml_dump(d, indent=0):
    """A tiny YAML writer for nested dicts / lists of scalars (hparams.yaml as Lightning dumps it)."""
    pad = "  " * indent
    lines = []
    for k in sorted(d):
        v = d[k]
        if isinstance(v, dict):
            lines.append(f"{pad}{k}:")
            lines.append(yaml_dump(v, indent + 1))
        elif isinstance(v, list):
            lines.append(f"{pad}{k}:")
            lines += [f"{pad}- {x}" for x in v]
        elif v is None:
            lines.append(f"{pad}{k}: null")
        elif isinstance(v, bool):
            lines.append(f"{pad}{k}: {'true' if v else 'false'}")
        else:
            lines.append(f"{pad}{k}: {v}")
    return "\n".join(lines)


def flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            out.update({f"{prefix}{k}.{i}": x for i, x in enumerate(v)})
        else:
            out[f"{prefix}{k}"] = v
    return out


def png(rng, w=16, h=16):
    """A small valid grayscale PNG."""
    raw = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(w)) for _ in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def curve(rng, n, start=2.5, floor=0.3, noise=0.05):
    """A decaying, noisy loss curve of n points."""
    tau = n / rng.uniform(2.0, 5.0)
    return [f32(floor + (start - floor) * math.exp(-i / tau) + rng.gauss(0, noise) * (1 + math.exp(-i / tau)))
            for i in range(n)]


def hparams(rng):
    model = rng.choice(["resnet18", "resnet50", "vit_s16", "mlp", "convnext_t"])
    return {
        "model": {"name": model, "hidden": rng.choice([64, 128, 256, 512]), "depth": rng.randint(2, 24),
                  "dropout": rng.choice([0.0, 0.1, 0.2])},
        "optim": {"name": rng.choice(["sgd", "adamw", "lars"]), "lr": rng.choice([1e-4, 3e-4, 1e-3, 0.05, 0.1]),
                  "momentum": 0.9, "weight_decay": rng.choice([0.0, 1e-4, 0.05])},
        "data": {"name": rng.choice(["cifar10", "imagenet100", "tinyimagenet", "synthetic"]),
                 "batch_size": rng.choice([64, 128, 256, 512]), "augment": ["jitter", "crop", "flip"][: rng.randint(1, 3)]},
        "trainer": {"max_epochs": rng.randint(10, 200), "precision": rng.choice(["32-true", "bf16-mixed"]),
                    "devices": rng.choice([1, 2, 4, 8])},
        "seed": rng.randint(0, 9999),
    }


TQDM_BLOCKS = " ▏▎▍▌▋▊▉█"


def tqdm_line(label, i, n, rate):
    frac = i / n
    full, part = divmod(int(frac * 10 * 8), 8)
    bar = "█" * full + (TQDM_BLOCKS[part] if full < 10 else "") + " " * (10 - full - (1 if full < 10 else 0))
    return f"\r{label}: {int(frac * 100):3d}%|{bar}| {i}/{n} [00:{i // 60:02d}<00:00, {rate:.2f}it/s]"


def lightning_rows(rng, n_rows, every=4, steps_per_epoch=None, names=("train/loss", "lr", "val/loss", "val/acc")):
    """Sparse Lightning rows: a train row every ``every`` steps, a val row at each epoch end."""
    steps_per_epoch = steps_per_epoch or every * rng.randint(8, 40)
    train_per_epoch = steps_per_epoch // every
    n_epochs = max(1, n_rows // (train_per_epoch + 1))
    loss = curve(rng, n_epochs * train_per_epoch)
    vloss = curve(rng, n_epochs, start=2.0, floor=0.4, noise=0.02)
    lr0 = rng.choice([1e-4, 3e-4, 1e-3, 0.05, 0.1])
    tr, lr_name, vl, va = names
    rows, k = [], 0
    for e in range(n_epochs):
        for j in range(train_per_epoch):
            step = e * steps_per_epoch + (j + 1) * every - 1
            lr = f32(lr0 * 0.5 * (1 + math.cos(math.pi * step / (n_epochs * steps_per_epoch))))
            rows.append({"epoch": e, "step": step, tr: loss[k], lr_name: lr})
            k += 1
        rows.append({"epoch": e, "step": (e + 1) * steps_per_epoch - 1, vl: vloss[e],
                     va: f32(min(0.99, 1.0 - vloss[e] / 2.2 + rng.gauss(0, 0.01)))})
    return rows[:n_rows] if len(rows) > n_rows else rows


# -- one run per format --------------------------------------------------------------------


class Tree:
    def __init__(self, out, rng, now):
        self.out = os.path.abspath(out)
        self.rng = rng
        self.now = now
        self.n = {k: 0 for k in ("spt", "lightning", "keras", "hf", "jsonl", "slurm")}
        self.sweeps = []

    def times(self):
        """(created, updated) of a run: started in the last 60 days, ran minutes to a day."""
        created = self.now - self.rng.uniform(0.02, 60) * DAY
        return created, min(self.now - 1, created + self.rng.uniform(300, DAY))

    # spt ----------------------------------------------------------------------------------

    def spt(self):
        rng = self.rng
        created, updated = self.times()
        status = rng.choices(["completed", "running", "failed", "orphaned"], [60, 15, 15, 10])[0]
        if status == "running":  # half live (fresh heartbeat), half stale
            updated = self.now - (rng.uniform(1, 60) if rng.random() < 0.5 else rng.uniform(900, 3 * DAY))
            created = min(created, updated - 600)
        tm = time.gmtime(created)
        rid = "%012x" % rng.getrandbits(48)
        d = os.path.join(self.out, "spt", "runs", time.strftime("%Y%m%d", tm), time.strftime("%H%M%S", tm), rid)
        hp = hparams(rng)
        flat_hp = flat(hp)
        tags = [hp["model"]["name"]]
        if rng.random() < 0.4:
            if not self.sweeps or rng.random() < 0.2:
                self.sweeps.append(("%08x" % rng.getrandbits(32), 0))
            sweep, task = self.sweeps[-1]
            self.sweeps[-1] = (sweep, task + 1)
            tags.append(f"sweep:{sweep}")
            if rng.random() < 0.5:  # a submitit sweep: output_dir + per-rank logs beside it
                out_dir = os.path.join(self.out, "spt", "outputs", sweep, str(task))
                flat_hp["output_dir"] = out_dir
                write(os.path.join(out_dir, "config.yaml"), yaml_dump(hp) + "\n", updated)
                sub = os.path.join(self.out, "spt", "outputs", sweep, f"{sweep}_{task}", ".submitit")
                for rank in range(rng.choice([1, 2])):
                    for kind in ("out", "err"):
                        write(os.path.join(sub, f"{sweep}_{task}_{rank}_log.{kind}"),
                              f"submitit INFO ({time.strftime('%Y-%m-%d %H:%M:%S', tm)}) Starting with JobEnvironment\n"
                              + "".join(f"rank {rank} step {s}\n" for s in range(0, 2000, 50)), updated)
        rows = lightning_rows(rng, rng.randint(200, 600))
        header = ["epoch", "lr", "step", "train/loss", "val/acc", "val/loss"]
        write(os.path.join(d, "metrics.csv"), csv_text(header, rows), updated)
        last = {}
        for r in rows:
            last.update({k: float(v) for k, v in r.items()})
        summary = {k: last[k] for k in ("train/loss", "lr", "epoch", "val/loss", "val/acc") if k in last}
        sidecar = {
            "schema_version": 1, "run_id": rid, "run_dir": d, "status": status,
            "created_at": created, "ended_at": updated if status in ("completed", "failed") else None,
            "updated_at": updated, "tags": tags,
            "notes": rng.choice(["", "", "baseline", "try warmup", "sanity check"]),
            "hparams": flat_hp, "summary": summary, "checkpoint_path": None,
        }
        if rng.random() < 0.3:
            sidecar["display_name"] = f"{hp['model']['name']}-{hp['data']['name']}-{rid[:4]}"
        write(os.path.join(d, "sidecar.json"), json.dumps(sidecar, indent=2), updated, 0o600)
        write(os.path.join(d, "heartbeat"), b"", updated)
        write(os.path.join(d, "hparams.yaml"), yaml_dump(hp) + "\n", created)
        write(os.path.join(d, "summary.json"), json.dumps({"schema_version": 1, "run_id": rid, "run_dir": d,
                                                            "updated_at": updated, "step": rows[-1]["step"],
                                                            "metrics": {k: {"last": v} for k, v in summary.items()}},
                                                           indent=2), updated, 0o600)
        self._spt_logs(d, rows, status, created, updated)
        if rng.random() < 0.2:
            self._media(d, rows, updated)
        self.n["spt"] += 1

    def _spt_logs(self, d, rows, status, created, updated):
        rng = self.rng
        out, err = [], ["Seed set to %d\n" % rng.randint(0, 9999)]
        n = 48
        err.append("".join(tqdm_line("Caching features", i, n, 240.0 + rng.random()) for i in range(n + 1)) + "\n")
        err.append("/usr/lib/python3.11/site-packages/torch/utils/data/dataloader.py:617: FutureWarning: "
                   "the 'num_workers' default will change\n  warnings.warn(\n")
        err.append("LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]\n\n  | Name  | Type | Params\n"
                   "-------------------------------\n0 | model | MLP  | 1.2 M\n")
        for r in rows:
            if "val/loss" in r:
                out.append(f"Epoch {r['epoch']:3d} | step {r['step']:5d} | val/loss {r['val/loss']:.4f} | "
                           f"val/acc {r['val/acc']:.3f} | {rng.uniform(10, 90):.1f}s\n")
                err.append("".join(tqdm_line(f"Epoch {r['epoch']}", i, 20, 8 + rng.random()) for i in (0, 5, 10, 15, 20)) + "\n")
        if status == "failed":
            err.append("Traceback (most recent call last):\n  File \"train.py\", line 88, in <module>\n"
                       "    main()\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
        write(os.path.join(d, "train.out"), "".join(out), updated)
        write(os.path.join(d, "train.err"), "".join(err), updated)

    def _media(self, d, rows, updated):
        rng = self.rng
        lines = []
        for r in [r for r in rows if "val/loss" in r][:6]:
            for tag in ("val/reconstruction", "samples"):
                rel = f"media/{tag.replace('/', '__')}/{r['step'] + 1:08d}_0.png"
                write(os.path.join(d, rel), png(rng), updated)
                lines.append(json.dumps({"step": r["step"] + 1, "tag": tag, "type": "image", "path": rel,
                                         "caption": f"{tag} @ epoch {r['epoch']}"}) + "\n")
        write(os.path.join(d, "media.jsonl"), "".join(lines), updated)

    # lightning ----------------------------------------------------------------------------

    def lightning(self):
        rng = self.rng
        project = f"proj{self.n['lightning'] // 8:03d}"  # about 8 versions per project
        version = self.n["lightning"] % 8
        d = os.path.join(self.out, "lightning", project, "lightning_logs", f"version_{version}")
        created, updated = self.times()
        if rng.random() < 0.5:
            names = ("train/loss", "lr", "val/loss", "val/acc")
            header = ["epoch", "lr", "step", "train/loss", "val/acc", "val/loss"]
        else:  # on_step + on_epoch logging and a LearningRateMonitor
            names = ("loss_step", "lr-AdamW", "val_loss", "val_acc")
            header = ["epoch", "loss_step", "lr-AdamW", "step", "val_acc", "val_loss"]
        rows = lightning_rows(rng, rng.randint(200, 600), every=rng.choice([1, 4, 10, 50]), names=names)
        if rng.random() < 0.05:  # a diverged run: nan then inf
            rows[-2][names[0]], rows[-1][names[0]] = math.nan, math.inf
        write(os.path.join(d, "metrics.csv"), csv_text(header, rows), updated)
        write(os.path.join(d, "hparams.yaml"), yaml_dump(hparams(rng)) + "\n", created)
        self.n["lightning"] += 1

    # keras --------------------------------------------------------------------------------

    def keras(self):
        rng = self.rng
        d = os.path.join(self.out, "keras", f"exp{self.n['keras']:04d}")
        created, updated = self.times()
        epochs = rng.randint(200, 500)
        loss, vloss = curve(rng, epochs, 0.7, 0.2, 0.01), curve(rng, epochs, 0.7, 0.3, 0.02)
        vfreq = rng.choice([1, 1, 1, 5])  # validation_freq > 1 leaves NA cells
        header = ["epoch", "accuracy", "auc", "learning_rate", "loss", "val_accuracy", "val_auc", "val_loss"]
        rows = []
        for e in range(epochs):
            r = {"epoch": e, "accuracy": f32(1 - loss[e] / 1.4), "auc": f32(1 - loss[e] / 2),
                 "learning_rate": f32(1e-3 * 0.98 ** e), "loss": loss[e]}
            v = e % vfreq == 0
            r.update({"val_accuracy": f32(1 - vloss[e] / 1.4) if v else "NA", "val_auc": f32(1 - vloss[e] / 2) if v else "NA",
                      "val_loss": vloss[e] if v else "NA"})
            rows.append(r)
        sep = ";" if rng.random() < 0.1 else ","
        name = "history.csv" if rng.random() < 0.3 else "training.log"
        write(os.path.join(d, name), csv_text(header, rows, sep=sep), updated)
        self.n["keras"] += 1

    # hugging face -------------------------------------------------------------------------

    def hf(self):
        rng = self.rng
        d = os.path.join(self.out, "hf", f"bert-exp{self.n['hf']:04d}")
        created, updated = self.times()
        logging_steps, eval_steps = rng.choice([(10, 100), (20, 200), (50, 500)])
        n_train = rng.randint(150, 400)
        max_steps = n_train * logging_steps
        finished = rng.random() < 0.7
        done_steps = max_steps if finished else rng.randint(n_train // 3, n_train) * logging_steps
        loss = curve(rng, n_train, 0.7, 0.3, 0.01)
        history = []
        for i in range(done_steps // logging_steps):
            step = (i + 1) * logging_steps
            history.append({"epoch": round(step / max_steps * 3, 4), "grad_norm": f32(rng.uniform(0.1, 2.0)),
                            "learning_rate": 5e-5 * (1 - step / max_steps), "loss": loss[i], "step": step})
            if step % eval_steps == 0:
                history.append({"epoch": round(step / max_steps * 3, 4), "eval_loss": f32(loss[i] + 0.05),
                                "eval_accuracy": f32(1 - loss[i]), "eval_runtime": rng.uniform(1, 9),
                                "eval_samples_per_second": rng.uniform(300, 5000),
                                "eval_steps_per_second": rng.uniform(30, 500), "step": step})

        def state(upto, summary):
            hist = [h for h in history if h["step"] <= upto]
            if summary:
                hist.append({"epoch": 3.0, "step": upto, "total_flos": 1.7e14, "train_loss": sum(loss) / len(loss),
                             "train_runtime": rng.uniform(600, 90000), "train_samples_per_second": 400.0,
                             "train_steps_per_second": 12.5})
            return json.dumps({"best_global_step": None, "best_metric": None, "best_model_checkpoint": None,
                               "epoch": round(upto / max_steps * 3, 4), "eval_steps": eval_steps, "global_step": upto,
                               "is_hyper_param_search": False, "is_local_process_zero": True,
                               "is_world_process_zero": True, "log_history": hist, "logging_steps": logging_steps,
                               "max_steps": max_steps, "num_input_tokens_seen": 0, "num_train_epochs": 3,
                               "save_steps": eval_steps, "stateful_callbacks": {}, "total_flos": 1.7e14,
                               "train_batch_size": 32, "trial_name": None, "trial_params": None}, indent=2)

        saves = list(range(eval_steps, done_steps + 1, eval_steps))[-2:]  # save_total_limit=2
        for s in saves:
            ck = os.path.join(d, f"checkpoint-{s}")
            write(os.path.join(ck, "trainer_state.json"), state(s, False), updated)
            write(os.path.join(ck, "config.json"), json.dumps({"architectures": ["BertForSequenceClassification"],
                                                               "hidden_size": 256, "model_type": "bert"}, indent=2), updated)
        if finished or not saves:
            write(os.path.join(d, "trainer_state.json"), state(done_steps, finished), updated)
        self.n["hf"] += 1

    # metrics.jsonl ------------------------------------------------------------------------

    def jsonl(self):
        rng = self.rng
        d = os.path.join(self.out, "jsonl", f"run{self.n['jsonl']:04d}")
        created, updated = self.times()
        n = rng.randint(200, 600)
        loss = curve(rng, n, 2.4, 0.2, 0.02)
        dt = (updated - created) / n
        lines = []
        for i in range(n):
            rec = {"step": i * 10, "time": round(created + i * dt, 3), "epoch": i // 100,
                   "loss": round(loss[i], 6), "acc": round(min(0.99, 1 - loss[i] / 2.5), 6)}
            if i % 10 == 9:
                rec["val"] = {"loss": round(loss[i] + 0.08, 6), "acc": round(min(0.99, 1 - loss[i] / 2.3), 6)}
            lines.append(json.dumps(rec) + "\n")
        text = "".join(lines)
        if rng.random() < 0.1:  # still running: the last line is half written
            text += json.dumps({"step": n * 10, "loss": 0.5})[:12]
        write(os.path.join(d, "metrics.jsonl"), text, updated)
        self.n["jsonl"] += 1

    # slurm log-only folders ---------------------------------------------------------------

    def slurm(self):
        rng = self.rng
        job = 4_000_000 + self.n["slurm"] * 1000 + rng.randrange(1000)
        d = os.path.join(self.out, "slurm", f"{rng.choice(['pretrain', 'eval', 'sweep', 'preprocess'])}_{job}")
        created, updated = self.times()
        end = rng.choices(["ok", "traceback", "timelimit", "oom"], [60, 20, 10, 10])[0]
        out = [f"\x1b[32mINFO\x1b[0m job {job} on node{rng.randint(1, 64):03d} started\n"]
        for i in range(rng.randint(200, 600)):
            out.append(f"[{i:05d}] loss={rng.uniform(0.1, 3):.4f} lr={rng.uniform(1e-5, 1e-3):.2e} "
                       f"throughput={rng.uniform(100, 900):.1f} samples/s\n")
            if i % 50 == 0:
                out.append("".join(tqdm_line("eval", k, 10, 5.0) for k in range(11)) + "\n")
        err = ["\x1b[33mWARNING\x1b[0m NCCL_DEBUG not set\n"]
        if end == "traceback":
            err.append("Traceback (most recent call last):\n  File \"run.py\", line 12, in <module>\n"
                       "KeyError: 'label'\n")
        elif end == "timelimit":
            err.append(f"slurmstepd: error: *** JOB {job} ON node001 CANCELLED AT 2026-01-01T00:00:00 DUE TO TIME LIMIT ***\n")
        elif end == "oom":
            err.append("slurmstepd: error: Detected 1 oom-kill event(s). Some of your processes may have been killed.\n")
        else:
            out.append("done.\n")
        write(os.path.join(d, f"slurm-{job}.out"), "".join(out), updated)
        if end != "ok" or rng.random() < 0.5:
            write(os.path.join(d, f"slurm-{job}.err"), "".join(err), updated)
        self.n["slurm"] += 1


def make_tree(out, runs, seed=0, now=None):
    """Write ``runs`` runs under ``out``; returns the count per format."""
    rng = random.Random(seed)
    tree = Tree(out, rng, time.time() if now is None else now)
    kinds = []
    for name, frac in MIX:
        kinds += [name] * round(runs * frac)
    kinds = kinds[:runs] + ["spt"] * max(0, runs - len(kinds))
    rng.shuffle(kinds)
    for kind in kinds:
        getattr(tree, kind)()
    return tree.n


def write_big_csv(path, rows, seed=0, steps_per_epoch=10_000, val_every=100, header_only=False):
    """A Lightning-layout metrics.csv of ``rows`` rows: a train row every step (``train/loss``,
    ``lr``) and every ``val_every`` steps a val row (``val/loss``, ``val/acc``); CRLF endings.

    Returns the number of bytes written.
    """
    rng = random.Random(seed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    header = "epoch,lr,step,train/loss,val/acc,val/loss\r\n"
    with open(path, "w", newline="", buffering=1 << 20) as f:
        f.write(header)
        if header_only:
            return len(header)
        written, step, block = 1, 0, 8192
        while written <= rows:
            n = min(block, rows - written + 1)
            steps = range(step, step + n)
            # float32 values as Lightning writes them, computed in bulk
            loss = array("f", [0.3 + 2.2 * math.exp(-s / 250_000) + rng.gauss(0, 0.03) for s in steps]).tolist()
            lr = array("f", [1e-3 * 0.5 * (1 + math.cos(math.pi * s / (rows * 1.2))) for s in steps]).tolist()
            out = []
            for i, s in enumerate(steps):
                e = s // steps_per_epoch
                out.append(f"{e},{lr[i]!r},{s},{loss[i]!r},,\r\n")
                if s % val_every == val_every - 1:
                    v = f32(0.4 + 2.0 * math.exp(-s / 250_000) + rng.gauss(0, 0.01))
                    out.append(f"{e},,{s},,{f32(1 - v / 2.6)!r},{v!r}\r\n")
            if written + len(out) > rows + 1:
                out = out[: rows + 1 - written]
            f.write("".join(out))
            written += len(out)
            step += n
        return f.tell()


def write_big_run(out, rows, seed=0):
    """``<out>/big/lightning_logs/version_0/`` with the big metrics.csv and an hparams.yaml."""
    d = os.path.join(out, "big", "lightning_logs", "version_0")
    size = write_big_csv(os.path.join(d, "metrics.csv"), rows, seed)
    write(os.path.join(d, "hparams.yaml"), yaml_dump(hparams(random.Random(seed))) + "\n")
    return os.path.join(d, "metrics.csv"), size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder to write the runs into (created if missing)")
    ap.add_argument("--runs", type=int, default=1000, help="number of runs in the format mix (default 1000)")
    ap.add_argument("--big-rows", type=int, default=0,
                    help="also write big/lightning_logs/version_0/metrics.csv with this many rows")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--now", type=float, default=None, help="epoch seconds the run times are relative to")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    counts = make_tree(args.out, args.runs, args.seed, args.now) if args.runs else {}
    if args.big_rows:
        path, size = write_big_run(args.out, args.big_rows, args.seed)
        print(f"big: {path} ({args.big_rows:,} rows, {size / 1e6:.1f} MB)")
    print(f"wrote {sum(counts.values())} runs {counts} under {os.path.abspath(args.out)} "
          f"in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
