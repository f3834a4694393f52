#!/usr/bin/python3
"""Prints what a container of DOCKERFILE's last stage runs, one item per
line: USER, then NAME=VALUE for each ENV, then ENTRYPOINT and CMD (JSON
form). Paths under /usr/local/bin/ are mapped with --map NAME=PATH.
usage: dockerfile_run.py DOCKERFILE [--map NAME=PATH]..."""
import json
import shlex
import sys

path, maps = sys.argv[1], {}
for a in sys.argv[2:]:
    if a.startswith("--map="):
        k, v = a[6:].split("=", 1)
        maps["/usr/local/bin/" + k] = v
stage = []
for line in open(path).read().replace("\\\n", " ").splitlines():
    line = line.strip()
    if line.upper().startswith("FROM "):
        stage = []
    stage.append(line)
user, env, entry, cmd = "root", [], [], []
for line in stage:
    word, _, rest = line.partition(" ")
    word = word.upper()
    if word == "USER":
        user = rest.strip()
    elif word == "ENV":
        env += shlex.split(rest)
    elif word == "ENTRYPOINT":
        entry = json.loads(rest)
    elif word == "CMD":
        cmd = json.loads(rest)
print(user)
for e in env:
    print(e)
print("--")
for a in entry + cmd:
    print(maps.get(a, a))
