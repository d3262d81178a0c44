"""The README's configuration table names every environment variable that settings.py reads."""

import re
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def test_every_setting_from_the_environment_is_documented():
    source = (BASE_DIR / "tourbrain_support" / "settings.py").read_text()
    read = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", (BASE_DIR / "README.md").read_text(), re.M))
    assert read, "no env(...) calls found in settings.py"
    missing = sorted(read - documented)
    assert not missing, f"add these variables to the README configuration table: {missing}"
