"""Conformance suite: every rule the protos state, against the real services.

Run by tests/conformance/run.sh (which starts the five services with
deploy/local/continuum-up and makes a model bundle) through Debian's
python3-grpcio, an independent client of the generated stubs.

1. Generated rows. For every RPC of the five services, a valid request from
   fixtures/<service>.py (valid for the state set_up() makes), and for every
   (continuum.v1.rules) option reachable in it, one request that breaks
   exactly that rule (rules.py). Each must be answered INVALID_ARGUMENT
   naming the field's path; the valid request is checked against the rules
   in Python first. A rule no fixture reaches fails the suite, as does an
   RPC with rules and no fixture.
2. Hand-written rows (fixtures/<service>.py CASES): the rules a field option
   cannot state (a filter's enum values, page tokens of another query, a
   client stream broken mid-way, state transitions...), each named after
   the rule in the proto comment it checks.
Prints one line per row; exits 1 if any row failed.
"""

import argparse
import importlib
import os
import sys
import traceback

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rules  # noqa: E402
from continuum.v1 import (collector_pb2, drift_pb2, inference_pb2,  # noqa: E402,F401
                          registry_pb2, trainer_pb2)

SERVICES = {
    "collector": collector_pb2.DESCRIPTOR.services_by_name["CollectorService"],
    "registry": registry_pb2.DESCRIPTOR.services_by_name["RegistryService"],
    "trainer": trainer_pb2.DESCRIPTOR.services_by_name["TrainerService"],
    "inference": inference_pb2.DESCRIPTOR.services_by_name["InferenceService"],
    "drift": drift_pb2.DESCRIPTOR.services_by_name["DriftService"],
}


class Client:
    """Calls any method of the services by its descriptor, with raw bytes or
    messages, and returns (code, details, responses)."""

    def __init__(self, endpoints):
        self.channels = {s: grpc.insecure_channel(endpoints[s]) for s in SERVICES}

    def call(self, service, method, requests, timeout=15, raw=False):
        """`requests`: one message (or bytes) for a single-request method, a
        list for a client stream."""
        m = SERVICES[service].methods_by_name[method]
        path = f"/{SERVICES[service].full_name}/{method}"
        ser = (lambda b: b) if raw else (lambda msg: msg.SerializeToString())
        channel = self.channels[service]
        out = _response_class(m)
        de = out.FromString
        try:
            if m.client_streaming and m.server_streaming:
                stub = channel.stream_stream(path, request_serializer=ser,
                                             response_deserializer=de)
                responses = list(stub(iter(requests), timeout=timeout))
            elif m.client_streaming:
                stub = channel.stream_unary(path, request_serializer=ser,
                                            response_deserializer=de)
                responses = [stub(iter(requests), timeout=timeout)]
            elif m.server_streaming:
                stub = channel.unary_stream(path, request_serializer=ser,
                                            response_deserializer=de)
                responses = []
                call = stub(requests, timeout=timeout)
                for r in call:  # a watch: the first message is enough
                    responses.append(r)
                    call.cancel()
                    break
            else:
                stub = channel.unary_unary(path, request_serializer=ser,
                                           response_deserializer=de)
                responses = [stub(requests, timeout=timeout)]
            return grpc.StatusCode.OK, "", responses
        except grpc.RpcError as e:
            return e.code(), e.details() or "", []


def _response_class(method):
    module = importlib.import_module(
        "continuum.v1." + method.output_type.file.name.split("/")[-1]
        .replace(".proto", "_pb2"))
    return getattr(module, method.output_type.name)


def _request_class(method):
    module = importlib.import_module(
        "continuum.v1." + method.input_type.file.name.split("/")[-1]
        .replace(".proto", "_pb2"))
    return getattr(module, method.input_type.name)


def read_endpoints(path):
    endpoints = {}
    for line in open(path):
        key, _, value = line.strip().partition("=")
        if key.startswith("CONTINUUM_") and not key.endswith("_METRICS"):
            endpoints[key[len("CONTINUUM_"):].lower()] = value
    return endpoints


class Report:
    def __init__(self):
        self.failed = 0
        self.passed = 0

    def row(self, ok, what, why=""):
        if ok:
            self.passed += 1
            print(f"ok    {what}")
        else:
            self.failed += 1
            print(f"FAIL  {what}: {why}")


