"""`python -m simulator --port 8765 --public-key app.pub.pem ...`, or
`--app-key-dir DIR` to have the simulator make the App's key pair the way GitHub does
("Generate a private key" on the App's settings page): the private key is written for
the App to use, the simulator keeps the public half."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from .dataset import generate, parse_busy
from .graphql.schema import github_schema
from .server import SimulatorServer
from .testing import generate_app_keypair

PRIVATE_KEY_FILE = "app-private-key.pem"
PUBLIC_KEY_FILE = "app-public-key.pem"


def app_key_ensure(directory: Path) -> Path:
    """The App's public key file in `directory`, the pair generated there if absent."""
    private_path = directory / PRIVATE_KEY_FILE
    public_path = directory / PUBLIC_KEY_FILE
    if not private_path.exists() or not public_path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        private_pem, public_pem = generate_app_keypair()
        private_path.write_text(private_pem)
        private_path.chmod(0o600)
        public_path.write_text(public_pem)
    return public_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A GitHub REST and GraphQL API simulator for ghsync."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", default="3x5x40", help="installations x repos x events")
    parser.add_argument(
        "--busy",
        help="sparse activity: B:N = the first B repositories of each installation get N"
        " events of each kind, the others between 1 and the size's number",
    )
    parser.add_argument("--app-id", default="1")
    keys = parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--public-key", type=Path, help="the App's public PEM")
    keys.add_argument(
        "--app-key-dir", type=Path, help="make (or reuse) the App's key pair in this folder"
    )
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--secondary-rate", type=float, default=0.0)
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument(
        "--graphql-points", type=int, default=5000, help="hourly GraphQL points per installation"
    )
    parser.add_argument("--window-seconds", type=float, default=3600)
    parser.add_argument("--token-ttl", type=float, default=3600)
    parser.add_argument("--limit-status", type=int, choices=(403, 429), default=403)
    args = parser.parse_args(argv)
    public_key = args.public_key or app_key_ensure(args.app_key_dir)

    server = SimulatorServer(
        generate(args.seed, args.size, busy=parse_busy(args.busy)),
        app_id=args.app_id,
        public_key_pem=public_key.read_text(),
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        secondary_rate=args.secondary_rate,
        budget=args.budget,
        window_seconds=args.window_seconds,
        token_ttl=args.token_ttl,
        limit_status=args.limit_status,
        graphql_points=args.graphql_points,
    )
    # Building GitHub's schema takes seconds: do it now, not in the first /graphql request.
    threading.Thread(target=github_schema, name="graphql-schema", daemon=True).start()
    server.bind()
    sys.stdout.write(f"simulator listening on {server.url}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
