#!/usr/bin/python3
"""A Continuum client in Python: the whole loop against the five services.

It uses only Debian's python3-grpcio and python3-protobuf. Generate the stubs
from protos/ first (CMake does it into build/python; see docs/api.md):

    protoc -I protos -I /usr/include --python_out=OUT --grpc_python_out=OUT \
      --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
      protos/continuum/v1/*.proto

Start the services (deploy/local/continuum-up --data-dir DIR writes
DIR/endpoints.env), make a model bundle with 4 inputs and 3 classes, then:

    ./build/bin/continuumctl model init --family=mlp_classifier \
      --inputs=4 --classes=3 --output=/tmp/python-demo.bundle
    PYTHONPATH=build/python /usr/bin/python3 examples/python/continuum_client.py \
      --endpoints=DIR/endpoints.env --bundle=/tmp/python-demo.bundle

(--collector, --registry, --inference and --drift=HOST:PORT name the
services one by one instead, or override the file.)

What it does, printing one line per step; the model and its data set are
both called `python-demo` (the inference pod logs the predictions of a
model into the data set named like it):
  * collector: creates the data set, ingests records, has a bad batch
    rejected, reports a late outcome, scans the window back and reads the
    statistics;
  * registry: registers the model (immediate rollout plan), uploads the
    bundle in chunks with a validation report (so the registry validates
    and deploys it at once), watches the deployments;
  * drift: configures the model's monitor (error rate above 30 % over 100
    outcomes is a performance alert; dry-run actions) and opens a
    WatchAlerts stream;
  * inference: waits until the pod serves the version (GetModelStatus),
    predicts a few rows with record ids;
  * outcomes: reports each row's true class to the collector
    (ReportOutcome, joined to the logged prediction by record id) and
    right/wrong to the drift service (Observe, OBSERVATION_KIND_OUTCOME);
  * drift: predicts 120 more rows, reports them all wrong, prints the
    alerts the watch delivers until the performance alert (or a deadline)
    and that alert's action (as the watch delivers it), then the version's
    error rate from GetDriftStatus;
  * contracts: what the services answer to requests that break the
    protos' rules (docs/api.md, tests/conformance): an Ingest stream with
    an unparsable message in the middle, a record id over 128 bytes, a
    negative version pin, a misspelt enum value in a filter; and an
    evaluation request that is not logged (LOG_POLICY_NEVER).
"""

import argparse
import hashlib
import os
import random
import sys
import threading
import time

import grpc

from continuum.v1 import collector_pb2, collector_pb2_grpc
from continuum.v1 import common_pb2
from continuum.v1 import drift_pb2, drift_pb2_grpc
from continuum.v1 import inference_pb2, inference_pb2_grpc
from continuum.v1 import registry_pb2, registry_pb2_grpc

MODEL = "python-demo"  # Model id and data set id.
FEATURES = 4
CLASSES = 3
TIMEOUT = 10  # Seconds, per unary call.


def fail(message):
    raise SystemExit(f"continuum_client: {message}")


