"""The ``medsys`` command: the launcher's verbs (``launcher.cli``) and, on top of them, the
chaos scenarios and benchmarks (``chaos.cli``), which drive the launcher."""

from __future__ import annotations

from medsys.chaos.cli import register as register_chaos_commands
from medsys.launcher.cli import cli
from medsys.launcher.cli import main as launcher_main

register_chaos_commands(cli)


def main() -> None:
    launcher_main()


if __name__ == "__main__":
    main()
