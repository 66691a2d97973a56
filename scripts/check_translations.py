"""Refresh the German catalogue from the code and fail if any message lacks a translation.

Runs `makemessages` (needs GNU gettext), so a string added to the code without a
German translation shows up here, not in front of a customer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PO_FILE = ROOT / "konto" / "locale" / "de" / "LC_MESSAGES" / "django.po"


def main() -> int:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "konto.settings", "KONTO_INSECURE_DEV_KEY": "true"}
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "--locale=de",
            "--no-location",
            "--no-obsolete",
            "--ignore=var/*",
            "--ignore=benchmarks/*",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(message.id if isinstance(message.id, str) else message.id[0])
    if problems:
        print(f"{len(problems)} message(s) without a German translation in {PO_FILE.relative_to(ROOT)}:")
        for msgid in problems:
            print(f"  - {msgid!r}")
        return 1
    print(f"German translation complete: {sum(1 for m in catalog if m.id)} messages.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
