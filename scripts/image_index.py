"""Joins the per-platform images of an `any` variant into one OCI image index.

`scripts/build-image.sh --arch amd64 universal` and `--arch arm64 universal` leave
`ghcr.io/sutra-ai/sutra-storage:<tag>-universal-amd64` and `...-arm64` in the local Docker engine. This
writes them as one OCI image layout archive, target/image/<repository>-<tag>-<variant>.oci.tar,
whose top index holds the reference `<tag>-<variant>`: an image index with one manifest per
platform, so `<repository>:<tag>-<variant>` resolves to the image of the puller's platform.
The Docker engine here has no registry and no multi-platform image store, so the layout is
assembled from `docker save` output (config and layer blobs are Docker's own, so the image
IDs stay the config digests) and checked here; pushing it is one command, e.g.

    skopeo copy --all oci-archive:target/image/sutra-storage-0.1.0-universal.oci.tar \\
        docker://registry.example.com/sutra-storage:0.1.0-universal

usage: python scripts/image_index.py [--check] [VARIANT] [TAG]   (env IMAGE_REPOSITORY)
  --check  only check an archive written before against the local images
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ARCHES = ("amd64", "arm64")
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"


def workspace_version() -> str:
    in_package = False
    for line in Path("Cargo.toml").read_text().splitlines():
        if line.startswith("["):
            in_package = line.strip() == "[workspace.package]"
        elif in_package and line.startswith("version"):
            return line.split("=", 1)[1].strip().strip('"')
    sys.exit("error: no version in [workspace.package] of Cargo.toml")


class Layout:
    """Blobs of an OCI image layout, kept in memory (the images are a few MiB)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def add(self, media_type: str, data: bytes, **extra) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return {"mediaType": media_type, "digest": digest, "size": len(data), **extra}

    def write(self, path: Path, index: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w") as archive:
            files = {"oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
                     "index.json": json.dumps(index, indent=2).encode()}
            files |= {f"blobs/sha256/{d.split(':')[1]}": b for d, b in self.blobs.items()}
            for name, data in sorted(files.items()):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))


def saved_image(image: str) -> tuple[bytes, list[bytes]]:
    """The config and the uncompressed layers of a local image, from `docker save`."""
    saved = subprocess.run(["docker", "save", image], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
        read = lambda name: archive.extractfile(name).read()  # noqa: E731
        (entry,) = json.loads(read("manifest.json"))
        return read(entry["Config"]), [read(layer) for layer in entry["Layers"]]


def platform_manifest(layout: Layout, image: str, arch: str) -> dict:
    config, layers = saved_image(image)
    settings = json.loads(config)
    if settings.get("architecture") != arch or settings.get("os") != "linux":
        sys.exit(f"error: {image} is {settings.get('os')}/{settings.get('architecture')}, expected linux/{arch}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": layout.add(CONFIG, config),
        "layers": [layout.add(LAYER, gzip.compress(layer, mtime=0)) for layer in layers],
    }
    platform = {"architecture": arch, "os": "linux"}
    if settings.get("variant"):
        platform["variant"] = settings["variant"]
    return layout.add(MANIFEST, json.dumps(manifest).encode(), platform=platform)


def main() -> None:
    args = sys.argv[1:]
    check_only = args[:1] == ["--check"]
    args = args[1:] if check_only else args
    variant = args[0] if args else "universal"
    tag = args[1] if len(args) > 1 else workspace_version()
    repository = os.environ.get("IMAGE_REPOSITORY", "ghcr.io/sutra-ai/sutra-storage")
    reference = f"{tag}-{variant}"
    path = Path("target/image") / f"{repository.rsplit('/', 1)[-1]}-{reference}.oci.tar"
    if check_only:
        check(path, repository, reference)
        return
    layout = Layout()
    manifests = [platform_manifest(layout, f"{repository}:{tag}-{variant}-{arch}", arch) for arch in ARCHES]
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}
    top = layout.add(INDEX, json.dumps(index).encode(), annotations={REF_NAME: reference})
    layout.write(path, {"schemaVersion": 2, "mediaType": INDEX, "manifests": [top]})
    print(f"wrote {path}: {repository}:{reference}")
    check(path, repository, reference)


def check(path: Path, repository: str, reference: str) -> None:
    """Reads the archive back: every blob matches its digest and size, the reference
    resolves to an index with one manifest per platform, and each platform's config is
    the local image of that platform (its digest is Docker's image ID)."""
    with tarfile.open(path) as archive:
        read = lambda name: archive.extractfile(name).read()  # noqa: E731

        def blob(descriptor: dict) -> bytes:
            data = read(f"blobs/sha256/{descriptor['digest'].split(':')[1]}")
            assert len(data) == descriptor["size"], f"{descriptor['digest']}: size differs"
            assert "sha256:" + hashlib.sha256(data).hexdigest() == descriptor["digest"], f"{descriptor['digest']}: digest differs"
            return data

        assert json.loads(read("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        (top,) = json.loads(read("index.json"))["manifests"]
        assert top["annotations"][REF_NAME] == reference and top["mediaType"] == INDEX
        manifests = json.loads(blob(top))["manifests"]
        assert sorted(m["platform"]["architecture"] for m in manifests) == sorted(ARCHES)
        for descriptor in manifests:
            platform = descriptor["platform"]
            manifest = json.loads(blob(descriptor))
            config = json.loads(blob(manifest["config"]))
            for layer in manifest["layers"]:
                blob(layer)
            image = f"{repository}:{reference}-{platform['architecture']}"
            image_id = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", image],
                                      check=True, capture_output=True, text=True).stdout.strip()
            assert manifest["config"]["digest"] == image_id, f"{image}: config {manifest['config']['digest']} is not image {image_id}"
            assert (config["os"], config["architecture"], config.get("variant")) == (
                platform["os"], platform["architecture"], platform.get("variant"))
            name = "/".join(v for v in (platform["os"], platform["architecture"], platform.get("variant")) if v)
            print(f"  {name}: {descriptor['digest']} (image {image_id[:19]}, {len(manifest['layers'])} layers)")


if __name__ == "__main__":
    main()
