// EchoService for tests and benchmarks (protos/continuum/testing/v1).
#ifndef CONTINUUM_TESTS_UTIL_ECHO_SERVICE_H_
#define CONTINUUM_TESTS_UTIL_ECHO_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/testing/v1/echo.grpc.pb.h"

namespace continuum::testing {

// Callback-API echo. A request with `hold` set is kept open until Release()
// (answered OK) or until the call is cancelled (answered CANCELLED), so a
// test can hold calls in flight while it shuts a server down.
class EchoService final
    : public continuum::testing::v1::EchoService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Echo(
      grpc::CallbackServerContext* context,
      const continuum::testing::v1::EchoRequest* request,
      continuum::testing::v1::EchoResponse* response) override;

  // Waits until at least `n` held calls are open; false after `timeout`.
  bool WaitForHeld(int n, absl::Duration timeout);
  // Answers every held call with OK.
  void Release();

  EchoService();
  ~EchoService() override;

 private:
  class HeldReactor;

  absl::Mutex mu_;
  int64_t held_ ABSL_GUARDED_BY(mu_) = 0;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  // Held reactors live as long as the service, so Release() never touches a
  // freed one; a test holds few calls.
  std::vector<std::unique_ptr<HeldReactor>> reactors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_ECHO_SERVICE_H_
