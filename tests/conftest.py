import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import jupytext
import nbclient
import pytest

# Import the tutorial before anything imports NumPy, so that its environment settings
# (the Keras backend, one BLAS thread) take effect in the tests as they do in the script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# One compile cache for the whole suite, in a folder that the first process makes and everything it starts inherits
# through TF_XLA_FLAGS: xdist's workers, the scripts they run, Ray's workers. A program compiled in one of them is
# loaded by the others; the user's own cache is never read or written (a TF_XLA_FLAGS that names a cache is left
# alone, by catch_es.main too). Set before TensorFlow first reads its flags. CATCH_ES_CACHE=off also reaches the
# tests' own runs, for the cache's tests, which set their own.
if "persistent_cache" not in os.environ.get("TF_XLA_FLAGS", ""):
    SUITE_CACHE = tempfile.mkdtemp(prefix="catch_es-suite-cache-")
    flags = os.environ.get("TF_XLA_FLAGS", "")
    os.environ["TF_XLA_FLAGS"] = (
        f"{flags} --tf_xla_persistent_cache_directory={SUITE_CACHE}".strip()
    )

# Ray, as the tests start it: on the loopback address only (Ray otherwise turns 127.0.0.1 into the machine's own
# address, and its servers listen on every interface), and with token authentication, Ray 2.61's default for every
# cluster, with a token of this run's own. Set before anything imports Ray, which reads them once.
os.environ.update(
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    RAY_AUTH_MODE="token",
    RAY_AUTH_TOKEN=secrets.token_hex(16),
)


@pytest.fixture
def study_notebook(tmp_path, monkeypatch):
    """Run a study as a notebook in tmp_path, its last cell (the script's `main`) replaced by `last_cell`;
    return what that cell printed."""
    # as if opened beside catch_es.py
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))

    def run(path, last_cell):
        notebook = jupytext.read(path)
        assert notebook.cells[0].cell_type == "markdown" and "main(" in notebook.cells[-1].source
        notebook.cells[-1].source = last_cell
        nbclient.NotebookClient(
            notebook, timeout=600, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
        return "".join(output.get("text", "") for output in notebook.cells[-1].outputs)

    return run


# The files by the time their tests took (`python -m pytest --durations=0`, 2026-12-03: seconds per file), the
# longest first, so that the two workers, each taking the next file as it finishes one, end together (xdist's
# own order, by number of tests, left one worker 20 s behind the other). A file not named here goes last.
LONGEST_FIRST = [
    "test_es_vs_rl.py",
    "test_cluster.py",
    "test_compile_cache.py",
    "test_scale_out.py",
    "test_faults.py",
    "test_fast.py",
    "test_script.py",
    "test_checkpoints.py",
    "test_es.py",
    "test_training.py",
]


def pytest_collection_modifyitems(items):
    rank = {name: index for index, name in enumerate(LONGEST_FIRST)}
    # stable: each file's tests keep their order
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def pytest_unconfigure(config):
    # the process that made it: the last out
    if "SUITE_CACHE" in globals() and not hasattr(config, "workerinput"):
        shutil.rmtree(SUITE_CACHE, ignore_errors=True)
