// Checks the Grafana dashboards (deploy/grafana/*.json):
//   1. types: each dashboard is compiled by TypeScript (strict) as a literal
//      of @grafana/schema's Dashboard, and each panel as a literal of its
//      panel plugin's Options/FieldConfig types (timeseries, stat), with its
//      queries as Prometheus queries. Enum-typed fields accept their JSON
//      string values (Json<T> below); unknown fields are errors (TypeScript's
//      excess-property check on object literals);
//   2. structure: unique uid and panel ids, grid positions inside 24 columns
//      and not overlapping, every query on the ${datasource} variable, tags;
//   3. queries: every metric is one the services export (read from their
//      source, metrics.mjs), counters and histograms only inside
//      rate()/increase(); metrics the source does not have yet (the trainer's
//      pending ones) only where the dashboard's description says they come
//      from the trainer.
//
// Usage: node check-dashboards.mjs REPO_ROOT
import fs from "node:fs";
import path from "node:path";
import { typeCheck, literal } from "./tsc.mjs";
import { knownMetrics, checkExpr } from "./metrics.mjs";

const root = process.argv[2];
const dir = path.join(root, "deploy", "grafana");
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
const errors = [];
const { known, pending } = knownMetrics(root);

const PANEL_TYPES = {
  timeseries: {
    mod: "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen",
    alias: "TimeSeries",
  },
  stat: {
    mod: "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen",
    alias: "Stat",
    // The stat panel has no custom field config: none is allowed.
    fieldConfig: "Record<string, never>",
  },
};

const header = `import type { Dashboard, Panel, DataQuery } from "@grafana/schema";
${Object.values(PANEL_TYPES)
  .map((t) =>
    t.fieldConfig
      ? `import type { Options as ${t.alias}Options } from "${t.mod}";\ntype ${t.alias}FieldConfig = ${t.fieldConfig};`
      : `import type { Options as ${t.alias}Options, FieldConfig as ${t.alias}FieldConfig } from "${t.mod}";`,
  )
  .join("\n")}

// The JSON form of a type: string enums become their string values.
type Json<T> = T extends string
  ? \`\${T}\`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<Json<U>>
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

// A Prometheus query as Grafana saves it.
type PromQuery = Json<DataQuery> & {
  expr: string;
  legendFormat?: string;
  range?: boolean;
  instant?: boolean;
  format?: "time_series" | "table" | "heatmap";
  interval?: string;
  intervalFactor?: number;
  editorMode?: "code" | "builder";
  exemplar?: boolean;
};

type TypedPanel<T extends string, O, F> = Omit<Json<Panel<O, F>>, "type" | "options" | "targets"> & {
  type: T;
  options: Json<O>;
  targets: PromQuery[];
};
${Object.entries(PANEL_TYPES)
  .map(([type, t]) => `type ${t.alias}Panel = TypedPanel<"${type}", ${t.alias}Options, ${t.alias}FieldConfig>;`)
  .join("\n")}
`;

