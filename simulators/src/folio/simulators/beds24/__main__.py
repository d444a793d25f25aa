"""``python -m folio.simulators.beds24 [--port 8202]``: serve the Beds24 simulator."""

import argparse

import uvicorn

from folio.simulators.beds24 import DEFAULT_PORT, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
