import sys
from pathlib import Path

# Import the tutorial before anything imports NumPy, so that its environment settings
# (the Keras backend, one BLAS thread) take effect in the tests as they do in the script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import catch_es  # noqa: E402,F401