def wait_until(what, condition, seconds=30, interval=0.1):
    """Polls condition() until it returns a true value; returns that value."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(interval)


def run_collector(collector):
    request = collector_pb2.CreateDatasetRequest(dataset_id=MODEL)
    request.dataset.schema.feature_dim = FEATURES
    request.dataset.schema.label_kind = common_pb2.LABEL_KIND_CLASS
    request.dataset.schema.num_classes = CLASSES
    try:
        collector.CreateDataset(request, timeout=TIMEOUT)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.ALREADY_EXISTS:
            fail(f"data set {MODEL} already exists: this client expects fresh "
                 "services (deploy/local/continuum-up with a new --data-dir)")
        raise
    print(f"collector: created data set {MODEL}")

    rng = random.Random(7)
    now = time.time()
    batch = collector_pb2.IngestBatchRequest(dataset=MODEL)
    for i in range(100):
        record = batch.records.add()
        record.id = f"r{i}"
        record.event_time.FromSeconds(int(now) - 3600 + i)
        record.features.extend(rng.uniform(-1, 1) for _ in range(FEATURES))
        if i % 2 == 0:
            record.label.class_index = i % CLASSES
        record.attributes["site"] = "eu" if i < 50 else "us"
    response = collector.IngestBatch(batch, timeout=TIMEOUT)
    print(f"collector: ingested {response.accepted_records} records")

    # A bad batch is rejected whole, naming the record.
    bad = collector_pb2.IngestBatchRequest(dataset=MODEL)
    record = bad.records.add()
    record.id = "bad"
    record.event_time.FromSeconds(int(now))
    record.features.extend([1.0, 2.0])
    try:
        collector.IngestBatch(bad, timeout=TIMEOUT)
        fail("the bad batch was accepted")
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        print(f"collector: bad batch rejected: {error.details()}")

    outcome = collector_pb2.ReportOutcomeRequest(dataset=MODEL, id="r1")
    outcome.label.class_index = 2
    disposition = collector.ReportOutcome(outcome, timeout=TIMEOUT).disposition
    print("collector: outcome for r1 "
          + collector_pb2.OutcomeDisposition.Name(disposition))

    scan = collector_pb2.ScanRequest(dataset=MODEL, only_labeled=True,
                                     filter='attributes.site = "eu"')
    rows = 0
    labels = {}
    for response in collector.Scan(scan, timeout=TIMEOUT):
        batch = response.batch
        rows += batch.num_rows
        for r in range(batch.num_rows):
            labels[batch.ids[r]] = batch.class_indices[r]
    print(f"collector: scanned {rows} labelled eu rows; r1 has class {labels['r1']}")

    stats = record_stats(collector)
    print(f"collector: {stats.record_count} records, {stats.labeled_count} labelled")


def record_stats(collector):
    request = collector_pb2.GetDatasetStatsRequest(name=f"datasets/{MODEL}")
    return collector.GetDatasetStats(request, timeout=TIMEOUT).stats


def run_registry(registry, bundle):
    request = registry_pb2.RegisterModelRequest(model_id=MODEL)
    request.model.family = common_pb2.MODEL_FAMILY_MLP_CLASSIFIER
    request.model.rollout_plan.immediate.SetInParent()
    registry.RegisterModel(request, timeout=TIMEOUT)
    print(f"registry: registered {MODEL}")

    def upload_messages():
        first = registry_pb2.UploadVersionRequest()
        first.metadata.model = MODEL
        first.metadata.sha256 = hashlib.sha256(bundle).hexdigest()
        first.metadata.size_bytes = len(bundle)
        # Submitted atomically with the upload: the registry applies its
        # gates and, with the immediate plan, deploys the version at once.
        evaluation = first.metadata.validation_report.evaluations.add()
        evaluation.evaluation_set = "held_out"
        evaluation.candidate.loss = 0.2
        evaluation.candidate.accuracy = 0.93
        evaluation.candidate.sample_count = 500
        yield first
        for i in range(0, len(bundle), 65536):
            yield registry_pb2.UploadVersionRequest(chunk=bundle[i:i + 65536])

    response = registry.UploadVersion(upload_messages(), timeout=30)
    print(f"registry: uploaded {response.version.name}, "
          f"{response.decision.summary}")

    watch = registry.WatchDeployments(
        registry_pb2.WatchDeploymentsRequest(models=[MODEL]), timeout=30)
    for event in watch:
        if event.HasField("deployment"):
            print(f"registry: revision {event.deployment.revision} serves "
                  f"version {event.deployment.stable_version}")
        if event.caught_up:
            watch.cancel()
            break
    return response.version.version


def configure_monitor(drift):
    request = drift_pb2.ConfigureMonitorRequest()
    monitor = request.monitor
    monitor.name = f"models/{MODEL}/monitor"
    # No detectors named: the defaults (ADWIN on the error stream,
    # Page-Hinkley on the predictions' confidence).
    monitor.performance.max_error_rate = 0.3
    monitor.performance.window_size = 100
    monitor.performance.min_outcomes = 50
    # Decide actions but do not call the registry or the trainer: the
    # default policy would roll production back (there is nothing to roll
    # back to here) and retrain on concept drift.
    monitor.actions.dry_run = True
    configured = drift.ConfigureMonitor(request, timeout=TIMEOUT).monitor
    p = configured.performance
    print(f"drift: monitor {configured.name}: error rate above "
          f"{p.max_error_rate:.0%} over {p.window_size} outcomes "
          f"(at least {p.min_outcomes}) is a performance alert; "
          f"{len(configured.detectors)} detectors; dry run")


def wait_served(inference, version):
    def served():
        try:
            status = inference.GetModelStatus(
                inference_pb2.GetModelStatusRequest(model=MODEL),
                timeout=TIMEOUT)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None  # The pod has not heard of the model yet.
            raise
        for model in status.models:
            for v in model.versions:
                if v.version == version and \
                        v.state == common_pb2.SERVING_STATE_AVAILABLE:
                    return status.pod_id, model.revision
        return None

    pod, revision = wait_until(f"the pod to serve version {version}", served)
    print(f"inference: pod {pod} serves version {version} "
          f"(revision {revision}, SERVING_STATE_AVAILABLE)")


def predict(inference, ids, rng):
    request = inference_pb2.PredictRequest(model=MODEL, force_log=True,
                                           request_id=f"python-{ids[0]}")
    request.inputs.shape.extend([len(ids), FEATURES])
    request.inputs.data.extend(rng.uniform(-1, 1)
                               for _ in range(len(ids) * FEATURES))
    request.record_ids.extend(ids)
    return inference.Predict(request, timeout=TIMEOUT)


def report_outcomes(collector, drift, version, ids, labels, predicted):
    """Reports each row's true class to the collector and right/wrong to the
    drift service; returns the collector's dispositions by name."""
    dispositions = {}
    for record_id, label in zip(ids, labels):
        request = collector_pb2.ReportOutcomeRequest(dataset=MODEL, id=record_id)
        request.label.class_index = label
        name = collector_pb2.OutcomeDisposition.Name(
            collector.ReportOutcome(request, timeout=TIMEOUT).disposition)
        dispositions[name] = dispositions.get(name, 0) + 1

    def batches(size=20):
        for start in range(0, len(ids), size):
            batch = drift_pb2.ObservationBatch(
                model=MODEL, version=version,
                kind=drift_pb2.OBSERVATION_KIND_OUTCOME)
            rows = list(range(start, min(start + size, len(ids))))
            batch.num_rows = len(rows)
            batch.ids.extend(ids[r] for r in rows)
            for i, r in enumerate(rows):
                batch.outcomes.add(row=i, correct=labels[r] == predicted[r])
            yield drift_pb2.ObserveRequest(batch=batch)

    observed = drift.Observe(batches(), timeout=TIMEOUT)
    return dispositions, observed


