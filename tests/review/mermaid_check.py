"""Mermaid's own parser, run on Node.js: what GitHub renders a ```mermaid block with.

It needs the npm packages mermaid and jsdom (a DOM for mermaid's sanitiser), installed beside
Azurite with `npm install --prefix .ci/node mermaid@11.17.2 jsdom@29.1.1`, or in the
node_modules directory named by MLOPS_MERMAID_NODE_MODULES. Without them the check fails and
says how to install them: it is never skipped."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALL = "npm install --prefix .ci/node mermaid@11.17.2 jsdom@29.1.1"
SCRIPT = """
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const texts = JSON.parse(require("fs").readFileSync(0, "utf8"));
(async () => {
  const { default: mermaid } = await import("mermaid");
  const out = [];
  for (const text of texts) {
    try {
      const r = await mermaid.parse(text);
      out.push({ ok: true, type: r.diagramType });
    } catch (e) {
      out.push({ ok: false, error: String((e && e.message) || e) });
    }
  }
  console.log(JSON.stringify(out));
})();
"""


def node_modules() -> Path:
    named = os.environ.get("MLOPS_MERMAID_NODE_MODULES")
    where = Path(named) if named else ROOT / ".ci" / "node" / "node_modules"
    missing = [p for p in ("mermaid", "jsdom") if not (where / p / "package.json").is_file()]
    assert shutil.which("node"), f"Node.js is needed to parse Mermaid; then run `{INSTALL}` in {ROOT}"
    assert not missing, f"{', '.join(missing)} not in {where}: run `{INSTALL}` in {ROOT}"
    return where


def parse(*texts: str) -> list[dict[str, object]]:
    """Mermaid's verdict on each text: {ok, type} or {ok: False, error}."""
    modules = node_modules()
    res = subprocess.run(
        ["node", "-e", SCRIPT],
        input=json.dumps(list(texts)),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_PATH": str(modules)},
        cwd=modules.parent,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def assert_parses(*texts: str) -> None:
    for text, verdict in zip(texts, parse(*texts), strict=True):
        assert verdict == {"ok": True, "type": "flowchart-v2"}, f"{verdict}\n{text}"


def mermaid_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.S | re.M)
