#include "services/inference/inference_service.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/strings/str_cat.h"
#include "lib/core/call_identity.h"
#include "lib/core/field_rules.h"
#include "lib/core/grpc_status.h"
#include "lib/core/proto_time.h"
#include "lib/core/stream_messages.h"

namespace continuum::inference {
namespace {

absl::Time DeadlineOf(const grpc::CallbackServerContext& context) {
  auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

// Most requests of one stream being predicted at once; reading pauses
// beyond it, so a fast client is held back by HTTP/2 flow control instead
// of filling the pod's memory.
constexpr int kMaxStreamInFlight = 64;

// One PredictStream call, in raw bytes. Requests are predicted concurrently
// and answered as they finish (matched by `sequence`); the call ends after
// the client half-closes, or a message does not parse, and every answer is
// written.
class PredictStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  PredictStreamReactor(Predictor* predictor, absl::Time deadline,
                       std::string caller)
      : predictor_(predictor), deadline_(deadline), caller_(std::move(caller)) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    auto item = std::make_shared<Item>();
    absl::Status parsed = absl::OkStatus();
    if (ok) {
      v1::PredictStreamRequest message;
      // The index is only read here, between reads.
      parsed =
          core::ParseStreamMessage(incoming_, messages_read_ + 1, &message);
      if (parsed.ok()) {
        ++messages_read_;
        item->request = std::move(*message.mutable_request());
      }
    }
    if (!ok || !parsed.ok()) {
      bool finish = false;
      grpc::Status final_status;
      {
        absl::MutexLock lock(&mu_);
        reads_done_ = true;
        if (!parsed.ok()) {
          parse_error_ = absl::InvalidArgumentError(absl::StrCat(
              parsed.message(), "; the ", messages_read_,
              " messages before it are answered; nothing after it was "
              "read"));
        }
        finish = ShouldFinishLocked();
        final_status = FinalStatusLocked();
      }
      if (finish) Finish(final_status);
      return;
    }
    bool read_more = false;
    {
      absl::MutexLock lock(&mu_);
      item->sequence = next_sequence_++;
      ++in_flight_;
      read_more = in_flight_ < kMaxStreamInFlight;
      read_paused_ = !read_more;
    }
    predictor_->Predict(
        &item->request, &item->response, deadline_,
        [this, item](const absl::Status& status) { Answered(*item, status); },
        caller_);
    if (read_more) StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    const grpc::ByteBuffer* next = nullptr;
    bool finish = false;
    grpc::Status final_status;
    {
      absl::MutexLock lock(&mu_);
      outgoing_.pop_front();
      if (!ok) broken_ = true;
      if (broken_) outgoing_.clear();
      if (!outgoing_.empty()) next = &outgoing_.front();
      writing_ = next != nullptr;
      finish = ShouldFinishLocked();
      final_status = FinalStatusLocked();
    }
    if (next != nullptr) StartWrite(next);
    if (finish) Finish(final_status);
  }

  void OnDone() override { delete this; }

 private:
  struct Item {
    int64_t sequence = 0;
    v1::PredictRequest request;
    v1::PredictResponse response;
  };

  void Answered(Item& item, const absl::Status& status) {
    v1::PredictStreamResponse message;
    message.set_sequence(item.sequence);
    message.set_request_id(item.request.request_id());
    if (status.ok()) {
      *message.mutable_response() = std::move(item.response);
    } else {
      message.mutable_error()->set_code(static_cast<int32_t>(status.code()));
      message.mutable_error()->set_message(std::string(status.message()));
    }
    grpc::ByteBuffer bytes;
    grpc::Status serialized = core::SerializeStreamMessage(message, &bytes);
    const grpc::ByteBuffer* write = nullptr;
    bool resume_read = false, finish = false;
    grpc::Status final_status;
    {
      absl::MutexLock lock(&mu_);
      --in_flight_;
      if (!serialized.ok()) broken_ = true;
      if (!broken_) {
        outgoing_.push_back(std::move(bytes));
        if (!writing_) {
          writing_ = true;
          write = &outgoing_.front();
        }
      }
      if (read_paused_ && !reads_done_ && in_flight_ < kMaxStreamInFlight) {
        read_paused_ = false;
        resume_read = true;
      }
      finish = ShouldFinishLocked();
      final_status = FinalStatusLocked();
    }
    if (write != nullptr) StartWrite(write);
    if (resume_read) StartRead(&incoming_);
    if (finish) Finish(final_status);
  }

  // True exactly once: when nothing is read, predicted or written any more.
  bool ShouldFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || !reads_done_ || in_flight_ > 0 || writing_) return false;
    finished_ = true;
    return true;
  }

  grpc::Status FinalStatusLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (broken_) {
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "the stream broke while writing");
    }
    return core::ToGrpcStatus(parse_error_);
  }

  Predictor* const predictor_;
  const absl::Time deadline_;
  const std::string caller_;
  // Written only by OnReadDone between reads.
  grpc::ByteBuffer incoming_;
  int64_t messages_read_ = 0;
  absl::Mutex mu_;
  int64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool read_paused_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  // INVALID_ARGUMENT once a message did not parse; nothing is read after it.
  absl::Status parse_error_ ABSL_GUARDED_BY(mu_);
  // Answers waiting to be written; the front one is being written. A
  // deque keeps the front's address stable while others are appended.
  std::deque<grpc::ByteBuffer> outgoing_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

InferenceServiceImpl::InferenceServiceImpl(
    Predictor* predictor, std::function<RegistryState()> registry_state)
    : predictor_(predictor), registry_state_(std::move(registry_state)) {}

grpc::ServerUnaryReactor* InferenceServiceImpl::Predict(
    grpc::CallbackServerContext* context, const v1::PredictRequest* request,
    v1::PredictResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  predictor_->Predict(
      request, response, DeadlineOf(*context),
      [reactor](const absl::Status& status) {
        reactor->Finish(core::ToGrpcStatus(status));
      },
      core::ActorOf(*context));
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
InferenceServiceImpl::PredictStream(grpc::CallbackServerContext* context) {
  return new PredictStreamReactor(predictor_, DeadlineOf(*context),
                                  core::ActorOf(*context));
}

grpc::ServerUnaryReactor* InferenceServiceImpl::GetModelStatus(
    grpc::CallbackServerContext* context,
    const v1::GetModelStatusRequest* request,
    v1::GetModelStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status s = core::CheckFieldRules(*request); !s.ok()) {
    reactor->Finish(core::ToGrpcStatus(s));
    return reactor;
  }
  absl::StatusOr<std::vector<v1::ModelServingStatus>> models =
      predictor_->manager().Status(request->model());
  if (!models.ok()) {
    reactor->Finish(core::ToGrpcStatus(models.status()));
    return reactor;
  }
  response->set_pod_id(predictor_->pod_id());
  response->set_ready(predictor_->manager().ready());
  for (v1::ModelServingStatus& m : *models) {
    *response->add_models() = std::move(m);
  }
  if (registry_state_) {
    RegistryState state = registry_state_();
    response->set_registry_connected(state.connected);
    response->set_from_cache(state.from_cache);
  }
  *response->mutable_status_time() = core::ToProto(absl::Now());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace continuum::inference
