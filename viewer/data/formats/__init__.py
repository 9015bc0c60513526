"""One module per on-disk layout. Each has ``detect(dirpath, files, subdirs) -> Part | None``.

To add a format (MLflow file store, TensorBoard event files): write a module with ``detect``
and a metric source class (``path``, ``table``, ``refresh() -> bool``), and list it here.
Rules about the whole run (a declared status, files to watch, logs kept elsewhere) go in a
``base.RunHooks`` subclass handed to the ``Part`` (see ``spt.SptHooks``): ``Run`` knows no format.
"""
from . import csvmetrics, hf, jsonl, keras, lightning, logs, mlflow, spt, tfevents

READERS = (spt, mlflow, hf, lightning, tfevents, keras, jsonl, csvmetrics, logs)
