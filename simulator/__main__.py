"""`python -m simulator --port 8765 --public-key app.pub.pem ...`"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .dataset import generate
from .server import SimulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A GitHub REST API simulator for ghsync.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", default="3x5x40", help="installations x repos x events")
    parser.add_argument("--app-id", default="1")
    parser.add_argument("--public-key", required=True, type=Path, help="the App's public PEM")
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--secondary-rate", type=float, default=0.0)
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument("--window-seconds", type=float, default=3600)
    parser.add_argument("--token-ttl", type=float, default=3600)
    parser.add_argument("--limit-status", type=int, choices=(403, 429), default=403)
    args = parser.parse_args(argv)

    server = SimulatorServer(
        generate(args.seed, args.size),
        app_id=args.app_id,
        public_key_pem=args.public_key.read_text(),
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        secondary_rate=args.secondary_rate,
        budget=args.budget,
        window_seconds=args.window_seconds,
        token_ttl=args.token_ttl,
        limit_status=args.limit_status,
    )
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
