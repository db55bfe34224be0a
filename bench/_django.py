"""Make the project importable and Django configured for bench scripts run from anywhere."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup(settings: str = "config.settings.local") -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings)
    # Measured as production runs: without DEBUG, which records every query's SQL in memory.
    os.environ.setdefault("DJANGO_DEBUG", "0")
    import django

    django.setup()
