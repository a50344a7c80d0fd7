import sys
from pathlib import Path

# The end-to-end kit (the installed `mlops`, a stack copied onto the sandbox).
sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).parent))
