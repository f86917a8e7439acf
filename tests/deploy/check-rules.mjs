// Checks that the Prometheus alerting and recording rules
// (deploy/prometheus/*.yml, except the *.test.yml unit tests) use only metric
// names the services export (read from their source: metrics.mjs), and
// counters and histograms only inside rate()/increase(). promtool (ctest
// prometheus_rules_test) checks the syntax and behaviour; this checks that
// the names are real, which promtool cannot know.
//
// Usage: node check-rules.mjs REPO_ROOT
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { knownMetrics, checkExpr } from "./metrics.mjs";

const require = createRequire(import.meta.url);
const YAML = require("yaml");
const root = process.argv[2];
const dir = path.join(root, "deploy", "prometheus");
const { known, pending } = knownMetrics(root);
const errors = [];
let rules = 0;
for (const file of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && !/\.test\.ya?ml$/.test(f)).sort()) {
  const doc = YAML.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  for (const group of doc?.groups ?? []) {
    for (const rule of group.rules ?? []) {
      rules++;
      const name = rule.alert ?? rule.record;
      const { errors: e, used } = checkExpr(String(rule.expr ?? ""), known);
      for (const m of e) errors.push(`${file}: ${name}: ${m}`);
      for (const m of used) if (pending.has(m)) errors.push(`${file}: ${name}: ${m} is not exported by any service yet`);
    }
  }
}
console.log(`deploy/prometheus: ${rules} rules`);
for (const e of errors) console.log(`  FAIL ${e}`);
if (errors.length || rules === 0) {
  console.log(`${errors.length || "no rules:"} problem(s)`);
  process.exit(1);
}
console.log("every rule uses exported metrics");
