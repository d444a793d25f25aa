"""python -m folio.devstack run | init | revisions | downgrade SERVICE REVISION |
token [--subject S] [--roles admin,finance] | keygen | wait-ready | demo"""

import argparse
import json
import sys

from folio.devstack import stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="folio.devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the whole local system")
    token = sub.add_parser("token", help="mint a local admin bearer token")
    token.add_argument("--subject", default="local-admin")
    token.add_argument("--roles", default="admin", help="comma-separated: admin,finance,viewer")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds")
    keygen = sub.add_parser("keygen", help="a new Ed25519 token key pair (issuer and services)")
    keygen.add_argument("--kid", default="folio-1", help="key id, for rotation")
    sub.add_parser("init", help="one-shot: roles, schemas, migrations, topics (DATABASE_URL=admin)")
    sub.add_parser("revisions", help="each service's head revision in this installation")
    down = sub.add_parser("downgrade", help="rollback: one service's schema back to REVISION")
    down.add_argument("service", help="ledger, registry, rotessa or webhooks")
    down.add_argument("revision", help="the head of the release rolled back to")
    ready = sub.add_parser("wait-ready", help="wait until every service's /readyz is 200")
    ready.add_argument("--timeout", type=float, default=120)
    sub.add_parser("demo", help="load the demo portfolio into the running stack (idempotent)")
    args = parser.parse_args(argv)
    if args.command == "run":
        stack.run()
    elif args.command == "token":
        print(stack.local_token(args.subject, args.roles.split(","), args.ttl))
    elif args.command == "keygen":
        from folio.shared.auth import TokenSigner

        signer = TokenSigner.generate(args.kid)
        print("# the token issuer (console, make token) only:")
        print(f"FOLIO_JWT_KEY_ID={args.kid}")
        print("FOLIO_JWT_PRIVATE_KEY=" + json.dumps(signer.private_pem()))
        print("# every service (add the old key's entry while rotating):")
        print(f"FOLIO_JWT_PUBLIC_KEYS={signer.public_keys_json()!r}")
    elif args.command == "init":
        stack.init_from_environment()
    elif args.command == "revisions":
        from folio.devstack.services import SERVICES

        for spec in SERVICES:
            print(f"{spec.name} {stack.head_revision(spec)}")
    elif args.command == "downgrade":
        stack.downgrade_from_environment(args.service, args.revision)
    elif args.command == "wait-ready":
        return 0 if stack.wait_ready(args.timeout) else 1
    elif args.command == "demo":
        return stack.demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
