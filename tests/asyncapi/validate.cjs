// Parses an AsyncAPI document with the official parser and prints its diagnostics as JSON.
// Usage: node validate.cjs FILE   (FILE: JSON or YAML). Exit 0 after printing, 2 on a usage error.
"use strict";
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

const SEVERITIES = ["error", "warning", "information", "hint"];

async function main() {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node validate.cjs FILE\n");
    process.exit(2);
  }
  const { document, diagnostics } = await new Parser().parse(fs.readFileSync(file, "utf8"));
  const report = {
    parsed: document !== undefined,
    version: document ? document.version() : null,
    diagnostics: diagnostics.map((d) => ({
      severity: SEVERITIES[d.severity] || String(d.severity),
      code: String(d.code),
      message: d.message,
      path: d.path.join("/"),
    })),
  };
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(1);
});
