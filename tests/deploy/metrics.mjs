// The metric names the services really export, read from their source, and
// a small checker of PromQL expressions against them (used for the Grafana
// dashboards and the Prometheus alerting rules).
//
// Metric families are registered in C++ with prometheus-cpp in four ways,
// all recognised here (non-test .cc/.h files under lib/ and services/):
//   .Name("continuum_x_y")                           a literal name
//   MetricName("svc", "name")                        continuum_svc_name
//   MetricName("svc", name) in a helper Build(prometheus::BuildX(), registry,
//       "name", ...)                                 continuum_svc_name per call
//   MetricName(service, "name") (lib/core)           for every service binary
// plus the process_* metrics of lib/core's process collector. The family's
// type is the prometheus::Build{Counter,Gauge,Histogram,Summary} nearest
// before the name.
import fs from "node:fs";
import path from "node:path";

// Metrics the trainer will export once its issue lands. Dashboards may use
// them before they exist in the source, if their description says so.
export const PENDING_TRAINER_METRICS = {
  continuum_trainer_runs_total: "counter",
  continuum_trainer_run_duration_seconds: "histogram",
  continuum_trainer_circuit_open: "gauge",
};

// Series Prometheus itself adds to every scrape target.
const PROMETHEUS_SERIES = { up: "gauge", scrape_duration_seconds: "gauge" };

function walk(dir, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else if (/\.(cc|h)$/.test(entry.name) && !/_test\.(cc|h)$/.test(entry.name)) out.push(p);
  }
  return out;
}

function typeBefore(text, index) {
  const window = text.slice(Math.max(0, index - 400), index);
  let type = null;
  for (const m of window.matchAll(/Build(Counter|Gauge|Histogram|Summary)\s*\(/g)) {
    type = m[1].toLowerCase();
  }
  return type;
}

// Returns Map name -> type ("counter", "gauge", "histogram", "summary").
export function exportedMetrics(root) {
  const services = fs
    .readdirSync(path.join(root, "services"), { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(root, "services", e.name, "main.cc")))
    .map((e) => e.name);
  const files = [...walk(path.join(root, "lib"), []), ...walk(path.join(root, "services"), [])];
  const names = new Map();
  const add = (name, type, where) => {
    if (!type) throw new Error(`${where}: cannot tell the type of metric ${name}`);
    names.set(name, type);
  };
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const where = path.relative(root, file);
    for (const m of text.matchAll(/\.Name\(\s*"(continuum_\w+)"\s*\)/g)) {
      add(m[1], typeBefore(text, m.index), where);
    }
    for (const m of text.matchAll(/MetricName\(\s*"(\w+)"\s*,\s*"(\w+)"\s*\)/g)) {
      add(`continuum_${m[1]}_${m[2]}`, typeBefore(text, m.index), where);
    }
    const helper = /MetricName\(\s*"(\w+)"\s*,\s*name\s*\)/.exec(text);
    if (helper) {
      for (const m of text.matchAll(
        /Build\(\s*prometheus::Build(Counter|Gauge|Histogram|Summary)\(\)\s*,\s*\w+\s*,\s*"(\w+)"/g,
      )) {
        add(`continuum_${helper[1]}_${m[2]}`, m[1].toLowerCase(), where);
      }
    }
    for (const m of text.matchAll(/MetricName\(\s*service\s*,\s*"(\w+)"\s*\)/g)) {
      const type = typeBefore(text, m.index) ?? (m[1] === "build_info" ? "gauge" : null);
      for (const s of services) add(`continuum_${s}_${m[1]}`, type, where);
    }
    if (where === path.join("lib", "core", "metrics.cc")) {
      for (const m of text.matchAll(/"(process_\w+)"/g)) {
        add(m[1], m[1].endsWith("_total") ? "counter" : "gauge", where);
      }
    }
  }
  // RegisterBuildInfo's family is built in a statement of its own.
  return names;
}

const KEYWORDS = new Set([
  "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
  "and", "or", "unless", "offset", "atan2", "inf", "nan",
  // Aggregation operators, which may be followed by by/without (...).
  "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
  "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
]);
const RATE_FUNCTIONS = new Set(["rate", "irate", "increase"]);

// Strips quoted strings and label matchers ({...}) so that only metric
// names, functions, keywords and numbers remain.
function skeleton(expr) {
  return expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, "{}")
    .replace(/\[[^\]]*\]/g, "[]");
}

// Checks one PromQL expression. known: Map name -> type. Returns
// { errors: [...], used: Set of metric names }. With rateRule, every counter
// (and histogram _bucket/_count/_sum) must sit inside rate/irate/increase.
export function checkExpr(expr, known, { rateRule = true } = {}) {
  const errors = [];
  const used = new Set();
  const s = skeleton(expr);
  let depth = 0;
  for (const c of s) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (depth < 0) break;
  }
  if (depth !== 0) errors.push(`unbalanced parentheses in: ${expr}`);
  const stack = [];
  const token = /[A-Za-z_:][A-Za-z0-9_:]*|\$\{?\w+\}?|[()]/g;
  let m;
  let previousWord = "";
  while ((m = token.exec(s)) !== null) {
    const t = m[0];
    if (t === "(") {
      stack.push(previousWord);
      previousWord = "";
      continue;
    }
    if (t === ")") {
      stack.pop();
      previousWord = "";
      continue;
    }
    previousWord = t;
    if (t.startsWith("$")) continue; // Grafana variables ($__rate_interval, $model)
    const rest = s.slice(token.lastIndex);
    if (/^\s*\(/.test(rest)) continue; // a function or by/on/... list
    if (KEYWORDS.has(t)) continue;
    // Label names inside by (...)/without (...)/on (...) lists.
    const enclosing = stack[stack.length - 1];
    if (["by", "without", "on", "ignoring", "group_left", "group_right"].includes(enclosing)) continue;
    if (/^\d/.test(t)) continue;
    // Everything else is a metric name.
    let base = t;
    let type = known.get(t);
    if (!type) {
      const h = /^(.*)_(bucket|count|sum)$/.exec(t);
      if (h && ["histogram", "summary"].includes(known.get(h[1]))) {
        base = h[1];
        type = h[2] === "bucket" && known.get(h[1]) === "summary" ? null : "counter";
      }
    }
    if (!type) {
      errors.push(`unknown metric ${t} (not registered in lib/ or services/; tests/deploy/metrics.mjs reads them) in: ${expr}`);
      continue;
    }
    used.add(base);
    if (rateRule && type === "counter" && !stack.some((f) => RATE_FUNCTIONS.has(f))) {
      errors.push(`counter ${t} used without rate()/increase() in: ${expr}`);
    }
    if (rateRule && type === "histogram") {
      errors.push(`histogram ${t} used without _bucket/_sum/_count in: ${expr}`);
    }
  }
  if (used.size === 0 && errors.length === 0 && !/\{__name__/.test(expr)) errors.push(`no metric in: ${expr}`);
  return { errors, used };
}

// The known metrics: exported ones, Prometheus' own series and, unless
// already exported, the pending trainer metrics (flagged in `pending`).
export function knownMetrics(root) {
  const exported = exportedMetrics(root);
  const known = new Map([...Object.entries(PROMETHEUS_SERIES), ...exported]);
  const pending = new Set();
  for (const [name, type] of Object.entries(PENDING_TRAINER_METRICS)) {
    if (!known.has(name)) {
      known.set(name, type);
      pending.add(name);
    }
  }
  return { known, exported, pending };
}
