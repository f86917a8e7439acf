"""A Byzantine site, as an outside process speaking FederatedService.

Joins the next round of a model as SITE_ID (waiting for it to open and for
its membership to close) and submits a made-up update: a random direction
scaled to NORM, i.e. far larger than an honest site's. It holds no data and
runs no trainer; tests/federated_e2e_test.sh uses it to check that robust
aggregation and outlier exclusion keep it out.

Usage: federated_attacker.py PYTHON_DIR COORDINATOR MODEL SITE_ID NORM|hang
Prints the round it attacked; exit 0 once the update was accepted. With
`hang` it joins, prints "joined ROUND" and then waits forever without
submitting: a site that dies or hangs mid-round (the test kills it).
"""
import math
import random
import sys
import time

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from continuum.v1 import federated_pb2, federated_pb2_grpc  # noqa: E402


def main():
    _, _, target, model, site, norm = sys.argv
    stub = federated_pb2_grpc.FederatedServiceStub(grpc.insecure_channel(target))
    joined = stub.JoinRound(federated_pb2.JoinRoundRequest(
        parent=f"models/{model}", site_id=site, sample_count=540, wait=True),
        timeout=120)
    round_ = joined.round
    if norm == "hang":
        print(f"joined {round_.name}", flush=True)
        while True:
            time.sleep(3600)
    rng = random.Random(99)
    values = [rng.gauss(0, 1) for _ in range(round_.num_parameters)]
    scale = float(norm) / math.sqrt(sum(v * v for v in values))
    values = [v * scale for v in values]

    def messages():
        yield federated_pb2.SubmitUpdateRequest(
            metadata=federated_pb2.UpdateMetadata(
                round=round_.name, site_id=site, sample_count=540,
                base_version=round_.base_version,
                num_parameters=round_.num_parameters))
        yield federated_pb2.SubmitUpdateRequest(
            chunk=federated_pb2.ParameterChunk(offset=0, values=values))

    response = stub.SubmitUpdate(messages(), timeout=60)
    print(f"attacked {round_.name}: accepted={response.accepted}")
    return 0 if response.accepted else 1


if __name__ == "__main__":
    sys.exit(main())
