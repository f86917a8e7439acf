// Type-checks generated TypeScript sources with the compiler's API (strict,
// no emit). The sources are written to a temporary directory whose
// node_modules links to this directory's, so they import the installed type
// packages (kubernetes-models, @grafana/schema) like any project would.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// files: [{ name: "x.ts", text: "..." }]. Returns a list of error strings,
// each "file:line: message" followed by the offending source line and, where
// the line lies inside an `export const NAME`, that name.
export function typeCheck(files) {
  const ts = require("typescript");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "continuum-tsc-"));
  try {
    fs.symlinkSync(path.join(here, "node_modules"), path.join(dir, "node_modules"), "dir");
    const paths = files.map((f) => {
      const p = path.join(dir, f.name);
      fs.writeFileSync(p, f.text);
      return p;
    });
    const options = {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      skipLibCheck: true,
      types: [],
      // Large object literals: report every error, never truncate types.
      noErrorTruncation: true,
    };
    const program = ts.createProgram(paths, options);
    const diagnostics = ts.getPreEmitDiagnostics(program);
    const errors = [];
    for (const d of diagnostics) {
      const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
      if (!d.file) {
        errors.push(message);
        continue;
      }
      const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      const lines = d.file.text.split("\n");
      let owner = "";
      for (let i = line; i >= 0; i--) {
        const m = /^export const (\w+)/.exec(lines[i]);
        if (m) {
          owner = m[1];
          // The comment above the const names the object.
          if (i > 0 && lines[i - 1].startsWith("// ")) owner += ` (${lines[i - 1].slice(3)})`;
          break;
        }
      }
      errors.push(
        `${path.basename(d.file.fileName)}:${line + 1}: ${message}\n` +
          `    in ${owner || "?"}: ${lines[line].trim().slice(0, 160)}`,
      );
    }
    return errors;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// A JSON value as a TypeScript expression (JSON is valid TypeScript).
export function literal(value) {
  return JSON.stringify(value, null, 2);
}
