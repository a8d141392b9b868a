"""Set up the ``omniforge-variant`` contender of ``benchmarks.compare`` to cost access control:
a policy file of N rules whose last one is the one that matches, and a room-scoped token for a
user the policy decides for (the Jupyter token would be the owner, whom no policy is asked
about). Prints the environment to export.

    eval "$(.venv/bin/python -m benchmarks.policy_variant --rules 100 --dir /tmp/policy-bench)"
    .venv/bin/python -m benchmarks.compare --servers omniforge,omniforge-variant \\
        --workloads fanout,rate --rounds 3

The variant's server uses the same token as its Jupyter token, so every request carries it and
the server verifies it as a room-scoped token first.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from jupyter_omniforge.access.policy import parse_rules
from jupyter_omniforge.access.tokens import Tokens, load_or_create_secret


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.policy_variant")
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--dir", default="/tmp/omniforge-policy-bench")
    args = parser.parse_args()
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["default: none", "rules:"]
    for i in range(args.rules - 1):
        lines += [
            f'  - rooms: "project:p{i}"',
            f"    users: [user{i}]",
            f"    groups: [team{i}]",
            "    allow: [read, write, presence, emit]",
        ]
    lines += ['  - rooms: "*"', '    users: ["*"]', "    allow: [read, write, presence, emit]"]
    policy = directory / "policy.yaml"
    policy.write_text("\n".join(lines) + "\n")
    assert len(parse_rules(policy.read_text()).rules) == args.rules
    secret = directory / "token-secret"
    token, _ = Tokens(load_or_create_secret(secret)).mint(
        "bench", rooms=["*"], permissions=["read", "write", "presence", "emit"], ttl=7 * 86400
    )
    extra = f"--OmniForgeApp.room_policy_file={policy} --OmniForgeApp.token_secret_file={secret}"
    print(f"export OMNIFORGE_VARIANT_ARGS={shlex.quote(extra)}")
    print(f"export OMNIFORGE_VARIANT_TOKEN={shlex.quote(token)}")


if __name__ == "__main__":
    main()
