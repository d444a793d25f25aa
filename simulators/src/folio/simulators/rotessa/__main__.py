"""Run the simulator: ``python -m folio.simulators.rotessa --port 8201 --seed 1``."""

import argparse

import uvicorn

from folio.simulators.rotessa.app import DEFAULT_API_KEY, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Rotessa API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8201)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args()
    app = create_app(seed=args.seed, api_key=args.api_key, customers=args.customers)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
