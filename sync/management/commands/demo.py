"""`make demo` / `manage.py demo`: every process, with the simulator standing in for GitHub."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sync.management.commands._demo_supervisor import DemoConfig, run_demo, stop_all


class Command(BaseCommand):
    help = "Run ghsync with the GitHub simulator: worker, beat, web server and demo data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=8000, help="web server port")
        parser.add_argument("--simulator-port", type=int, default=8765)

    def handle(self, *args: Any, **options: Any) -> None:
        config = DemoConfig(
            base_dir=Path(settings.BASE_DIR),
            web_port=options["port"],
            sim_port=options["simulator_port"],
        )
        try:
            status = run_demo(config, lambda line: self.stdout.write(line))
        finally:
            stop_all(config)
        if status:
            raise SystemExit(status)
