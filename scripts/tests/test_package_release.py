"""scripts/package-release.sh with the real Docker engine: the tarball holds the image's binary
byte for byte, and SHA256SUMS verifies with sha256sum."""

from __future__ import annotations

import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SCRIPTS, load_script

# A variant name no catalog has, so the test image never shadows a real build.
TEST_VARIANT = "packaging-test"


def docker_available() -> bool:
    return shutil.which("docker") is not None and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def storage_image(tmp_path: Path):
    if not docker_available():
        pytest.skip("no Docker engine")
    names = load_script("release_names").release_names()
    image = f"{names['STORAGE_REPOSITORY']}:{names['VERSION']}-{TEST_VARIANT}"
    context = tmp_path / "context"
    context.mkdir()
    binary = context / "sutra-storage"
    binary.write_bytes(b"\x7fELF pretend static binary\n" + bytes(range(256)))
    binary.chmod(0o755)
    (context / "Dockerfile").write_text("FROM scratch\nCOPY sutra-storage /sutra-storage\nENTRYPOINT [\"/sutra-storage\"]\n")
    subprocess.run(["docker", "build", "--quiet", "--tag", image, str(context)], check=True, capture_output=True, env={"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin"})
    yield names, binary.read_bytes()
    subprocess.run(["docker", "rmi", "--force", image], capture_output=True, check=False)


def package(dist: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / "package-release.sh"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={"DIST": str(dist), "PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHON": str(REPO_ROOT / ".venv/bin/python")},
    )


def test_the_tarball_holds_the_image_binary_and_the_sums_verify(tmp_path: Path, storage_image) -> None:
    names, content = storage_image
    dist = tmp_path / "dist"
    packaged = package(dist, "storage", TEST_VARIANT)
    assert packaged.returncode == 0, packaged.stderr
    folder = f"sutra-storage-{names['VERSION']}-{TEST_VARIANT}-{platform.machine()}-linux"
    tarball = dist / f"{folder}.tar.gz"
    assert packaged.stdout.strip() == str(tarball)
    with tarfile.open(tarball) as archive:
        assert sorted(archive.getnames()) == [folder, f"{folder}/README.md", f"{folder}/sutra-storage"]
        member = archive.getmember(f"{folder}/sutra-storage")
        assert member.mode & 0o111 and (member.uid, member.gid) == (0, 0)
        assert archive.extractfile(member).read() == content

    sums = package(dist, "sums")
    assert sums.returncode == 0, sums.stderr
    assert (dist / "SHA256SUMS").read_text().endswith(f"  {tarball.name}\n")
    subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=dist, check=True, capture_output=True)


def test_a_missing_image_is_named_with_how_to_build_it(tmp_path: Path) -> None:
    if not docker_available():
        pytest.skip("no Docker engine")
    result = package(tmp_path, "storage", "no-such-variant")
    assert result.returncode == 1
    assert "sutra-storage:" in result.stderr and "-no-such-variant not found; build it first (make image VARIANT=<variant>" in result.stderr


def test_sums_without_tarballs_fail(tmp_path: Path) -> None:
    result = package(tmp_path, "sums")
    assert result.returncode == 1
    assert f"no tarball in {tmp_path}/" in result.stderr