def all_ruled_fields(descriptor, seen=None):
    """Every (message full name, field name) with rules reachable from
    `descriptor`."""
    seen = set() if seen is None else seen
    out = set()
    if descriptor.full_name in seen:
        return out
    seen.add(descriptor.full_name)
    for f in descriptor.fields:
        if rules.rules_of(f) is not None:
            out.add((descriptor.full_name, f.name))
        if f.cpp_type == f.CPPTYPE_MESSAGE and \
                not f.message_type.GetOptions().map_entry:
            out |= all_ruled_fields(f.message_type, seen)
    return out


def generated_rows(client, report, fixtures, only):
    """Part 1. Returns the (message, field) pairs whose rules were sent."""
    exercised = set()
    for service, descriptor in SERVICES.items():
        if service not in only:
            continue
        module = fixtures[service]
        for method in descriptor.methods:
            name = f"{service}.{method.name}"
            request_type = _request_class(method)
            wanted = all_ruled_fields(method.input_type)
            valid = module.FIXTURES.get(method.name)
            if valid is None:
                if wanted:
                    report.row(False, name, "no fixture, and its request has "
                               f"{len(wanted)} field rule(s)")
                continue
            request = valid() if callable(valid) else valid
            assert isinstance(request, request_type), name
            broken = rules.check(request)
            if broken:
                report.row(False, f"{name} fixture",
                           f"breaks {broken[0]} ({broken[1]}) itself")
                continue
            for path, kind, bad in rules.breakers(request):
                owner = _owner_of(method.input_type, path)
                exercised.add((owner, path.split(".")[-1].split("[")[0]))
                sent = [bad] if method.client_streaming else bad
                code, details, responses = client.call(service, method.name,
                                                       sent)
                # A stream that answers each message's error in its own
                # response (PredictStream) says how to read it.
                answer = getattr(module, "stream_answer", None)
                if (code == grpc.StatusCode.OK and answer is not None and
                        method.client_streaming and method.server_streaming):
                    # Its error names the path within the message's
                    # request, as Predict would (`model`, not
                    # `request.model`).
                    code, details = answer(responses)
                    path = path.split(".", 1)[-1]
                head = path.split("[")[0] if kind != "max_items" else path
                ok = (code == grpc.StatusCode.INVALID_ARGUMENT and
                      (path in details or head in details))
                report.row(ok, f"{name} {path} {kind}",
                           f"got {code.name} '{details}'")
    return exercised


def _owner_of(descriptor, path):
    """The full name of the message that holds the last field of `path`."""
    parts = path.split(".")
    for part in parts[:-1]:
        field = descriptor.fields_by_name[part.split("[")[0]]
        descriptor = field.message_type
    return descriptor.full_name


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", required=True)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--wide_bundle", required=True,
                        help="a bundle with one input more than the "
                             "registry fixture's model")
    parser.add_argument("--only", default="",
                        help="comma-separated services to run")
    args = parser.parse_args()
    endpoints = read_endpoints(args.endpoints)
    client = Client(endpoints)
    report = Report()
    only = [s for s in args.only.split(",") if s] or list(SERVICES)
    fixtures = {s: importlib.import_module(f"fixtures.{s}") for s in SERVICES}
    context = {"bundle": open(args.bundle, "rb").read(),
               "wide_bundle": open(args.wide_bundle, "rb").read(),
               "client": client}
    for service in SERVICES:
        try:
            fixtures[service].set_up(context)
        except Exception:  # noqa: BLE001 - reported as a failed row
            report.row(False, f"{service} set-up", traceback.format_exc())
    selected = {s: fixtures[s] for s in only}
    exercised = generated_rows(client, report, fixtures, only)
    wanted = set()
    for s in only:
        for method in SERVICES[s].methods:
            if method.name in fixtures[s].FIXTURES:
                wanted |= all_ruled_fields(method.input_type)
    for owner, field in sorted(wanted - exercised):
        report.row(False, f"rule of {owner}.{field}",
                   "no fixture reaches it (set the message that holds it)")
    for s, module in selected.items():
        for case in getattr(module, "CASES", []):
            try:
                ok, why = case(context)
            except Exception:  # noqa: BLE001
                ok, why = False, traceback.format_exc()
            report.row(ok, f"{s}: {case.__doc__.strip().splitlines()[0]}", why)
    print(f"\n{report.passed} rows passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
