// PodReports: what each inference pod last said it serves
// (ReportServingState), kept in memory only. After a restart the registry
// knows no pod until each reports again (see kPodGraceAfterStart in
// rollout_step.h). Pods report every kPodReportInterval; a pod silent for
// kPodSilence (three intervals) is not counted and is forgotten at the
// next report of any pod.
//
// Thread-safe.
#ifndef CONTINUUM_SERVICES_REGISTRY_POD_REPORTS_H_
#define CONTINUUM_SERVICES_REGISTRY_POD_REPORTS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/rollout_step.h"

namespace continuum::registry {

// How often pods are asked to report (ReportServingStateResponse).
inline constexpr absl::Duration kPodReportInterval = absl::Seconds(10);
// A pod silent for this long (three report intervals) serves nothing as far
// as rollouts go.
inline constexpr absl::Duration kPodSilence = absl::Seconds(30);

class PodReports {
 public:
  // Keeps `report` (its pod_id must not be empty) as its pod's latest, heard
  // at `now`, and forgets the pods silent for longer than kPodSilence.
  void Record(const v1::ReportServingStateRequest& report, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Per model id: what each ready pod heard from within kPodSilence of
  // `now` serves of it.
  std::map<std::string, std::vector<PodView>> ReadyPods(absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Adds every known pod that reports `model` to response->pods (by pod
  // id), and per revision the pods that applied it and the ready ones
  // among them to response->revisions (by revision).
  void AddRolloutStatus(const std::string& model,
                        v1::GetRolloutStatusResponse* response) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pod {
    v1::ReportServingStateRequest report;
    absl::Time time;
  };

  mutable absl::Mutex mu_;
  // Pod id -> its last report.
  std::map<std::string, Pod> pods_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_POD_REPORTS_H_
