"""pytest finds the policy's modules and the SDK from here, without installing either."""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent / "guest-sdk" / "python")]
