#include "tests/util/echo_service.h"

#include <atomic>

namespace continuum::testing {

// Finishes exactly once: on release or on cancellation, whichever is first.
class EchoService::HeldReactor : public grpc::ServerUnaryReactor {
 public:
  explicit HeldReactor(EchoService* service) : service_(service) {}

  void FinishOnce(const grpc::Status& status) {
    if (!finished_.exchange(true)) Finish(status);
  }

  void OnCancel() override {
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    absl::MutexLock lock(&service_->mu_);
    --service_->held_;
  }

 private:
  EchoService* service_;
  std::atomic<bool> finished_{false};
};

grpc::ServerUnaryReactor* EchoService::Echo(
    grpc::CallbackServerContext* context,
    const continuum::testing::v1::EchoRequest* request,
    continuum::testing::v1::EchoResponse* response) {
  response->set_payload(request->payload());
  if (!request->hold()) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  HeldReactor* reactor = nullptr;
  bool release_now = false;
  {
    absl::MutexLock lock(&mu_);
    reactors_.push_back(std::make_unique<HeldReactor>(this));
    reactor = reactors_.back().get();
    ++held_;
    release_now = released_;
  }
  // Otherwise Release() or a cancellation finishes it.
  if (release_now) reactor->FinishOnce(grpc::Status::OK);
  return reactor;
}

bool EchoService::WaitForHeld(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]()
                    ABSL_SHARED_LOCKS_REQUIRED(mu_) { return held_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void EchoService::Release() {
  std::vector<HeldReactor*> open;
  {
    absl::MutexLock lock(&mu_);
    released_ = true;
    for (const auto& r : reactors_) open.push_back(r.get());
  }
  // Outside the lock: Finish may run OnDone, which takes it, on this thread.
  for (HeldReactor* r : open) r->FinishOnce(grpc::Status::OK);
}

EchoService::EchoService() = default;
EchoService::~EchoService() = default;

}  // namespace continuum::testing
