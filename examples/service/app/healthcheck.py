"""The container's HEALTHCHECK: exit 0 when /health answers 200 (no curl in slim images)."""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/health"
try:
    with urllib.request.urlopen(url, timeout=8) as response:
        sys.exit(0 if response.status == 200 else 1)
except OSError:
    sys.exit(1)
