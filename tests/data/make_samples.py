"""Writes the samples under tests/data with the real writers (run once; the files are committed).

    python tests/data/make_samples.py

- ``tensorboard/scalars/``: tensorboardX 2.6.5 ``SummaryWriter``: ``add_scalar`` (simple_value,
  with and without the scalars plugin's metadata), ``add_text``,
  ``add_image``, ``add_hparams(name=".")`` (session start info in the same folder), then a
  second writer on the same folder (a restart: a new file, steps logged again).
- ``tensorboard/tf2/``: tensorboard 2.21.0's own ``tensorboard.summary.Writer`` (no TensorFlow):
  scalar tensors, as TF2's ``tf.summary.scalar`` writes them.
- ``mlruns/``: mlflow-skinny 3.18.0 ``MlflowClient`` on a file store (``file:`` URI).
"""
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def tensorboard():
    from tensorboardX import SummaryWriter

    out = os.path.join(HERE, "tensorboard", "scalars")
    shutil.rmtree(out, ignore_errors=True)
    w = SummaryWriter(out, filename_suffix=".a")
    for step in range(0, 50):
        w.add_scalar("train/loss", 1.0 / (step + 1), step)
        w.add_scalar("train/acc", step / 50.0, step, display_name="accuracy")  # with plugin metadata
        if step % 10 == 0:
            w.add_scalar("val/loss", 2.0 / (step + 1), step)
    w.add_text("notes", "first **run** of the sample", 0)
    img = np.zeros((3, 8, 8), dtype=np.uint8)
    img[0] = 255
    w.add_image("samples/red", img, 10)
    w.add_hparams({"lr": 0.01, "optimizer": "adam", "bn": True}, {"hparam/best": 0.5}, name=".")
    w.close()
    w = SummaryWriter(out, filename_suffix=".b")  # the restarted job: steps 40..59 again
    for step in range(40, 60):
        w.add_scalar("train/loss", 0.5 / (step + 1), step)
    w.close()
    # tensorboard 2.21.0's own TF-free writer: scalar tensors, as TF2's tf.summary.scalar
    from tensorboard.summary import Writer

    out = os.path.join(HERE, "tensorboard", "tf2")
    shutil.rmtree(out, ignore_errors=True)
    w = Writer(out)
    for step in range(0, 100, 3):
        w.add_scalar("loss", 10.0 - step * 0.05, step, wall_time=1_700_000_000.0 + step)
        w.add_scalar("lr", 1e-3 * (0.99 ** step), step, wall_time=1_700_000_000.0 + step)
    w.close()


def mlruns():
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps the file store in maintenance mode
    from mlflow.tracking import MlflowClient

    out = os.path.join(HERE, "mlruns")
    shutil.rmtree(out, ignore_errors=True)
    client = MlflowClient(tracking_uri="file:" + out)
    exp = client.create_experiment("vision-sweep")
    run = client.create_run(exp, run_name="resnet-lr0.1", tags={"team": "vision",
                                                                "mlflow.note.content": "baseline"})
    rid = run.info.run_id
    client.log_param(rid, "lr", "0.1")
    client.log_param(rid, "optim/name", "sgd")
    for step in range(30):
        client.log_metric(rid, "loss", 1.0 / (step + 1), timestamp=1_700_000_000_000 + step * 1000, step=step)
        client.log_metric(rid, "train/acc", step / 30, timestamp=1_700_000_000_000 + step * 1000, step=step)
    from PIL import Image

    art = os.path.join(HERE, "_artifacts")
    os.makedirs(os.path.join(art, "plots"), exist_ok=True)
    Image.new("RGB", (8, 8), (0, 128, 255)).save(os.path.join(art, "plots", "curve.png"))
    with open(os.path.join(art, "model.txt"), "w") as f:
        f.write("resnet18\n")
    client.log_artifacts(rid, art)
    shutil.rmtree(art)
    client.set_terminated(rid, "FINISHED", end_time=1_700_000_100_000)
    run2 = client.create_run(exp, run_name="resnet-lr1.0")
    client.log_metric(run2.info.run_id, "loss", float("nan"), step=0)
    client.log_metric(run2.info.run_id, "loss", 3.0, step=1)
    client.set_terminated(run2.info.run_id, "FAILED")
    run3 = client.create_run(exp, run_name="deleted")
    client.delete_run(run3.info.run_id)  # the file store marks lifecycle_stage: deleted
    run4 = client.create_run(exp, run_name="still-running")  # left RUNNING
    client.log_metric(run4.info.run_id, "loss", 0.7, step=0)
    print(exp, rid, run2.info.run_id, run3.info.run_id, run4.info.run_id)


if __name__ == "__main__":
    which = sys.argv[1:] or ["tensorboard", "mlruns"]
    for name in which:
        globals()[name]()
