#!/usr/bin/env python3
"""Validates JSON documents against a schema in schemas/ (python3-jsonschema).
  schema_check.py SCHEMA FILE...   prints "ok FILE" or the first error; exit 1 on any error
"""
import json
import sys

import jsonschema

schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
v = cls(schema)
bad = 0
for f in sys.argv[2:]:
    doc = json.load(open(f))
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    if errs:
        e = errs[0]
        print("invalid %s: %s at %s" % (f, e.message, "/".join(str(p) for p in e.path)))
        bad = 1
    else:
        print("ok %s" % f)
sys.exit(bad)
