"""pytest imports the policy's modules from here and the Python SDK from the copy that
``dunlin policy new`` wrote into ``.dunlin-sdk/`` (``dunlin policy build`` uses its own)."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE / ".dunlin-sdk")]
