// WatchReactor, OpenStreams and call identity over real loopback gRPC, with
// the test-only CounterService (protos/continuum/testing/v1/watch.proto).
#include "lib/core/watch_reactor.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "continuum/testing/v1/watch.grpc.pb.h"
#include "lib/core/call_identity.h"
#include "lib/core/config.h"
#include "lib/core/sequence_notifier.h"
#include "lib/core/server.h"

namespace continuum::core {
namespace {

using ::continuum::testing::v1::CounterService;
using ::continuum::testing::v1::CounterWatchRequest;
using ::continuum::testing::v1::CounterWatchResponse;
using ::continuum::testing::v1::WhoAmIRequest;
using ::continuum::testing::v1::WhoAmIResponse;

// Sends every sequence in (cursor, notifier.latest()], ending after `until`.
class CounterWatch final : public WatchReactor<CounterWatchResponse> {
 public:
  CounterWatch(OpenStreams* streams, SequenceNotifier* notifier,
               const CounterWatchRequest& request)
      : WatchReactor(streams, notifier),
        notifier_(notifier),
        cursor_(request.after()),
        request_(request) {}

 private:
  Batch Next() override {
    Batch batch;
    const int64_t latest = notifier_->latest();
    while (cursor_ < latest) {
      CounterWatchResponse m;
      m.set_sequence(++cursor_);
      batch.messages.push_back(m);
      if (cursor_ == request_.until()) {
        batch.end = request_.fail_with_code() == 0
                        ? grpc::Status::OK
                        : grpc::Status(static_cast<grpc::StatusCode>(
                                           request_.fail_with_code()),
                                       "failed on request");
        break;
      }
    }
    return batch;
  }

  SequenceNotifier* const notifier_;
  int64_t cursor_;
  const CounterWatchRequest request_;
};

// Sends 1..count three at a time with no notifier, then ends.
class FiniteWatch final : public WatchReactor<CounterWatchResponse> {
 public:
  FiniteWatch(OpenStreams* streams, int64_t count)
      : WatchReactor(streams, nullptr), count_(count) {}

 private:
  Batch Next() override {
    Batch batch;
    for (int i = 0; i < 3 && sent_ < count_; ++i) {
      CounterWatchResponse m;
      m.set_sequence(++sent_);
      batch.messages.push_back(m);
    }
    if (sent_ == count_) batch.end = grpc::Status::OK;
    return batch;
  }

  const int64_t count_;
  int64_t sent_ = 0;
};

class CounterServiceImpl final : public CounterService::CallbackService {
 public:
  CounterServiceImpl(OpenStreams* streams, SequenceNotifier* notifier)
      : streams_(streams), notifier_(notifier) {}

  grpc::ServerWriteReactor<CounterWatchResponse>* Watch(
      grpc::CallbackServerContext*,
      const CounterWatchRequest* request) override {
    if (request->finite_count() > 0) {
      auto* watch = new FiniteWatch(streams_, request->finite_count());
      watch->Start();
      return watch;
    }
    auto* watch = new CounterWatch(streams_, notifier_, *request);
    watch->Start();
    return watch;
  }

  grpc::ServerUnaryReactor* WhoAmI(grpc::CallbackServerContext* context,
                                   const WhoAmIRequest*,
                                   WhoAmIResponse* response) override {
    response->set_actor(ActorOf(*context));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  OpenStreams* const streams_;
  SequenceNotifier* const notifier_;
};

// A client stream on the callback API: records what arrives.
class WatchClient final
    : public grpc::ClientReadReactor<CounterWatchResponse> {
 public:
  WatchClient(CounterService::Stub* stub, const CounterWatchRequest& request) {
    stub->async()->Watch(&context_, &request, this);
    StartRead(&message_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      received_.push_back(message_.sequence());
    }
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }

  // The status, once the stream ended within `timeout`.
  std::optional<grpc::Status> Wait(absl::Duration timeout) {
    if (!done_.WaitForNotificationWithTimeout(timeout)) return std::nullopt;
    return status_;
  }
  std::vector<int64_t> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }
  grpc::ClientContext& context() { return context_; }

 private:
  grpc::ClientContext context_;
  CounterWatchResponse message_;
  absl::Mutex mu_;
  std::vector<int64_t> received_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_;
  absl::Notification done_;
};

int ProcessThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    int threads = 0;
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "Threads:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &threads)) {
      return threads;
    }
  }
  return -1;
}

// Waits until `condition` holds, for at most 30 s.
template <typename Fn>
bool WaitFor(Fn condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

class WatchReactorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceServer::Options options;
    options.service = "registry";
    options.config = DefaultServerConfig("registry");
    options.config.set_metrics_listen("");
    options.services = {&service_};
    options.open_streams = &streams_;
    absl::StatusOr<std::unique_ptr<ServiceServer>> server =
        ServiceServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = CounterService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  static CounterWatchRequest Request(int64_t after, int64_t until) {
    CounterWatchRequest request;
    request.set_after(after);
    request.set_until(until);
    return request;
  }

  OpenStreams streams_;
  SequenceNotifier notifier_;
  CounterServiceImpl service_{&streams_, &notifier_};
  std::unique_ptr<ServiceServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<CounterService::Stub> stub_;
};

TEST_F(WatchReactorTest, StreamsEveryPublishedSequenceInOrderThenEnds) {
  WatchClient client(stub_.get(), Request(0, 5));
  ASSERT_TRUE(WaitFor([&] { return streams_.size() == 1; }));
  for (int64_t s = 1; s <= 5; ++s) notifier_.Publish(s);
  std::optional<grpc::Status> status = client.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->ok()) << status->error_message();
  EXPECT_EQ(client.received(), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_TRUE(WaitFor([&] { return streams_.size() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return notifier_.subscribers() == 0; }));
}

