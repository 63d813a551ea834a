#!/usr/bin/env python3
"""Validate an OCI image layout against the OCI image-spec JSON schemas.

usage: validate_oci.py SCHEMA_DIR LAYOUT_DIR

Checks oci-layout, index.json and, following every descriptor, each nested index,
manifest and config; also that each blob's size and sha256 match its descriptor.
Prints one line per validated document; exits 1 with the reasons on any failure.
The schemas are draft-04 with relative $refs whose bases disagree (ids under
/schema/ and /schema/image/), so refs are resolved by file name in SCHEMA_DIR.
"""
import hashlib
import json
import os
import sys

import jsonschema

schema_dir, layout = sys.argv[1], sys.argv[2]
errors = []


def load_schema(name):
    with open(os.path.join(schema_dir, name)) as f:
        return json.load(f)


def make_validator(name):
    schema = load_schema(name)
    try:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        def retrieve(uri):
            return Resource.from_contents(load_schema(uri.rsplit("/", 1)[-1]), default_specification=DRAFT4)

        return jsonschema.Draft4Validator(schema, registry=Registry(retrieve=retrieve))
    except ImportError:  # jsonschema < 4.18
        def handler(uri):
            return load_schema(uri.rsplit("/", 1)[-1])

        resolver = jsonschema.RefResolver(schema.get("id", ""), schema, handlers={"https": handler})
        return jsonschema.Draft4Validator(schema, resolver=resolver)


validators = {
    "layout": make_validator("image-layout-schema.json"),
    "index": make_validator("image-index-schema.json"),
    "manifest": make_validator("image-manifest-schema.json"),
    "config": make_validator("config-schema.json"),
}
kinds = {
    "application/vnd.oci.image.index.v1+json": "index",
    "application/vnd.oci.image.manifest.v1+json": "manifest",
    "application/vnd.oci.image.config.v1+json": "config",
}


def check(kind, what, data):
    try:
        doc = json.loads(data)
    except ValueError as e:
        errors.append(f"{what}: not JSON: {e}")
        return None
    errs = sorted(validators[kind].iter_errors(doc), key=lambda e: list(e.path))
    for e in errs:
        errors.append(f"{what} ({kind} schema): {'/'.join(map(str, e.path))}: {e.message}")
    if not errs:
        print(f"ok {kind} {what}")
    return doc


def blob(desc):
    algo, hexd = desc["digest"].split(":", 1)
    path = os.path.join(layout, "blobs", algo, hexd)
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != desc["size"]:
        errors.append(f"{desc['digest']}: size {len(data)} != descriptor size {desc['size']}")
    if hashlib.sha256(data).hexdigest() != hexd:
        errors.append(f"{desc['digest']}: sha256 of content is {hashlib.sha256(data).hexdigest()}")
    return data


def walk(desc):
    kind = kinds.get(desc["mediaType"])
    data = blob(desc)
    if kind is None:
        return
    doc = check(kind, desc["digest"], data)
    if doc is None:
        return
    if kind == "index":
        for d in doc["manifests"]:
            walk(d)
    elif kind == "manifest":
        walk(doc["config"])
        for layer in doc["layers"]:
            blob(layer)


with open(os.path.join(layout, "oci-layout"), "rb") as f:
    check("layout", "oci-layout", f.read())
with open(os.path.join(layout, "index.json"), "rb") as f:
    top = check("index", "index.json", f.read())
if top:
    for d in top["manifests"]:
        walk(d)
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
