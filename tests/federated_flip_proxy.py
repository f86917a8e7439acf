"""A site turned Byzantine, as a man in the middle of FederatedService.

Listens on 127.0.0.1 (an ephemeral port, printed as "listening on PORT")
and forwards every FederatedService call to the coordinator, except that
the update values a site streams through it are multiplied by the number
in FACTOR_FILE, read at each update (1: an honest relay; -10: sign-flipped
and scaled). A real site trainer pointed at it (its model's
FederatedConfig.coordinator_address) trains honestly on its own data and
becomes the attacker of issue 17: "one of five sites sends sign-flipped and
scaled updates (x -10)".

Usage: federated_flip_proxy.py PYTHON_DIR COORDINATOR FACTOR_FILE
Prints "join from SITE" when a join arrives, "joined SITE ROUND" when it
returns, and "relayed update N
x FACTOR" for each update.
"""
import sys
import time
from concurrent import futures

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
from continuum.v1 import federated_pb2, federated_pb2_grpc  # noqa: E402


class Proxy(federated_pb2_grpc.FederatedServiceServicer):
    def __init__(self, target, factor_file):
        self.stub = federated_pb2_grpc.FederatedServiceStub(
            grpc.insecure_channel(target))
        self.factor_file = factor_file
        self.updates = 0

    def _forward(self, method, request, context):
        try:
            return getattr(self.stub, method)(
                request, timeout=context.time_remaining())
        except grpc.RpcError as e:
            context.abort(e.code(), e.details())

    def StartRound(self, request, context):
        return self._forward("StartRound", request, context)

    def GetRound(self, request, context):
        return self._forward("GetRound", request, context)

    def ListRounds(self, request, context):
        return self._forward("ListRounds", request, context)

    def JoinRound(self, request, context):
        print(f"join from {request.site_id}", flush=True)
        response = self._forward("JoinRound", request, context)
        print(f"joined {request.site_id} {response.round.name}", flush=True)
        return response

    def RevealMaskSeeds(self, request, context):
        return self._forward("RevealMaskSeeds", request, context)

    def ListSites(self, request, context):
        return self._forward("ListSites", request, context)

    def UpdateSite(self, request, context):
        return self._forward("UpdateSite", request, context)

    def SubmitUpdate(self, request_iterator, context):
        factor = float(open(self.factor_file).read())

        def flipped():
            for message in request_iterator:
                if message.HasField("chunk") and message.chunk.values:
                    values = [v * factor for v in message.chunk.values]
                    del message.chunk.values[:]
                    message.chunk.values.extend(values)
                yield message
            self.updates += 1
            print(f"relayed update {self.updates} x {factor}", flush=True)
        try:
            return self.stub.SubmitUpdate(flipped(),
                                          timeout=context.time_remaining())
        except grpc.RpcError as e:
            context.abort(e.code(), e.details())


def main():
    _, _, target, factor = sys.argv
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    federated_pb2_grpc.add_FederatedServiceServicer_to_server(
        Proxy(target, factor), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening on {port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