TEST_F(WatchReactorTest, StartsAfterTheCursorWithWhatIsAlreadyThere) {
  notifier_.Publish(3);
  WatchClient client(stub_.get(), Request(1, 4));
  ASSERT_TRUE(WaitFor([&] { return client.received().size() == 2; }));
  notifier_.Publish(4);
  std::optional<grpc::Status> status = client.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->ok());
  EXPECT_EQ(client.received(), (std::vector<int64_t>{2, 3, 4}));
}

TEST_F(WatchReactorTest, EndsWithTheStatusNextGivesAfterItsMessages) {
  CounterWatchRequest request = Request(0, 2);
  request.set_fail_with_code(grpc::StatusCode::FAILED_PRECONDITION);
  WatchClient client(stub_.get(), request);
  notifier_.Publish(2);
  std::optional<grpc::Status> status = client.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(client.received(), (std::vector<int64_t>{1, 2}));
}

TEST_F(WatchReactorTest, FiniteStreamReadsOnUntilItEnds) {
  CounterWatchRequest request;
  request.set_finite_count(10);
  WatchClient client(stub_.get(), request);
  std::optional<grpc::Status> status = client.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(status->ok()) << status->error_message();
  std::vector<int64_t> want;
  for (int64_t s = 1; s <= 10; ++s) want.push_back(s);
  EXPECT_EQ(client.received(), want);
}

TEST_F(WatchReactorTest, ClientCancelEndsTheServerStream) {
  WatchClient client(stub_.get(), Request(0, 0));
  ASSERT_TRUE(WaitFor([&] { return streams_.size() == 1; }));
  client.context().TryCancel();
  std::optional<grpc::Status> status = client.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return streams_.size() == 0; }));
  EXPECT_TRUE(WaitFor([&] { return notifier_.subscribers() == 0; }));
}

TEST_F(WatchReactorTest, ManyWatchersShareThreadsAndAllSeeEachSequence) {
  constexpr int kWatchers = 300;
  // Several connections: one HTTP/2 connection carries a bounded number of
  // concurrent streams.
  std::vector<std::unique_ptr<CounterService::Stub>> stubs;
  for (int c = 0; c < 6; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("continuum.test.channel", c);  // distinct connections
    stubs.push_back(CounterService::NewStub(grpc::CreateCustomChannel(
        server_->address(), grpc::InsecureChannelCredentials(), args)));
  }
  const int threads_before = ProcessThreads();
  std::vector<std::unique_ptr<WatchClient>> clients;
  for (int i = 0; i < kWatchers; ++i) {
    clients.push_back(std::make_unique<WatchClient>(
        stubs[i % stubs.size()].get(), Request(0, 2)));
  }
  ASSERT_TRUE(WaitFor([&] { return streams_.size() == kWatchers; }))
      << streams_.size() << " streams open";
  const int threads_open = ProcessThreads();
  // A thread per watcher would add 300; reactors add none per stream.
  EXPECT_LT(threads_open - threads_before, 50)
      << threads_before << " threads before, " << threads_open << " with "
      << kWatchers << " watches open";
  notifier_.Publish(1);
  notifier_.Publish(2);
  for (auto& client : clients) {
    std::optional<grpc::Status> status = client->Wait(absl::Seconds(60));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(status->ok()) << status->error_message();
    EXPECT_EQ(client->received(), (std::vector<int64_t>{1, 2}));
  }
}

TEST_F(WatchReactorTest, EndAllEndsOpenStreamsAndRefusesNewOnes) {
  WatchClient open(stub_.get(), Request(0, 0));
  ASSERT_TRUE(WaitFor([&] { return streams_.size() == 1; }));
  streams_.EndAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
  std::optional<grpc::Status> status = open.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status->error_message(), "draining");

  WatchClient late(stub_.get(), Request(0, 0));
  status = late.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(WatchReactorTest, ShutdownEndsWatchesAtTheStartOfTheDrain) {
  WatchClient client(stub_.get(), Request(0, 0));
  ASSERT_TRUE(WaitFor([&] { return streams_.size() == 1; }));
  // An hour's grace: if the drain waited for the watch, this would not
  // return before the test's timeout.
  server_->Shutdown(absl::Hours(1));
  std::optional<grpc::Status> status = client.Wait(absl::Seconds(30));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status->error_message().find("resume the stream"),
            std::string::npos);
  server_.reset();
}

TEST_F(WatchReactorTest, ActorOfReadsTheCallersNameOrAnonymous) {
  auto who = [&](std::optional<std::string> actor) {
    grpc::ClientContext context;
    if (actor) {
      PrepareCall(context, *actor, absl::Now() + absl::Seconds(30));
    }
    WhoAmIResponse response;
    grpc::Status status = stub_->WhoAmI(&context, WhoAmIRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.actor();
  };
  EXPECT_EQ(who("trainer"), "trainer");
  EXPECT_EQ(who(std::nullopt), "anonymous");
  EXPECT_EQ(who(""), "anonymous");
  EXPECT_EQ(who(std::string(300, 'a')), std::string(kMaxActorBytes, 'a'));
}

TEST(PrepareCallTest, SetsTheDeadline) {
  grpc::ClientContext context;
  const absl::Time deadline = absl::FromUnixSeconds(2'000'000'000);
  PrepareCall(context, "drift", deadline);
  EXPECT_EQ(absl::FromChrono(context.deadline()), deadline);
}

}  // namespace
}  // namespace continuum::core