const decls = [];
const uids = new Map();
for (const file of files) {
  const where = `deploy/grafana/${file}`;
  const err = (m) => errors.push(`${where}: ${m}`);
  let d;
  try {
    d = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8"));
  } catch (e) {
    err(`not JSON: ${e.message}`);
    continue;
  }
  const name = file.replace(/\W/g, "_");
  decls.push(`// ${where}\nexport const ${name}: Json<Dashboard> = ${literal(d)};\n`);

  // Structure.
  if (!d.uid || !/^[\w-]{1,40}$/.test(d.uid)) err(`uid "${d.uid}" missing or not a valid Grafana uid`);
  if (uids.has(d.uid)) err(`uid ${d.uid} also used by ${uids.get(d.uid)}`);
  uids.set(d.uid, file);
  if (!d.title) err("no title");
  if (!d.description) err("no description");
  if (!(d.tags ?? []).includes("continuum")) err('not tagged "continuum"');
  if (!(d.schemaVersion >= 36)) err(`schemaVersion ${d.schemaVersion} predates Grafana 9`);
  const vars = d.templating?.list ?? [];
  const dsVar = vars.find((v) => v.type === "datasource");
  if (!dsVar || dsVar.query !== "prometheus") err("no datasource variable of type prometheus");
  const expectedDs = `\${${dsVar?.name}}`;
  const panels = [];
  for (const p of d.panels ?? []) {
    panels.push(p);
    if (p.type === "row") panels.push(...(p.panels ?? []));
  }
  const ids = new Set();
  const cells = new Map();
  for (const p of panels) {
    const pw = `panel ${p.id} "${p.title}"`;
    if (typeof p.id !== "number" || ids.has(p.id)) err(`${pw}: missing or duplicate id`);
    ids.add(p.id);
    const g = p.gridPos;
    if (!g || g.x < 0 || g.w < 1 || g.x + g.w > 24 || g.h < 1) err(`${pw}: gridPos ${JSON.stringify(g)} outside 24 columns`);
    else {
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const key = `${x},${y}`;
          if (cells.has(key)) err(`${pw}: overlaps panel ${cells.get(key)}`);
          cells.set(key, p.id);
        }
      }
    }
    if (p.type === "row") continue;
    if (!PANEL_TYPES[p.type]) {
      err(`${pw}: panel type ${p.type} is not checked (add it to PANEL_TYPES)`);
      continue;
    }
    decls.push(`// ${where} ${pw}\nexport const ${name}_panel_${p.id}: ${PANEL_TYPES[p.type].alias}Panel = ${literal(p)};\n`);
    if (!p.title) err(`${pw}: no title`);
    if (!p.description) err(`${pw}: no description`);
    if (p.datasource?.uid !== expectedDs) err(`${pw}: datasource is not ${expectedDs}`);
    const targets = p.targets ?? [];
    if (targets.length === 0) err(`${pw}: no queries`);
    const refIds = new Set();
    for (const t of targets) {
      if (refIds.has(t.refId)) err(`${pw}: duplicate refId ${t.refId}`);
      refIds.add(t.refId);
      if (t.datasource?.uid !== expectedDs) err(`${pw} query ${t.refId}: datasource is not ${expectedDs}`);
      const { errors: qErrors, used } = checkExpr(t.expr ?? "", known);
      for (const e of qErrors) err(`${pw} query ${t.refId}: ${e}`);
      for (const m of used) {
        if (pending.has(m) && !(d.description ?? "").includes(m) && !/from the trainer/.test(d.description ?? "")) {
          err(`${pw}: uses ${m}, not exported yet, and the description does not say it comes from the trainer`);
        }
      }
    }
  }
  for (const v of vars.filter((v) => v.type === "query")) {
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    const m = /^label_values\((.+),\s*(\w+)\)$/.exec(q ?? "");
    if (!m) err(`variable ${v.name}: query "${q}" is not label_values(METRIC, LABEL)`);
    else for (const e of checkExpr(m[1], known, { rateRule: false }).errors) err(`variable ${v.name}: ${e}`);
    if (v.datasource?.uid !== expectedDs) err(`variable ${v.name}: datasource is not ${expectedDs}`);
  }
  // Which metrics the dashboard uses, for the log.
  console.log(`${where}: ${panels.length} panels`);
}
if (files.length === 0) errors.push("no dashboards in deploy/grafana");

for (const e of typeCheck([{ name: "dashboards.ts", text: header + "\n" + decls.join("\n") }])) {
  errors.push(`types: ${e}`);
}
if (pending.size) console.log(`not exported yet (allowed where described): ${[...pending].join(", ")}`);
for (const e of errors) console.log(`  FAIL ${e}`);
if (errors.length) {
  console.log(`${errors.length} problem(s)`);
  process.exit(1);
}
console.log("all dashboards valid");
