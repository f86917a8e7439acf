// Termination signals (SIGTERM, SIGINT) delivered to one waiting thread.
//
// BlockTerminationSignals must run before the process starts any thread, so
// every thread inherits the blocked mask and the signals stay pending until
// WaitForTerminationSignal takes them: no async-signal-safety concerns.
#ifndef CONTINUUM_LIB_CORE_SIGNALS_H_
#define CONTINUUM_LIB_CORE_SIGNALS_H_

namespace continuum::core {

// Blocks SIGTERM and SIGINT in the calling thread (and threads it starts).
void BlockTerminationSignals();

// Waits until SIGTERM or SIGINT arrives and returns its number.
int WaitForTerminationSignal();

// Starts a detached thread that waits for one more termination signal and
// then exits the process at once with 128 + signal: a second Ctrl-C while a
// drain is running does not have to wait for the grace period.
void ExitOnSecondSignal();

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_SIGNALS_H_
