// Internal to lib/model: the process-wide BLAS lock.
//
// Debian's openblas-serial is built with USE_THREAD=0 and without
// USE_LOCKING: two threads in sgemm at once share its buffers and get wrong
// results (OpenBLAS issue #2126). When such a BLAS is loaded, every LibTorch
// computation in the process (forward passes, training steps) runs under
// one process-wide lock, trading parallelism for correct answers.
// openblas-pthread, openblas-openmp and the reference BLAS are safe and run
// unlocked.
#ifndef CONTINUUM_LIB_MODEL_BLAS_LOCK_H_
#define CONTINUUM_LIB_MODEL_BLAS_LOCK_H_

#include <mutex>

namespace continuum::model {

// Whether the BLAS loaded in this process needs the lock (see above);
// computed once.
bool BlasNeedsLock();

// The process-wide BLAS mutex, for callers that try_lock it (mlp.cc falls
// back to oneDNN when it is busy). Most callers use LockBlasIfNeeded.
std::mutex& BlasMutex();

// Takes the process-wide BLAS lock when the BLAS loaded needs one (see
// above) and returns it held; otherwise returns an unlocked (empty) lock.
// Hold it while LibTorch computes; release it before anything slow that
// does not (callbacks, I/O). Not reentrant: never call it twice on one
// thread without releasing the first.
std::unique_lock<std::mutex> LockBlasIfNeeded();

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_BLAS_LOCK_H_
