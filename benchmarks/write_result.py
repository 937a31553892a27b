"""How every benchmark hands back its JSON: to --out when given, else to stdout plus a copy in
benchmarks/results/<name>.json (gitignored) when a name is given."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def write_result(result: dict, out: str | None, name: str | None) -> None:
    text = json.dumps(result, indent=2) + "\n"
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
        return
    print(text, end="")
    if name:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(text)
