"""Authentication and roles against a real registry (tests/auth_test.sh
starts it with TLS and an identities file), from Debian's python3-grpcio:

- health checks need no identity; every other call without one, or with an
  unknown token, is UNAUTHENTICATED;
- every role against every method of the six services (a table from the
  roles' definitions in docs/operations.md): allowed -> not
  PERMISSION_DENIED, denied -> PERMISSION_DENIED naming the roles needed
  (the auth check runs before the method is looked up, so one registry
  answers for every service's methods);
- a client certificate listed in the identities file is an identity;
- the audit log records the authenticated subject, not the name a caller
  writes into x-continuum-actor, and "X on behalf of Y" for an admin.
Usage: auth_peers.py PYTHON_DIR PORT CERT_DIR
"""

import sys

python_dir, port, certs = sys.argv[1:4]
sys.path.insert(0, python_dir)

import grpc  # noqa: E402
from continuum.v1 import (collector_pb2, common_pb2, drift_pb2,  # noqa: E402
                          federated_pb2, inference_pb2, registry_pb2,
                          registry_pb2_grpc, trainer_pb2)

target = f"127.0.0.1:{port}"
failures = []
TOKENS = {role: f"{role}-secret-token" for role in
          ("viewer", "producer", "trainer", "operator", "pod", "site",
           "admin")}

VIEW = {"GetDataset", "ListDatasets", "GetDatasetStats", "GetModel",
        "ListModels", "GetVersion", "ListVersions", "DownloadArtifact",
        "GetRolloutStatus", "WatchDeployments", "GetRun", "ListRuns",
        "WatchRun", "GetTrainingConfig", "GetModelStatus", "GetMonitor",
        "ListMonitors", "GetDriftStatus", "ListAlerts", "GetAlert",
        "WatchAlerts", "ListRounds", "ListSites", "GetRound"}
PREDICT = {"Predict", "PredictStream"}
SEND = {"Ingest", "IngestBatch", "ReportOutcome", "Observe"}
CHANGE = {"CreateDataset", "UpdateDataset", "RegisterModel", "UpdateModel",
          "SetTags", "SetAlias", "DeleteAlias", "TransitionVersion",
          "Promote", "SetTraffic", "PauseRollout", "ResumeRollout",
          "AbortRollout", "Rollback", "TriggerRun", "CancelRun",
          "ConfigureTraining", "PauseSchedule", "ResumeSchedule",
          "ConfigureMonitor", "StartRound", "UpdateSite"}
ALLOWED = {
    "viewer": VIEW | PREDICT,
    "producer": SEND | PREDICT,
    "trainer": VIEW | {"Scan", "SampleReplay", "UploadVersion",
                       "SubmitValidation", "RecordAuditEvent"},
    "operator": VIEW | PREDICT | CHANGE,
    "pod": VIEW | PREDICT | SEND | {"ReportServingState"},
    "site": {"GetRound", "JoinRound", "SubmitUpdate", "RevealMaskSeeds"},
}


def read(path):
    with open(path, "rb") as f:
        return f.read()


tls = grpc.ssl_channel_credentials(root_certificates=read(f"{certs}/ca.pem"))
plain_channel = grpc.secure_channel(target, tls)


def token_channel(token):
    return grpc.secure_channel(target, grpc.composite_channel_credentials(
        tls, grpc.access_token_call_credentials(token)))


def code_of(channel, path, metadata=None, timeout=3):
    call = channel.unary_unary(path, request_serializer=lambda b: b,
                               response_deserializer=lambda b: b)
    try:
        call(b"", timeout=timeout, metadata=metadata)
        return "OK", ""
    except grpc.RpcError as e:
        return e.code().name, e.details() or ""


def expect(what, ok, detail=""):
    if not ok:
        failures.append(f"{what}: {detail}")


# Open and closed doors.
# grpc.health.v1.Health/Check with an empty request; SERVING is b"\x08\x01"
# (field 1, value 1). Debian has no Python stubs of the health service.
check = plain_channel.unary_unary("/grpc.health.v1.Health/Check",
                                  request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
expect("health without identity", check(b"", timeout=5) == b"\x08\x01")
code, details = code_of(plain_channel,
                        "/continuum.v1.RegistryService/ListModels")
print(f"no identity: {code} {details}")
expect("no identity", code == "UNAUTHENTICATED", code)
code, details = code_of(token_channel("not-a-token"),
                        "/continuum.v1.RegistryService/ListModels")
print(f"unknown token: {code} {details}")
expect("unknown token", code == "UNAUTHENTICATED", code)

# Every role against every method.
methods = []
for module in (collector_pb2, registry_pb2, trainer_pb2, inference_pb2,
               drift_pb2, federated_pb2):
    for service in module.DESCRIPTOR.services_by_name.values():
        for m in service.methods:
            methods.append((service.full_name, m.name))
checked = 0
for role, token in TOKENS.items():
    channel = token_channel(token)
    for service, method in methods:
        path = f"/{service}/{method}"
        code, details = code_of(channel, path, timeout=1.5)
        allowed = role == "admin" or method in ALLOWED[role]
        checked += 1
        if allowed and code == "PERMISSION_DENIED":
            failures.append(f"{role} {path}: denied: {details}")
        if not allowed:
            if code != "PERMISSION_DENIED":
                failures.append(f"{role} {path}: {code}, want "
                                f"PERMISSION_DENIED")
            elif "it needs one of the roles" not in details:
                failures.append(f"{role} {path}: message {details!r}")
print(f"role table: {checked} calls ({len(TOKENS)} roles x {len(methods)} "
      f"methods)")

# A client certificate as identity: "trainer" may upload, not promote.
cert_channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(
    root_certificates=read(f"{certs}/ca.pem"),
    private_key=read(f"{certs}/trainer.key"),
    certificate_chain=read(f"{certs}/trainer.pem")))
code, _ = code_of(cert_channel, "/continuum.v1.RegistryService/ListModels")
expect("certificate trainer ListModels", code == "OK", code)
code, details = code_of(cert_channel, "/continuum.v1.RegistryService/Promote")
print(f"certificate trainer Promote: {code} {details}")
expect("certificate trainer Promote", code == "PERMISSION_DENIED", code)

# The audit log names the authenticated subject.
ops = registry_pb2_grpc.RegistryServiceStub(token_channel(TOKENS["operator"]))
ops.RegisterModel(registry_pb2.RegisterModelRequest(
    model_id="auth-test", model=registry_pb2.Model(
        family=common_pb2.MODEL_FAMILY_MLP_CLASSIFIER,
        spec=common_pb2.ModelSpec(input_dim=4, output_dim=3))),
    metadata=[("x-continuum-actor", "mallory")], timeout=10)
admin = registry_pb2_grpc.RegistryServiceStub(token_channel(TOKENS["admin"]))
admin.UpdateModel(registry_pb2.UpdateModelRequest(
    model=registry_pb2.Model(name="models/auth-test", description="x"),
    update_mask={"paths": ["description"]}),
    metadata=[("x-continuum-actor", "carol")], timeout=10)
actors = [r.entry.actor for r in admin.ExportAudit(
    registry_pb2.ExportAuditRequest(), timeout=10)]
print(f"audit actors: {actors}")
expect("audit of the operator", "operator-user" in actors, actors)
expect("the claimed actor is not recorded for an operator",
       "mallory" not in " ".join(actors), actors)
expect("admin on behalf of", "admin-user on behalf of carol" in actors,
       actors)

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
