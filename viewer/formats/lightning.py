"""PyTorch Lightning ``CSVLogger``: ``<save_dir>/<name>/version_<N>/metrics.csv`` + ``hparams.yaml``.

Since Lightning 2.1 the file is appended, but a new metric name makes Lightning rewrite it
whole with a wider header; :class:`CsvSource` notices the header change and starts over.
"""
from __future__ import annotations

import os
import re

from .base import Part, SourceError
from .csvmetrics import CsvSource

VERSION_DIR = re.compile(r"^version_\d+$")


def flatten(obj, prefix=""):
    """Nested dicts/lists as one flat dict with dotted keys (``optim.lr``, ``data.augment.0``)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    elif isinstance(obj, list) and obj and all(isinstance(v, (dict, list)) for v in obj):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out[f"{prefix}{i}"] = v
    else:
        out[prefix[:-1]] = obj
    return out


def read_hparams_yaml(path):
    """A flat dict from a YAML file; an empty file is an empty dict."""
    import yaml

    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            # libyaml's C loader when present: ~8x faster, and a scan may read 1,000 of these
            data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise SourceError(f"{os.path.basename(path)}: {e.strerror}") from e
    except yaml.YAMLError as e:
        # Lightning may dump python objects (!!python/...) that safe_load refuses
        raise SourceError(f"{os.path.basename(path)}: not plain YAML ({str(e).splitlines()[0]})") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        return {"value": data}
    return {k: v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
            for k, v in flatten(data).items()}


def detect(dirpath, files, subdirs):
    if "metrics.csv" not in files:
        return None
    if not (VERSION_DIR.match(os.path.basename(dirpath)) or "hparams.yaml" in files):
        return None
    hp = os.path.join(dirpath, "hparams.yaml")
    return Part("lightning", 50, metrics=[CsvSource(os.path.join(dirpath, "metrics.csv"))],
                meta=lambda run_dir: {"hparams": read_hparams_yaml(hp)},
                skip_dirs=("checkpoints",))  # ModelCheckpoint's default folder: weights only
