#!/usr/bin/env python3
"""Keeps the README's plugin table honest: every parameter it names for a plugin — written `name:
value` (a value one can set) or `name` (default value) — is a parameter of that plugin in
`featjnd-engine plugins --json`, the value is one the plugin accepts, and the stated default is the
plugin's default.

  test_readme_params.py ENGINE README.md
"""
import json
import re
import subprocess
import sys

engine, readme = sys.argv[1], sys.argv[2]
plugins = {}
for p in json.loads(subprocess.run([engine, "plugins", "--json"], check=True, capture_output=True, text=True).stdout):
    plugins[p["name"]] = {q["name"]: q for q in p["params"]}

text = open(readme).read()
table = text[text.index("## Plugins in this repository"):]
table = table[:table.index("\n\n", table.index("|---|"))]
rows = [r for r in table.splitlines() if r.startswith("| ") and not r.startswith("| kind") and not r.startswith("|---")]


def accepts(param, value):
    """Whether `value` (as written in the README) is a value the plugin accepts for `param`."""
    exp = param["expected"]
    if param["type"] == "bool":
        return value in ("true", "false")
    m = re.search(r"one of (.*)\)?$", exp)
    if m:
        return f'"{value}"' in m.group(1)
    m = re.search(r"in \[([-0-9.e+]+), ([-0-9.e+]+)\]", exp)
    if m:
        try:
            return float(m.group(1)) <= float(value) <= float(m.group(2))
        except ValueError:
            return False
    return True


failures, checked = [], 0
for row in rows:
    cells = [c.strip() for c in row.strip("|").split("|")] if "\\|" not in row else \
        [c.strip().replace("\x00", "\\|") for c in row.replace("\\|", "\x00").strip("|").split("|")]
    names = re.findall(r"`([a-z0-9_-]+)`", cells[1].split("+")[0])
    owners = [plugins[n] for n in names if n in plugins]
    if not owners:
        failures.append(f"row {cells[1]!r}: no plugin of that name")
        continue
    for key, value in re.findall(r"`([a-z_0-9]+): ([^`]+)`", row):
        checked += 1
        for params in owners:
            if key not in params:
                failures.append(f"{names}: the README names `{key}`, which is no parameter")
            elif not all(accepts(params[key], v.strip()) for v in value.split("\\|")):
                failures.append(f"{names}: `{key}: {value}` is not a value the plugin accepts ({params[key]['expected']})")
    for key, value in re.findall(r"`([a-z_0-9]+)` \(default ([^)]+)\)", row):
        checked += 1
        for params in owners:
            if key not in params:
                failures.append(f"{names}: the README names `{key}`, which is no parameter")
            elif json.loads(json.dumps(params[key]["default"])) != json.loads(value):
                failures.append(f"{names}: the README says `{key}` defaults to {value}, the plugin to {params[key]['default']}")
print(f"{checked} parameter mentions checked in {len(rows)} rows of the README's plugin table")
for f in failures:
    print("FAIL", f)
sys.exit(1 if failures or checked < 10 else 0)
