#include "lib/core/signals.h"

#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <thread>

#include "spdlog/spdlog.h"

namespace continuum::core {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockTerminationSignals() {
  // A process started in the background by a non-interactive shell inherits
  // SIGINT ignored, and an ignored signal is discarded before sigwait can
  // take it: restore the defaults first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set = TerminationSignals();
  int signal_number = 0;
  while (sigwait(&set, &signal_number) != 0) {
  }
  return signal_number;
}

void ExitOnSecondSignal() {
  std::thread([] {
    int signal_number = WaitForTerminationSignal();
    spdlog::warn("second signal {} during shutdown: exiting now",
                 signal_number);
    spdlog::default_logger()->flush();
    std::_Exit(128 + signal_number);
  }).detach();
}

}  // namespace continuum::core
