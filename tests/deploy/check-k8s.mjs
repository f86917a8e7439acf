// Validates rendered Kubernetes manifests (the output of `kubectl kustomize`)
// offline:
//   1. every object against the Kubernetes schemas: kubernetes-models'
//      validators (types, required fields, formats, enums) and, because
//      those accept unknown fields, a strict TypeScript check of each object
//      as a literal of the model's interface (a misspelt field fails);
//      ServiceMonitors and PodMonitors with @kubernetes-models/prometheus-operator,
//      cert-manager's Issuers and Certificates with @kubernetes-models/cert-manager;
//   2. Continuum's own rules: resources, probes and security contexts on every
//      container, probe ports that exist, Services/ServiceMonitors/HPAs/PDBs
//      that select something, references to ConfigMaps/Secrets/claims that
//      exist, the services' configs wired to Services that exist, ...;
//   3. writes each service's config (.pbtxt from the ConfigMaps, as mounted)
//      to --configs-out DIR/<render>/<service>.pbtxt for the config check.
//
// Usage: node check-k8s.mjs [--configs-out DIR] NAME=FILE.yaml[:pinned|:site] ...
//   :pinned  also require pinned image tags (not dev/latest/untagged)
//   :site    a federated site: only the collector and the trainer run there
//            (the federation's services are ExternalName Services)
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { typeCheck, literal } from "./tsc.mjs";

const require = createRequire(import.meta.url);
const YAML = require("yaml");

const SERVICES = ["collector", "trainer", "registry", "inference", "drift"];

