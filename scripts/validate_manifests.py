#!/usr/bin/env python3
"""Validate Kubernetes manifests against the API schemas of one Kubernetes version.

Usage: validate_manifests.py [--kubernetes-version 1.33] FILE...

Every YAML document of every FILE is checked with the `kubernetes_validate` package in
strict mode (unknown fields are errors). One line is printed per document; the exit status
is non-zero if any document fails, including a document whose kind has no schema to check
against: a check that silently skips is no check.
"""

import argparse
import sys

import kubernetes_validate
import yaml

DEFAULT_KUBERNETES_VERSION = "1.33"


def documents(path):
    """The non-empty YAML documents of a file, or raises with the file named."""
    with open(path, encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def describe(doc):
    kind = doc.get("kind", "<no kind>") if isinstance(doc, dict) else "<not a mapping>"
    name = (doc.get("metadata") or {}).get("name", "<no name>") if isinstance(doc, dict) else ""
    return f"{kind}/{name}"


def validate_document(doc, version):
    """None when the document is valid, else the reason it is not."""
    if not isinstance(doc, dict):
        return f"expected a mapping, got {type(doc).__name__}"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(item) for item in error.path) or "<root>"
        return f"{path}: {error.message}"
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as error:
        return f"no schema to validate against: {error}"
    except KeyError as error:
        return f"missing field {error}"
    return None


def validate_file(path, version):
    """Prints one line per document; returns the number of failed documents."""
    try:
        docs = documents(path)
    except (OSError, yaml.YAMLError) as error:
        print(f"FAIL {path}: cannot read YAML: {error}")
        return 1
    if not docs:
        print(f"FAIL {path}: no YAML documents")
        return 1
    failures = 0
    for index, doc in enumerate(docs):
        problem = validate_document(doc, version)
        where = f"{path}[{index}] {describe(doc)}"
        if problem is None:
            print(f"ok   {where} (Kubernetes {version}, strict)")
        else:
            print(f"FAIL {where}: {problem}")
            failures += 1
    return failures


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    failures = sum(validate_file(path, args.kubernetes_version) for path in args.files)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
