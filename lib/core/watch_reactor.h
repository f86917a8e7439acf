// Long-lived server streams on gRPC's callback API: watches that follow a
// SequenceNotifier (WatchDeployments, WatchAlerts, WatchRun) without holding
// a server thread each, and OpenStreams, which lets a drain end them all at
// its start.
//
// A watch is a WatchReactor subclass that implements Next(): a non-blocking
// read of what is new after the reactor's own cursor. The reactor calls
// Next() once at Start(), again after each notifier Publish, and writes what
// it returns one message at a time; one thread at a time runs Next(), so the
// subclass's cursor needs no lock. A stream ends when Next() says so, when
// the client cancels (CANCELLED) or when the server drains (OpenStreams::
// EndAll: UNAVAILABLE, which clients treat as "resume from your cursor").
//
// Example (the registry's WatchDeployments, services/registry/
// registry_service.cc; DeploymentCursor::Poll reads what is new after its
// revision):
//   class DeploymentWatch final
//       : public core::WatchReactor<v1::WatchDeploymentsResponse> {
//    public:
//     DeploymentWatch(DeploymentFeed* feed, core::SequenceNotifier* revisions,
//                     core::OpenStreams* streams,
//                     const v1::WatchDeploymentsRequest& request)
//         : WatchReactor(streams, revisions), cursor_(feed, request) {}
//    private:
//     Batch Next() override {
//       Batch batch;
//       if (absl::Status s = cursor_.Poll(&batch.messages); !s.ok()) {
//         batch.end = ToGrpcStatus(s);
//       }
//       return batch;
//     }
//     DeploymentCursor cursor_;
//   };
//   // In the service (a WithCallbackMethod_WatchDeployments<Service>):
//   auto* watch = new DeploymentWatch(feed, revisions, streams, *request);
//   watch->Start();
//   return watch;
#ifndef CONTINUUM_LIB_CORE_WATCH_REACTOR_H_
#define CONTINUUM_LIB_CORE_WATCH_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "lib/core/sequence_notifier.h"

namespace continuum::core {

// What OpenStreams and notifier callbacks can do to a stream. Reference
// counted: gRPC holds one reference until OnDone, every call from another
// thread holds one for its duration, and the last Unref deletes.
class StreamControl {
 public:
  virtual ~StreamControl() = default;
  // Something may be new: look (non-blocking).
  virtual void Wake() = 0;
  // End the stream with `status` as soon as no write is in flight.
  virtual void Abort(const grpc::Status& status) = 0;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::atomic<int> refs_{1};
};

// A pointer to a stream that other threads may follow until the stream's
// OnDone detaches it.
class StreamLink {
 public:
  explicit StreamLink(StreamControl* stream) : stream_(stream) {}

  // Calls fn(stream) unless detached, holding a reference (not a lock)
  // meanwhile, so fn may run into the stream's own OnDone.
  template <typename Fn>
  void With(Fn fn) ABSL_LOCKS_EXCLUDED(mu_) {
    StreamControl* stream;
    {
      absl::MutexLock lock(&mu_);
      stream = stream_;
      if (stream == nullptr) return;
      stream->Ref();
    }
    fn(*stream);
    stream->Unref();
  }

  void Detach() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  StreamControl* stream_ ABSL_GUARDED_BY(mu_);
};

// The open long-lived streams of one server. ServiceServer::Shutdown calls
// EndAll at the start of a drain, so a drain waits for unary calls, not for
// watchers (who resume from their cursor elsewhere or after the restart).
// Thread-safe.
class OpenStreams {
 public:
  OpenStreams() = default;
  OpenStreams(const OpenStreams&) = delete;
  OpenStreams& operator=(const OpenStreams&) = delete;

