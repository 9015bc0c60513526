"""PyTorch Lightning ``CSVLogger``: ``<save_dir>/<name>/version_<N>/metrics.csv`` + ``hparams.yaml``.

Since Lightning 2.1 the file is appended, but a new metric name makes Lightning rewrite it
whole with a wider header; :class:`CsvSource` notices the header change and starts over.
"""
from __future__ import annotations

import os
import re

from .base import Part, RunHooks, SourceError, open_regular, safe_text
from .csvmetrics import CsvSource

VERSION_DIR = re.compile(r"^version_\d+$")
MAX_KEYS = 20_000       # YAML aliases can make a 1 kB file a billion keys ("billion laughs")
MAX_YAML = 16 << 20


def flatten(obj, prefix="", budget=None):
    """Nested dicts/lists as one flat dict with dotted keys (``optim.lr``, ``data.augment.0``).
    More than ``MAX_KEYS`` keys (or nesting that refers to itself) raise ValueError."""
    budget = [MAX_KEYS] if budget is None else budget
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}.", budget))
    elif isinstance(obj, list) and obj and all(isinstance(v, (dict, list)) for v in obj):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}.", budget))
    elif isinstance(obj, list):
        budget[0] -= len(obj)
        for i, v in enumerate(obj):
            out[f"{prefix}{i}"] = v
    else:
        budget[0] -= 1
        out[prefix[:-1]] = obj
    if budget[0] < 0:
        raise ValueError(f"more than {MAX_KEYS} keys")
    return out


def read_hparams_yaml(path):
    """A flat dict from a YAML file; an empty file is an empty dict."""
    import yaml

    name = os.path.basename(path)
    try:
        with open_regular(path, within=os.path.dirname(path)) as f:
            if os.fstat(f.fileno()).st_size > MAX_YAML:
                raise SourceError(f"{name}: larger than {MAX_YAML >> 20} MiB; not read")
            # libyaml's C loader when present: ~8x faster, and a scan may read 1,000 of these
            data = yaml.load(f.read().decode("utf-8", errors="replace"),
                             Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise SourceError(f"{name}: {e.strerror}") from e
    except yaml.YAMLError as e:
        # Lightning may dump python objects (!!python/...) that safe_load refuses
        raise SourceError(f"{name}: not plain YAML ({(str(e).splitlines() or [''])[0]})") from e
    except RecursionError:
        raise SourceError(f"{name}: nested too deep") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        data = {"value": data}
    try:
        flat = flatten(data)
    except (ValueError, RecursionError) as e:
        raise SourceError(f"{name}: too many hparams ({e or 'nested in itself'})") from None
    return {safe_text(str(k)): v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
            for k, v in flat.items()}


class LightningHooks(RunHooks):
    watched = ("hparams.yaml",)  # read by ``meta``, not by a source: its edits must refresh the run


HOOKS = LightningHooks()


def detect(dirpath, files, subdirs):
    if "metrics.csv" not in files:
        return None
    if not (VERSION_DIR.match(os.path.basename(dirpath)) or "hparams.yaml" in files):
        return None
    hp = os.path.join(dirpath, "hparams.yaml")
    return Part("lightning", 50, metrics=[CsvSource(os.path.join(dirpath, "metrics.csv"))],
                meta=lambda run_dir: {"hparams": read_hparams_yaml(hp)},
                skip_dirs=("checkpoints",),  # ModelCheckpoint's default folder: weights only
                hooks=HOOKS)
