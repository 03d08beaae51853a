import sys
from pathlib import Path

# The service is not an installed package: make `import app` work from its directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