  // Ends every open stream with `status`, and every stream opened from now
  // on at once. Returns without waiting for the streams to finish.
  void EndAll(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  // Streams open now (for tests and metrics).
  int size() const ABSL_LOCKS_EXCLUDED(mu_);

  // For WatchReactor: registers a stream. Returns its id, or the status to
  // end it with when EndAll was called already.
  struct Added {
    uint64_t id = 0;
    std::optional<grpc::Status> ended;
  };
  Added Add(std::shared_ptr<StreamLink> link) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::shared_ptr<StreamLink>> streams_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> ended_ ABSL_GUARDED_BY(mu_);
};

template <typename Response>
class WatchReactor : public grpc::ServerWriteReactor<Response>,
                     private StreamControl {
 public:
  // What Next() found: messages to send in order, and optionally the status
  // that ends the stream once they are sent.
  struct Batch {
    std::vector<Response> messages;
    std::optional<grpc::Status> end;
  };

  // Registers with `streams` (may be null: no drain end) and follows
  // `notifier`, then calls Next(). Without a notifier the stream is finite
  // (a Scan): Next() runs again each time what it returned is written, and
  // must return messages or end the stream every time. Call once, after
  // construction.
  void Start();

 protected:
  WatchReactor(OpenStreams* streams, SequenceNotifier* notifier)
      : streams_(streams), notifier_(notifier) {}
  ~WatchReactor() override = default;

  // What is new after the subclass's cursor (which it advances). Must not
  // block; never runs on two threads at once.
  virtual Batch Next() = 0;

 private:
  void OnWriteDone(bool ok) override;
  void OnCancel() override {
    Abort(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }
  void OnDone() override;

  void Wake() override ABSL_LOCKS_EXCLUDED(mu_);
  void Abort(const grpc::Status& status) override ABSL_LOCKS_EXCLUDED(mu_);
  // Runs with busy_ set: polls until there is a message to write or a
  // status to finish with, or nothing new.
  void Poll() ABSL_LOCKS_EXCLUDED(mu_);
  // With busy_ set and mu_ held: the next step after a poll or a write.
  // Returns the action to take once mu_ is released.
  enum class Step { kNothing, kWrite, kFinish, kPollAgain };
  Step NextStepLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Take(Step step) ABSL_LOCKS_EXCLUDED(mu_);

  OpenStreams* const streams_;
  SequenceNotifier* const notifier_;
  std::shared_ptr<StreamLink> link_;
  uint64_t stream_id_ = 0;
  uint64_t subscription_ = 0;

  absl::Mutex mu_;
  // Polling or writing: one thread drives the stream at a time.
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  // A Wake arrived while busy: poll again before going idle.
  bool rewake_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Response> queue_ ABSL_GUARDED_BY(mu_);
  // Next() ended the stream: finish once queue_ is written.
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  // Cancelled, drained or a failed write: finish without writing more.
  std::optional<grpc::Status> abort_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  // The message being written; untouched until OnWriteDone.
  Response current_;
};

// ---------------------------------------------------------------------------
// Implementation.

template <typename Response>
void WatchReactor<Response>::Start() {
  link_ = std::make_shared<StreamLink>(static_cast<StreamControl*>(this));
  if (notifier_ != nullptr) {
    subscription_ = notifier_->Subscribe(
        [link = link_](int64_t) { link->With([](StreamControl& s) { s.Wake(); }); });
  }
  if (streams_ != nullptr) {
    OpenStreams::Added added = streams_->Add(link_);
    stream_id_ = added.id;
    if (added.ended) {
      Abort(*added.ended);
      return;
    }
  }
  Wake();
}

template <typename Response>
void WatchReactor<Response>::Wake() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || abort_) return;
    if (busy_) {
      rewake_ = true;
      return;
    }
    busy_ = true;
  }
  Poll();
}

template <typename Response>
void WatchReactor<Response>::Poll() {
  Step step = Step::kPollAgain;
  while (step == Step::kPollAgain) {
    {
      absl::MutexLock lock(&mu_);
      rewake_ = false;
    }
    Batch batch = Next();
    absl::MutexLock lock(&mu_);
    for (Response& m : batch.messages) queue_.push_back(std::move(m));
    if (batch.end && !end_) end_ = std::move(batch.end);
    step = NextStepLocked();
    if (step != Step::kPollAgain) break;
    if (notifier_ == nullptr) {
      // A finite stream's Next() returned nothing and did not end it:
      // nothing would ever wake the stream again.
      abort_ = grpc::Status(grpc::StatusCode::INTERNAL,
                            "stream stalled: no data and no end");
      step = NextStepLocked();
      break;
    }
    if (!rewake_) {
      busy_ = false;
      return;
    }
  }
  Take(step);
}

template <typename Response>
typename WatchReactor<Response>::Step WatchReactor<Response>::NextStepLocked() {
  if (abort_ || (end_ && queue_.empty())) {
    finished_ = true;
    final_status_ = abort_ ? *abort_ : *end_;
    return Step::kFinish;
  }
  if (!queue_.empty()) {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    return Step::kWrite;
  }
  return Step::kPollAgain;
}

template <typename Response>
void WatchReactor<Response>::Take(Step step) {
  if (step == Step::kWrite) {
    this->StartWrite(&current_);
  } else if (step == Step::kFinish) {
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      status = final_status_;
    }
    this->Finish(status);
  }
}

template <typename Response>
void WatchReactor<Response>::OnWriteDone(bool ok) {
  Step step;
  {
    absl::MutexLock lock(&mu_);
    // A failed write: the client is gone (or cancelled); nobody reads the
    // status.
    if (!ok && !abort_) abort_ = grpc::Status::OK;
    step = NextStepLocked();
    // Without a notifier nothing else wakes the stream: read on.
    if (step == Step::kPollAgain && !rewake_ && notifier_ != nullptr) {
      busy_ = false;
      return;
    }
  }
  if (step == Step::kPollAgain) {
    Poll();
  } else {
    Take(step);
  }
}

template <typename Response>
void WatchReactor<Response>::Abort(const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || abort_) return;
    abort_ = status;
    // The thread that is polling or writing finishes when it sees abort_.
    if (busy_) return;
    busy_ = true;
    finished_ = true;
    final_status_ = status;
  }
  this->Finish(status);
}

template <typename Response>
void WatchReactor<Response>::OnDone() {
  link_->Detach();
  if (notifier_ != nullptr) notifier_->Unsubscribe(subscription_);
  if (streams_ != nullptr && stream_id_ != 0) streams_->Remove(stream_id_);
  Unref();
}

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_WATCH_REACTOR_H_
