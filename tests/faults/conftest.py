import sys
from pathlib import Path

# The end-to-end kit (the installed `mlops`, sandbox helpers) and this folder's own.
sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).parent))