def describe(alert):
    return (f"drift: alert {alert.sequence} "
            f"{drift_pb2.AlertType.Name(alert.type)} "
            f"{drift_pb2.AlertSeverity.Name(alert.severity)} by {alert.detector} "
            f"on version {alert.version}: {alert.message}")


def run_loop(collector, inference, drift, version):
    rng = random.Random(11)
    wait_served(inference, version)
    before = record_stats(collector).record_count

    # A few predictions, logged by the pod to the collector (as records with
    # our ids) and to the drift service (as observations).
    ids = [f"p{i}" for i in range(8)]
    reply = predict(inference, ids, rng)
    predicted = list(reply.predicted_classes)
    print(f"inference: predicted {len(ids)} rows with version "
          f"{reply.version.version} ({common_pb2.ServingRole.Name(reply.role)}): "
          f"classes {predicted}, top probability "
          f"{min(reply.scores):.2f}..{max(reply.scores):.2f}")

    # The pod logs asynchronously (every 200 ms by default): wait for the
    # records, so that the outcomes join them rather than wait for them.
    wait_until("the logged predictions in the collector",
               lambda: record_stats(collector).record_count >= before + len(ids))
    # Half the predictions turn out right, half wrong.
    labels = [p if i % 2 == 0 else (p + 1) % CLASSES
              for i, p in enumerate(predicted)]
    dispositions, observed = report_outcomes(
        collector, drift, reply.version.version, ids, labels, predicted)
    print(f"outcomes: collector {dispositions}; drift observed "
          f"{observed.outcomes} outcomes in {observed.batches} batch")

    # Then the model goes bad: a stream of wrong outcomes.
    ids = [f"w{i}" for i in range(120)]
    before = record_stats(collector).record_count
    reply = predict(inference, ids, rng)
    predicted = list(reply.predicted_classes)
    wait_until("the logged predictions in the collector",
               lambda: record_stats(collector).record_count >= before + len(ids))
    labels = [(p + 1) % CLASSES for p in predicted]
    dispositions, observed = report_outcomes(
        collector, drift, reply.version.version, ids, labels, predicted)
    print(f"outcomes: {len(ids)} wrong; collector {dispositions}; drift observed "
          f"{observed.outcomes} outcomes in {observed.batches} batches")
    return reply.version.version