// apiVersion/kind -> [module, class]. Anything else is an error: add it here
// when the manifests gain a kind.
function modelModule(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`;
  }
  if (apiVersion === "cert-manager.io/v1") {
    return `@kubernetes-models/cert-manager/cert-manager.io/v1/${kind}`;
  }
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function loadModel(apiVersion, kind) {
  const mod = modelModule(apiVersion, kind);
  try {
    const exports = require(mod);
    if (typeof exports[kind] !== "function") return null;
    return { mod, Class: exports[kind] };
  } catch {
    return null;
  }
}

// Kubernetes quantities ("250m", "1Gi", "2") as numbers.
function quantity(q) {
  const m = /^([0-9.]+)(m|k|Ki|M|Mi|G|Gi|T|Ti)?$/.exec(String(q));
  if (!m) return NaN;
  const scale = { m: 1e-3, k: 1e3, Ki: 1024, M: 1e6, Mi: 1024 ** 2, G: 1e9, Gi: 1024 ** 3, T: 1e12, Ti: 1024 ** 4 };
  return Number(m[1]) * (m[2] ? scale[m[2]] : 1);
}

function matches(selector, labels) {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

const args = process.argv.slice(2);
let configsOut = null;
const renders = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--configs-out") configsOut = args[++i];
  else {
    const m = /^([\w.-]+)=(.+?)(:pinned|:site)?$/.exec(args[i]);
    if (!m) throw new Error(`bad argument ${args[i]}`);
    renders.push({ name: m[1], file: m[2], pinned: m[3] === ":pinned",
                   site: m[3] === ":site" });
  }
}

let failures = 0;
const tsFiles = [];
for (const render of renders) {
  const errors = [];
  const err = (msg) => errors.push(msg);
  const docs = YAML.parseAllDocuments(fs.readFileSync(render.file, "utf8"));
  const objects = [];
  for (const doc of docs) {
    if (doc.errors.length) err(`YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
    const o = doc.toJS();
    if (o) objects.push(o);
  }
  if (objects.length === 0) err("no objects rendered");
  const id = (o) => `${o.kind}/${o.metadata?.name}`;
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata?.name === name);

  // 1. Schemas.
  const imports = new Map();
  const decls = [];
  objects.forEach((o, i) => {
    const model = loadModel(o.apiVersion, o.kind);
    if (!model) {
      err(`${id(o)}: no schema for ${o.apiVersion} ${o.kind} (add it to check-k8s.mjs)`);
      return;
    }
    try {
      new model.Class(o).validate();
    } catch (e) {
      err(`${id(o)}: schema: ${e.message}`);
    }
    imports.set(`I${o.kind}`, model.mod);
    decls.push(`// ${render.name}: ${o.kind} ${o.metadata?.name}\nexport const o${i}: I${o.kind} = ${literal(o)};\n`);
  });
  tsFiles.push({
    name: `${render.name}.ts`,
    text:
      [...imports].map(([type, mod]) => `import type { ${type} } from "${mod}";`).join("\n") +
      "\n\n" +
      decls.join("\n"),
  });

  // 2. Continuum's rules.
  const namespaces = byKind("Namespace");
  if (namespaces.length !== 1) err(`expected one Namespace, found ${namespaces.length}`);
  const ns = namespaces[0]?.metadata?.name;
  for (const o of objects) {
    if (o.kind === "Namespace") continue;
    if (o.metadata?.namespace !== ns) err(`${id(o)}: namespace ${o.metadata?.namespace}, expected ${ns}`);
    if (!o.metadata?.labels?.["app.kubernetes.io/part-of"]) {
      err(`${id(o)}: no app.kubernetes.io/part-of label`);
    }
  }

  const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
  const services = byKind("Service");
  const configs = {};
  const serviceOf = new Map(); // workload -> continuum service name
  for (const w of workloads) {
    const where = id(w);
    const spec = w.spec ?? {};
    const pod = spec.template?.spec ?? {};
    const podLabels = spec.template?.metadata?.labels ?? {};
    if (!matches(spec.selector?.matchLabels, podLabels)) err(`${where}: selector does not match the pod labels`);
    const psc = pod.securityContext ?? {};
    if (psc.runAsNonRoot !== true) err(`${where}: pod securityContext.runAsNonRoot is not true`);
    if (!(psc.runAsUser > 0)) err(`${where}: pod securityContext.runAsUser is not a non-root uid`);
    if (pod.automountServiceAccountToken !== false) err(`${where}: automountServiceAccountToken is not false`);
    if (pod.serviceAccountName && !find("ServiceAccount", pod.serviceAccountName)) {
      err(`${where}: ServiceAccount ${pod.serviceAccountName} is not rendered`);
    }
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    for (const t of spec.volumeClaimTemplates ?? []) volumes.set(t.metadata?.name, { persistentVolumeClaim: { template: true } });
    for (const v of pod.volumes ?? []) {
      if (v.configMap && !v.configMap.optional && !find("ConfigMap", v.configMap.name)) {
        err(`${where}: volume ${v.name}: ConfigMap ${v.configMap.name} is not rendered`);
      }
      // A Secret is rendered, or made by a rendered cert-manager Certificate.
      const issued = byKind("Certificate").some((cert) => cert.spec?.secretName === v.secret?.secretName);
      if (v.secret && !find("Secret", v.secret.secretName) && !issued) {
        err(`${where}: volume ${v.name}: Secret ${v.secret.secretName} is not rendered`);
      }
      if (v.persistentVolumeClaim && !find("PersistentVolumeClaim", v.persistentVolumeClaim.claimName)) {
        err(`${where}: volume ${v.name}: claim ${v.persistentVolumeClaim.claimName} is not rendered`);
      }
    }
    if ((pod.containers ?? []).length === 0) err(`${where}: no containers`);
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])]) {
      const cw = `${where} container ${c.name}`;
      if (!c.image) err(`${cw}: no image`);
      else if (render.pinned) {
        const tag = /@sha256:[0-9a-f]{64}$/.test(c.image) ? "digest" : (/:([^:/]+)$/.exec(c.image) ?? [])[1];
        if (!tag || ["latest", "dev"].includes(tag)) err(`${cw}: image ${c.image} is not pinned to a release tag or digest`);
      }
      // Resources.
      const r = c.resources ?? {};
      for (const kind of ["cpu", "memory"]) {
        const req = r.requests?.[kind];
        const lim = r.limits?.[kind];
        if (req === undefined) err(`${cw}: no resources.requests.${kind}`);
        if (lim === undefined) err(`${cw}: no resources.limits.${kind}`);
        if (req !== undefined && lim !== undefined && !(quantity(req) <= quantity(lim))) {
          err(`${cw}: ${kind} request ${req} above limit ${lim}`);
        }
      }
      // Security context: container fields, or the pod's where Kubernetes
      // inherits them (runAsNonRoot, seccompProfile).
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) err(`${cw}: allowPrivilegeEscalation is not false`);
      if (sc.readOnlyRootFilesystem !== true) err(`${cw}: readOnlyRootFilesystem is not true`);
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) err(`${cw}: runAsNonRoot is not true`);
      if (sc.privileged) err(`${cw}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) err(`${cw}: capabilities do not drop ALL`);
      if ((sc.capabilities?.add ?? []).length) err(`${cw}: adds capabilities`);
      if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") {
        err(`${cw}: seccompProfile is not RuntimeDefault`);
      }
      // Mounts: every volume exists; /tmp is a writable emptyDir.
      const mounts = c.volumeMounts ?? [];
      for (const m of mounts) {
        if (!volumes.has(m.name)) err(`${cw}: mount ${m.mountPath}: no volume ${m.name}`);
      }
      const tmp = mounts.find((m) => m.mountPath === "/tmp");
      if (!tmp || !volumes.get(tmp.name)?.emptyDir || tmp.readOnly) err(`${cw}: /tmp is not a writable emptyDir`);
      // Probes: readiness and liveness, on ports the container has.
      const ports = c.ports ?? [];
      const portOk = (p) =>
        typeof p === "number" ? ports.some((x) => x.containerPort === p) : ports.some((x) => x.name === p);
      for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        const p = c[probe];
        if (!p) {
          if (probe !== "startupProbe") err(`${cw}: no ${probe}`);
          continue;
        }
        const port = p.grpc?.port ?? p.tcpSocket?.port ?? p.httpGet?.port;
        if (port === undefined) err(`${cw}: ${probe} has no port (exec probes are not used here)`);
        else if (!portOk(port)) err(`${cw}: ${probe} port ${port} is not a container port`);
      }
      if (!c.readinessProbe?.grpc) err(`${cw}: readinessProbe is not a gRPC probe (the services serve grpc.health.v1)`);
      // Which service runs here, and its config.
      const bin = /\/continuum-(\w+)$/.exec((c.command ?? [])[0] ?? "");
      if (!bin || !SERVICES.includes(bin[1])) {
        err(`${cw}: command ${JSON.stringify(c.command)} is not a continuum service binary`);
        continue;
      }
      const service = bin[1];
      serviceOf.set(w, service);
      const configArg = (c.args ?? []).find((a) => a.startsWith("--config="));
      if (!configArg) {
        err(`${cw}: no --config=FILE argument`);
        continue;
      }
      const file = configArg.slice("--config=".length);
      const mount = mounts.find((m) => file.startsWith(m.mountPath + "/"));
      const volume = mount && volumes.get(mount.name);
      if (!volume?.configMap) {
        err(`${cw}: ${file} is not on a ConfigMap volume`);
        continue;
      }
      const cm = find("ConfigMap", volume.configMap.name);
      const key = file.slice(mount.mountPath.length + 1);
      const text = cm?.data?.[key];
      if (text === undefined) {
        err(`${cw}: ConfigMap ${volume.configMap.name} has no key ${key}`);
        continue;
      }
      configs[service] = { text, where: cw, container: c, volumes, mounts, workload: w };
      // The config's addresses against the container.
      const field = (name) => (new RegExp(`^\\s*${name}:\\s*"([^"]*)"`, "m").exec(text) ?? [])[1];
      const grpcPort = ports.find((p) => p.name === "grpc")?.containerPort;
      const metricsPort = ports.find((p) => p.name === "metrics")?.containerPort;
      const listen = field("listen");
      const metricsListen = field("metrics_listen");
      if (!listen || Number(listen.split(":").pop()) !== grpcPort || !listen.startsWith("0.0.0.0:")) {
        err(`${cw}: config listen "${listen}" is not 0.0.0.0:<grpc container port ${grpcPort}>`);
      }
      if (!metricsListen || Number(metricsListen.split(":").pop()) !== metricsPort) {
        err(`${cw}: config metrics_listen "${metricsListen}" does not match the metrics container port ${metricsPort}`);
      }
      // The kubelet's gRPC probes speak plaintext: with TLS on they must ask
      // the health-only port (server.health_listen), else the gRPC port.
      const healthListen = field("health_listen");
      const tlsOn = /^\s*tls\s*\{/m.test(text);
      const healthPort = healthListen ? Number(healthListen.split(":").pop()) : undefined;
      if (tlsOn && !healthListen) err(`${cw}: TLS is on but health_listen is not set: the kubelet's gRPC probes cannot speak TLS`);
      if (healthListen && !ports.some((p) => p.containerPort === healthPort)) {
        err(`${cw}: config health_listen "${healthListen}" is not a container port`);
      }
      const probePort = healthListen ? healthPort : grpcPort;
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        if (probe?.grpc && probe.grpc.port !== probePort) {
          err(`${cw}: gRPC probe port ${probe.grpc.port} is not the ${healthListen ? "health_listen" : "grpc"} port ${probePort}`);
        }
      }
      const dataDir = field("data_dir");
      const dataMount = mounts.find((m) => m.mountPath === dataDir);
      if (!dataMount || dataMount.readOnly) err(`${cw}: data_dir ${dataDir} is not a writable volume mount`);
      // Service DNS names in the config must be rendered Services, on a port they expose.
      for (const m of text.matchAll(/^\s*(\w+_address):\s*"([^"]*)"/gm)) {
        if (!m[2]) continue;
        const [host, port] = [m[2].slice(0, m[2].lastIndexOf(":")), Number(m[2].split(":").pop())];
        const svcName = host.split(".")[0];
        const svc = find("Service", svcName);
        if (!svc) err(`${cw}: ${m[1]} "${m[2]}": no Service ${svcName}`);
        else if (!(svc.spec?.ports ?? []).some((p) => p.port === port)) err(`${cw}: ${m[1]} "${m[2]}": Service ${svcName} has no port ${port}`);
        const rest = host.split(".").slice(1);
        if (rest.length && rest[0] !== ns) err(`${cw}: ${m[1]} "${m[2]}" names namespace ${rest[0]}, not ${ns}`);
      }
    }
  }
  const required = render.site ? ["collector", "trainer"] : SERVICES;
  for (const s of required) if (!configs[s]) err(`no workload runs continuum-${s} with a config`);

  // The collector keeps a volume per replica.
  const collector = configs.collector?.workload;
  if (collector && (collector.kind !== "StatefulSet" || !(collector.spec.volumeClaimTemplates ?? []).length)) {
    err(`the collector is not a StatefulSet with volumeClaimTemplates`);
  }
  for (const s of ["registry", "trainer"]) {
    const c = configs[s];
    if (!c) continue;
    const dataDir = (/^\s*data_dir:\s*"([^"]*)"/m.exec(c.text) ?? [])[1];
    const mount = c.mounts.find((m) => m.mountPath === dataDir);
    if (!c.volumes.get(mount?.name)?.persistentVolumeClaim) err(`${s}: data_dir is not on a persistent volume`);
  }

  // Services select pods and target their ports.
  for (const svc of services) {
    // An alias of a service elsewhere (a federated site's coordinator).
    if (svc.spec?.type === "ExternalName") {
      if (!svc.spec.externalName) err(`${id(svc)}: ExternalName without externalName`);
      continue;
    }
    const selected = workloads.filter((w) => matches(svc.spec?.selector, w.spec?.template?.metadata?.labels));
    if (selected.length === 0) err(`${id(svc)}: selects no workload`);
    for (const p of svc.spec?.ports ?? []) {
      for (const w of selected) {
        const cports = (w.spec.template.spec.containers ?? []).flatMap((c) => c.ports ?? []);
        const t = p.targetPort ?? p.port;
        if (!cports.some((c) => (typeof t === "number" ? c.containerPort === t : c.name === t))) {
          err(`${id(svc)}: port ${p.name} targets ${t}, which ${id(w)} does not expose`);
        }
      }
    }
  }
  for (const sts of byKind("StatefulSet")) {
    const gov = find("Service", sts.spec?.serviceName);
    if (!gov || gov.spec?.clusterIP !== "None") err(`${id(sts)}: serviceName ${sts.spec?.serviceName} is not a headless Service`);
    else if (!matches(gov.spec.selector, sts.spec.template.metadata.labels)) err(`${id(sts)}: its governing Service does not select it`);
  }
  // ServiceMonitors: select Services named continuum-<service> (the job name
  // the alerting rules expect) that have the endpoint's port.
  const monitored = new Set();
  for (const sm of byKind("ServiceMonitor")) {
    const selected = services.filter((s) => matches(sm.spec?.selector?.matchLabels, s.metadata?.labels));
    if (selected.length === 0) err(`${id(sm)}: selects no Service`);
    for (const s of selected) {
      if (!/^continuum-\w+$/.test(s.metadata.name)) err(`${id(sm)}: selects ${id(s)}, whose job name would not be continuum-<service>`);
      monitored.add(s.metadata.name);
      for (const e of sm.spec.endpoints ?? []) {
        if (!(s.spec?.ports ?? []).some((p) => p.name === e.port)) err(`${id(sm)}: ${id(s)} has no port ${e.port}`);
      }
    }
  }
  for (const s of required) if (!monitored.has(`continuum-${s}`)) err(`no ServiceMonitor scrapes continuum-${s}`);
  // HPA and PDB.
  for (const hpa of byKind("HorizontalPodAutoscaler")) {
    const ref = hpa.spec?.scaleTargetRef ?? {};
    const target = find(ref.kind, ref.name);
    if (!target) {
      err(`${id(hpa)}: target ${ref.kind}/${ref.name} is not rendered`);
      continue;
    }
    if (target.spec.replicas !== undefined) err(`${id(hpa)}: ${id(target)} sets replicas, which the HPA owns`);
    if (!(hpa.spec.minReplicas >= 2)) err(`${id(hpa)}: minReplicas below 2`);
    if (!(hpa.spec.maxReplicas >= hpa.spec.minReplicas)) err(`${id(hpa)}: maxReplicas below minReplicas`);
    const ru = target.spec.strategy?.rollingUpdate;
    if (target.kind === "Deployment" && (target.spec.strategy?.type ?? "RollingUpdate") !== "RollingUpdate") {
      err(`${id(target)}: not a rolling update`);
    }
    if (target.kind === "Deployment" && !(ru?.maxUnavailable === 0 || ru?.maxUnavailable === "0%")) {
      err(`${id(target)}: rolling update may drop below capacity (maxUnavailable is not 0)`);
    }
    const pdb = byKind("PodDisruptionBudget").find((p) => matches(p.spec?.selector?.matchLabels, target.spec.template.metadata.labels));
    if (!pdb) err(`${id(target)}: no PodDisruptionBudget`);
  }
  if (configs.inference && !byKind("HorizontalPodAutoscaler").some((h) => h.spec.scaleTargetRef.name === configs.inference.workload.metadata.name)) {
    err(`inference: no HorizontalPodAutoscaler`);
  }
  for (const pdb of byKind("PodDisruptionBudget")) {
    if (!workloads.some((w) => matches(pdb.spec?.selector?.matchLabels, w.spec.template.metadata.labels))) err(`${id(pdb)}: selects no workload`);
  }
  // Placeholder secrets are allowed but must say so.
  for (const s of byKind("Secret")) {
    const values = Object.values({ ...(s.stringData ?? {}), ...(s.data ?? {}) }).join(" ");
    if (/REPLACE_ME/.test(values) && s.metadata?.annotations?.["continuum.io/placeholder"] !== "true") {
      err(`${id(s)}: placeholder values without the continuum.io/placeholder annotation`);
    }
  }

  if (configsOut) {
    const dir = path.join(configsOut, render.name);
    fs.mkdirSync(dir, { recursive: true });
    for (const [service, c] of Object.entries(configs)) fs.writeFileSync(path.join(dir, `${service}.pbtxt`), c.text);
  }
  console.log(`${render.name}: ${objects.length} objects (${[...new Set(objects.map((o) => o.kind))].join(", ")})`);
  for (const e of errors) console.log(`  FAIL ${render.name}: ${e}`);
  failures += errors.length;
}

// The strict TypeScript check of every object (unknown fields, wrong types).
const tsErrors = typeCheck(tsFiles);
for (const e of tsErrors) console.log(`  FAIL types: ${e}`);
failures += tsErrors.length;

if (failures) {
  console.log(`${failures} problem(s)`);
  process.exit(1);
}
console.log("all objects valid");
