"""Independent peers against a registry serving mutual TLS: Debian's
python3-grpcio and the openssl CLI (tests/tls_peers_test.sh starts the
registry and passes its port and the certificate directory).

Checks: a client with the CA and a client certificate is served; one
without a client certificate, one trusting another CA and a plaintext one
are refused; `openssl s_client` sees the registry's certificate; after the
key pair is minted again (a rotation) s_client sees the new certificate
while a WatchDeployments stream opened before it stays open and the old
channel still answers.
Usage: tls_peers.py PYTHON_DIR ROOT PORT CERT_DIR OTHER_CERT_DIR
"""

import subprocess
import sys
import threading
import time

python_dir, root, port, certs, other = sys.argv[1:6]
sys.path.insert(0, python_dir)

import grpc  # noqa: E402
from continuum.v1 import registry_pb2, registry_pb2_grpc  # noqa: E402

target = f"127.0.0.1:{port}"
failures = []


def read(path):
    with open(path, "rb") as f:
        return f.read()


def credentials(ca, cert=None, key=None):
    return grpc.ssl_channel_credentials(
        root_certificates=read(ca),
        private_key=read(key) if key else None,
        certificate_chain=read(cert) if cert else None)


def list_models(channel):
    stub = registry_pb2_grpc.RegistryServiceStub(channel)
    try:
        stub.ListModels(registry_pb2.ListModelsRequest(), timeout=5)
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


def check(what, got, want):
    print(f"{what}: {got}")
    if got != want:
        failures.append(f"{what}: got {got}, want {want}")


def served_certificate():
    """The subject and serial number s_client sees on a new connection."""
    out = subprocess.run(
        ["openssl", "s_client", "-connect", target, "-CAfile",
         f"{certs}/ca.pem", "-cert", f"{certs}/client.pem", "-key",
         f"{certs}/client.key", "-verify_return_error"],
        input=b"", capture_output=True, timeout=20).stdout
    pem = out[out.find(b"-----BEGIN CERTIFICATE-----"):
              out.find(b"-----END CERTIFICATE-----") + 25]
    if not pem:
        return None
    info = subprocess.run(["openssl", "x509", "-noout", "-subject", "-serial"],
                          input=pem, capture_output=True).stdout.decode()
    return " ".join(info.split())


good = grpc.secure_channel(
    target, credentials(f"{certs}/ca.pem", f"{certs}/client.pem",
                        f"{certs}/client.key"))
check("CA and client certificate", list_models(good), "OK")
check("CA, no client certificate",
      list_models(grpc.secure_channel(target,
                                      credentials(f"{certs}/ca.pem"))),
      "UNAVAILABLE")
check("another CA",
      list_models(grpc.secure_channel(
          target, credentials(f"{other}/ca.pem", f"{certs}/client.pem",
                              f"{certs}/client.key"))),
      "UNAVAILABLE")
check("plaintext", list_models(grpc.insecure_channel(target)), "UNAVAILABLE")

before = served_certificate()
print(f"s_client before the rotation: {before}")
if not before or "CN = registry" not in before:
    failures.append(f"s_client saw no registry certificate: {before}")

# A stream opened before the rotation: WatchDeployments stays open (its
# first message is the current state; it ends only by cancel or shutdown).
stub = registry_pb2_grpc.RegistryServiceStub(good)
watch = stub.WatchDeployments(registry_pb2.WatchDeploymentsRequest(),
                              timeout=120)
stream_error = []


def drain():
    try:
        for _ in watch:
            pass
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.CANCELLED:
            stream_error.append(e.code().name)


reader = threading.Thread(target=drain)
reader.start()

subprocess.run([f"{root}/deploy/local/mint-certs", certs, "registry"],
               check=True)
deadline = time.time() + 30
after = before
while time.time() < deadline and after == before:
    time.sleep(0.2)  # the server re-reads its files every second
    after = served_certificate()
print(f"s_client after the rotation: {after}")
if after == before or not after or "CN = registry" not in after:
    failures.append(f"the rotated certificate was not served: {after}")
check("the old channel after the rotation", list_models(good), "OK")
time.sleep(0.5)
if not reader.is_alive() or stream_error:
    failures.append(f"the stream opened before the rotation ended: "
                    f"{stream_error}")
else:
    print("the stream opened before the rotation is still open")
watch.cancel()
reader.join(10)

for f in failures:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