def watch_alerts(drift, watch, seconds):
    """Prints the alerts of an open WatchAlerts stream until the performance
    alert arrives, or cancels the stream after `seconds`."""
    timer = threading.Timer(seconds, watch.cancel)
    timer.start()
    try:
        for response in watch:
            alert = response.alert
            print(describe(alert))
            if alert.type != drift_pb2.ALERT_TYPE_PERFORMANCE:
                continue
            watch.cancel()
            # The watch delivers an alert once its action has run, so the
            # alert carries the action's outcome.
            action = alert.action_result
            print(f"drift: alert {alert.sequence} action "
                  f"{drift_pb2.DriftAction.Name(action.action)}: "
                  f"{action.message}")
            return True
    except grpc.RpcError as error:
        if error.code() not in (grpc.StatusCode.CANCELLED,
                                grpc.StatusCode.DEADLINE_EXCEEDED):
            raise
    finally:
        timer.cancel()
    print(f"drift: no performance alert within {seconds:g} s")
    return False


def rejected(what, call):
    """Runs `call`, which must fail INVALID_ARGUMENT; prints the message."""
    try:
        call()
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        print(f"contracts: {what}: INVALID_ARGUMENT {error.details()}")
        return
    fail(f"{what} was accepted")


def check_contracts(channels, collector, registry, inference):
    """Requests that break the protos' rules, each answered INVALID_ARGUMENT
    with a message naming what is wrong, and nothing after a broken stream
    message lost silently."""
    dataset = "python-contracts"
    request = collector_pb2.CreateDatasetRequest(dataset_id=dataset)
    request.dataset.schema.feature_dim = FEATURES
    request.dataset.schema.label_kind = common_pb2.LABEL_KIND_NONE
    collector.CreateDataset(request, timeout=TIMEOUT)

    def message(first):
        m = collector_pb2.IngestRequest(dataset=dataset)
        for i in range(first, first + 2):
            record = m.records.add()
            record.id = f"c{i}"
            record.event_time.FromSeconds(int(time.time()))
            record.features.extend([0.5] * FEATURES)
        return m.SerializeToString()

    # The stubs cannot send bytes that do not parse: a raw stream can.
    ingest = channels["collector"].stream_unary(
        "/continuum.v1.CollectorService/Ingest",
        request_serializer=lambda b: b,
        response_deserializer=collector_pb2.IngestResponse.FromString)
    rejected("Ingest [valid, unparsable, valid]",
             lambda: ingest(iter([message(0), b"\xff\xff not a message",
                                  message(2)]), timeout=TIMEOUT))
    stats = collector.GetDatasetStats(
        collector_pb2.GetDatasetStatsRequest(name=f"datasets/{dataset}"),
        timeout=TIMEOUT).stats
    print(f"contracts: {dataset} holds {stats.record_count} records "
          "(the first message's)")

    def predict(**fields):
        request = inference_pb2.PredictRequest(model=MODEL, **fields)
        request.inputs.shape.extend([1, FEATURES])
        request.inputs.data.extend([0.1] * FEATURES)
        return lambda: inference.Predict(request, timeout=TIMEOUT)

    # Evaluation traffic: never logged, so it never becomes training data.
    request = inference_pb2.PredictRequest(
        model=MODEL, log=inference_pb2.LOG_POLICY_NEVER)
    request.inputs.shape.extend([1, FEATURES])
    request.inputs.data.extend([0.1] * FEATURES)
    answer = inference.Predict(request, timeout=TIMEOUT)
    print(f"contracts: an evaluation request (LOG_POLICY_NEVER) is answered, "
          f"logged={answer.logged}")
    rejected("Predict with a 200-byte record id",
             predict(record_ids=["x" * 200]))
    rejected("Predict pinned to version -1", predict(version=-1))
    rejected("ListVersions filtered by state = PRODUCTON",
             lambda: registry.ListVersions(
                 registry_pb2.ListVersionsRequest(
                     parent=f"models/{MODEL}", filter="state = PRODUCTON"),
                 timeout=TIMEOUT))


def read_endpoints(path):
    endpoints = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.strip().partition("=")
            if sep:
                endpoints[key] = value
    return endpoints


