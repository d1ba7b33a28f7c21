"""The variant catalog (config/variants.yaml) for the build and test scripts.

usage: python scripts/catalog.py names              every variant, one `name arch` a line
       python scripts/catalog.py arch VARIANT       amd64, arm64 or any
       python scripts/catalog.py build VARIANT      `arch|rustflags|fallbacks`: the RUSTFLAGS
           sutra-storage is built with (static, plus the variant's targetFeatures and
           targetCpu); fallbacks the chain down to universal as `name:requires,...;name:...`,
           which the start-up guard names the variant to use from
Fails naming the known variants when VARIANT is not one.
"""

import sys

import yaml


def variants() -> dict:
    with open("config/variants.yaml") as f:
        return {v["name"]: v for v in yaml.safe_load(f)["variants"]}


def variant(catalog: dict, name: str) -> dict:
    if name not in catalog:
        sys.exit(f"unknown variant {name!r}: expected one of {', '.join(catalog)} (config/variants.yaml)")
    return catalog[name]


def rustflags(v: dict) -> str:
    """The RUSTFLAGS of a variant's sutra-storage: always a static binary (a FROM scratch
    image has no C library), with the variant's target features and CPU."""
    features = ",".join(["+crt-static", *(v.get("targetFeatures") or [])])
    cpu = v.get("targetCpu")
    return f"-C target-feature={features}" + (f" -C target-cpu={cpu}" if cpu else "")


def build_settings(catalog: dict, name: str) -> str:
    v = variant(catalog, name)
    chain = []
    fallback = v.get("fallback")
    while fallback:
        chain.append(f"{fallback}:{','.join(catalog[fallback].get('requires') or [])}")
        fallback = catalog[fallback].get("fallback")
    return "|".join([v["arch"], rustflags(v), ";".join(chain)])


def main() -> None:
    catalog = variants()
    match sys.argv[1:]:
        case ["names"]:
            print("\n".join(f"{name} {v['arch']}" for name, v in catalog.items()))
        case ["arch", name]:
            print(variant(catalog, name)["arch"])
        case ["build", name]:
            print(build_settings(catalog, name))
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
