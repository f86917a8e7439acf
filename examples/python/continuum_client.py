#!/usr/bin/python3
"""A Continuum client in Python, written against the generated stubs.

It uses only Debian's python3-grpcio and python3-protobuf. Generate the stubs
from protos/ first (CMake does it into build/python; see docs/api.md):

    protoc -I protos -I /usr/include --python_out=OUT --grpc_python_out=OUT \
      --plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin \
      protos/continuum/v1/*.proto

Then:

    PYTHONPATH=OUT /usr/bin/python3 examples/python/continuum_client.py \
      --collector=127.0.0.1:PORT --registry=127.0.0.1:PORT

What it does, printing one line per step:
  * collector: creates a data set, ingests records, reports a late outcome,
    scans the window back and reads the statistics;
  * registry: registers a model, uploads an artifact in chunks with a
    validation report, watches the deployments and sees the version served.
"""

import argparse
import hashlib
import random
import sys
import time

import grpc

from continuum.v1 import collector_pb2, collector_pb2_grpc
from continuum.v1 import common_pb2
from continuum.v1 import registry_pb2, registry_pb2_grpc


def run_collector(target):
    stub = collector_pb2_grpc.CollectorServiceStub(grpc.insecure_channel(target))
    dataset = "python-demo"
    request = collector_pb2.CreateDatasetRequest(dataset_id=dataset)
    request.dataset.schema.feature_dim = 4
    request.dataset.schema.label_kind = common_pb2.LABEL_KIND_CLASS
    request.dataset.schema.num_classes = 3
    stub.CreateDataset(request)
    print(f"collector: created data set {dataset}")

    rng = random.Random(7)
    now = time.time()
    batch = collector_pb2.IngestBatchRequest(dataset=dataset)
    for i in range(100):
        record = batch.records.add()
        record.id = f"r{i}"
        record.event_time.FromSeconds(int(now) - 3600 + i)
        record.features.extend(rng.uniform(-1, 1) for _ in range(4))
        if i % 2 == 0:
            record.label.class_index = i % 3
        record.attributes["site"] = "eu" if i < 50 else "us"
    response = stub.IngestBatch(batch)
    print(f"collector: ingested {response.accepted_records} records")

    # A bad batch is rejected whole, naming the record.
    bad = collector_pb2.IngestBatchRequest(dataset=dataset)
    record = bad.records.add()
    record.id = "bad"
    record.event_time.FromSeconds(int(now))
    record.features.extend([1.0, 2.0])
    try:
        stub.IngestBatch(bad)
        raise SystemExit("collector: the bad batch was accepted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        print(f"collector: bad batch rejected: {error.details()}")

    outcome = collector_pb2.ReportOutcomeRequest(dataset=dataset, id="r1")
    outcome.label.class_index = 2
    disposition = stub.ReportOutcome(outcome).disposition
    print("collector: outcome for r1 "
          + collector_pb2.OutcomeDisposition.Name(disposition))

    scan = collector_pb2.ScanRequest(dataset=dataset, only_labeled=True,
                                     filter='attributes.site = "eu"')
    rows = 0
    labels = {}
    for response in stub.Scan(scan):
        batch = response.batch
        rows += batch.num_rows
        for r in range(batch.num_rows):
            labels[batch.ids[r]] = batch.class_indices[r]
    print(f"collector: scanned {rows} labelled eu rows; r1 has class {labels['r1']}")

    stats = stub.GetDatasetStats(
        collector_pb2.GetDatasetStatsRequest(name=f"datasets/{dataset}")).stats
    print(f"collector: {stats.record_count} records, {stats.labeled_count} labelled")


def run_registry(target):
    stub = registry_pb2_grpc.RegistryServiceStub(grpc.insecure_channel(target))
    request = registry_pb2.RegisterModelRequest(model_id="python-demo")
    request.model.family = common_pb2.MODEL_FAMILY_MLP_CLASSIFIER
    request.model.rollout_plan.immediate.SetInParent()
    stub.RegisterModel(request)
    print("registry: registered python-demo")

    artifact = bytes(random.Random(1).getrandbits(8) for _ in range(200000))

    def upload_messages():
        first = registry_pb2.UploadVersionRequest()
        first.metadata.model = "python-demo"
        first.metadata.sha256 = hashlib.sha256(artifact).hexdigest()
        first.metadata.size_bytes = len(artifact)
        evaluation = first.metadata.validation_report.evaluations.add()
        evaluation.evaluation_set = "held_out"
        evaluation.candidate.loss = 0.2
        evaluation.candidate.accuracy = 0.93
        evaluation.candidate.sample_count = 500
        yield first
        for i in range(0, len(artifact), 65536):
            yield registry_pb2.UploadVersionRequest(chunk=artifact[i:i + 65536])

    response = stub.UploadVersion(upload_messages())
    print(f"registry: uploaded {response.version.name}, "
          f"{response.decision.summary}")

    watch = stub.WatchDeployments(
        registry_pb2.WatchDeploymentsRequest(models=["python-demo"]))
    for event in watch:
        if event.HasField("deployment"):
            print(f"registry: revision {event.deployment.revision} serves "
                  f"version {event.deployment.stable_version}")
        if event.caught_up:
            watch.cancel()
            break


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--collector", required=True, help="HOST:PORT")
    parser.add_argument("--registry", required=True, help="HOST:PORT")
    args = parser.parse_args()
    run_collector(args.collector)
    run_registry(args.registry)
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