def tls_credentials(args, endpoints):
    """TLS (and a bearer token) from the flags or the endpoints file, or
    None for plaintext."""
    ca = args.tls_ca or endpoints.get("CONTINUUM_TLS_CA")
    cert = args.tls_cert or endpoints.get("CONTINUUM_TLS_CERT")
    key = args.tls_key or endpoints.get("CONTINUUM_TLS_KEY")
    token = None
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    elif os.environ.get("CONTINUUM_TOKEN"):
        token = os.environ["CONTINUUM_TOKEN"]
    if not ca:
        if token:
            sys.exit("a bearer token is sent over TLS only: give --tls_ca")
        return None

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(ca),
        private_key=read(key) if key else None,
        certificate_chain=read(cert) if cert else None)
    if token:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.access_token_call_credentials(token))
    return credentials


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints",
                        help="endpoints.env written by deploy/local/continuum-up")
    for service in ("collector", "registry", "inference", "drift"):
        parser.add_argument(f"--{service}", help="HOST:PORT")
    parser.add_argument("--bundle", required=True,
                        help="model bundle with 4 inputs and 3 classes "
                             "(continuumctl model init)")
    parser.add_argument("--alert_timeout", type=float, default=20,
                        help="seconds to wait for the performance alert")
    parser.add_argument("--tls_ca", help="CA bundle (PEM): connect with TLS "
                        "(default: CONTINUUM_TLS_CA of --endpoints)")
    parser.add_argument("--tls_cert", help="client certificate (PEM) for "
                        "mutual TLS (default: CONTINUUM_TLS_CERT)")
    parser.add_argument("--tls_key", help="client key (PEM) for mutual TLS "
                        "(default: CONTINUUM_TLS_KEY)")
    parser.add_argument("--token_file", help="bearer token file (over TLS; "
                        "default: the CONTINUUM_TOKEN environment variable)")
    args = parser.parse_args()
    endpoints = read_endpoints(args.endpoints) if args.endpoints else {}
    targets = {}
    for service in ("collector", "registry", "inference", "drift"):
        targets[service] = getattr(args, service) or \
            endpoints.get(f"CONTINUUM_{service.upper()}")
        if not targets[service]:
            parser.error(f"no address for the {service}: "
                         f"give --{service} or --endpoints")
    with open(args.bundle, "rb") as f:
        bundle = f.read()

    credentials = tls_credentials(args, endpoints)

    def channel(service):
        if credentials is None:
            return grpc.insecure_channel(targets[service])
        return grpc.secure_channel(targets[service], credentials)

    channels = {s: channel(s) for s in targets}
    collector = collector_pb2_grpc.CollectorServiceStub(channels["collector"])
    registry = registry_pb2_grpc.RegistryServiceStub(channels["registry"])
    inference = inference_pb2_grpc.InferenceServiceStub(channels["inference"])
    drift = drift_pb2_grpc.DriftServiceStub(channels["drift"])

    run_collector(collector)
    version = run_registry(registry, bundle)
    configure_monitor(drift)
    # The watch starts now, before any traffic, so it sees every alert of
    # the model (a watch with since_sequence 0 sends only new alerts; one
    # that reconnects passes the last sequence it saw).
    watch = drift.WatchAlerts(
        drift_pb2.WatchAlertsRequest(models=[MODEL]), timeout=300)
    version = run_loop(collector, inference, drift, version)
    if not watch_alerts(drift, watch, args.alert_timeout):
        return 1

    # The pod sends its observations (the predictions) on its own schedule:
    # wait until all 128 rows have arrived.
    def performance():
        status = drift.GetDriftStatus(
            drift_pb2.GetDriftStatusRequest(name=f"models/{MODEL}",
                                            version=version),
            timeout=TIMEOUT)
        if all(p.observations >= 128 for p in status.performance):
            return status.performance
        return None

    for p in wait_until("the pod's observations in the drift service",
                        performance, seconds=10):
        print(f"drift: version {p.version} error rate {p.error_rate:.0%} over "
              f"the window, {p.outcomes} outcomes, {p.observations} "
              f"observations logged by the pod")
    stats = record_stats(collector)
    print(f"collector: {stats.record_count} records, {stats.labeled_count} labelled")
    check_contracts(channels, collector, registry, inference)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
