"""``python -m alignpt`` runs the CLI (spawn-safe: the guard matters for worker processes)."""

from alignpt.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
