// Parses AsyncAPI documents with the official parser (@asyncapi/parser) and prints, as one JSON
// object keyed by file, whether each parsed and its diagnostics (errors, warnings, hints).
// Usage: node validate.cjs FILE...   (JSON or YAML). Exit 0 after printing, 2 on a usage error.
"use strict";
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

const SEVERITIES = ["error", "warning", "information", "hint"];

async function report(parser, file) {
  const { document, diagnostics } = await parser.parse(fs.readFileSync(file, "utf8"));
  return {
    parsed: document !== undefined,
    version: document ? document.version() : null,
    diagnostics: diagnostics.map((d) => ({
      severity: SEVERITIES[d.severity] || String(d.severity),
      code: String(d.code),
      message: d.message,
      path: d.path.join("/"),
    })),
  };
}

async function main() {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    process.stderr.write("usage: node validate.cjs FILE...\n");
    process.exit(2);
  }
  const parser = new Parser();
  const reports = {};
  for (const file of files) {
    reports[file] = await report(parser, file);
  }
  process.stdout.write(JSON.stringify(reports) + "\n");
}

main().catch((err) => {
  process.stderr.write(String((err && err.stack) || err) + "\n");
  process.exit(1);
});
