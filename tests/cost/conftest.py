import sys
from pathlib import Path

# The end-to-end kit (the installed `mlops`, an example stack on its sandbox).
sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))
