#include "services/registry/pod_reports.h"

#include <utility>

#include "lib/core/proto_time.h"

namespace continuum::registry {

void PodReports::Record(const v1::ReportServingStateRequest& report,
                        absl::Time now) {
  absl::MutexLock lock(&mu_);
  pods_[report.pod_id()] = Pod{report, now};
  for (auto it = pods_.begin(); it != pods_.end();) {
    if (now - it->second.time > kPodSilence) {
      it = pods_.erase(it);
    } else {
      ++it;
    }
  }
}

std::map<std::string, std::vector<PodView>> PodReports::ReadyPods(
    absl::Time now) const {
  std::map<std::string, std::vector<PodView>> serving;
  absl::MutexLock lock(&mu_);
  for (const auto& [pod_id, pod] : pods_) {
    if (!pod.report.ready() || now - pod.time > kPodSilence) continue;
    for (const v1::ModelServingStatus& m : pod.report.models()) {
      PodView view;
      view.pod_id = pod_id;
      view.revision = m.revision();
      for (const v1::VersionServingStatus& v : m.versions()) {
        view.rows_by_version[v.version()] += v.rows_served();
        if (v.state() == v1::SERVING_STATE_FAILED) {
          view.failed_versions[v.version()] =
              v.reason().empty() ? "no reason given" : v.reason();
        }
      }
      serving[m.model()].push_back(std::move(view));
    }
  }
  return serving;
}

void PodReports::AddRolloutStatus(
    const std::string& model, v1::GetRolloutStatusResponse* response) const {
  std::map<int64_t, v1::RevisionPodCount> counts;
  absl::MutexLock lock(&mu_);
  for (const auto& [pod_id, pod] : pods_) {
    for (const v1::ModelServingStatus& m : pod.report.models()) {
      if (m.model() != model) continue;
      v1::PodStatus* status = response->add_pods();
      status->set_pod_id(pod_id);
      status->set_ready(pod.report.ready());
      *status->mutable_model() = m;
      *status->mutable_report_time() = core::ToProto(pod.time);
      v1::RevisionPodCount& c = counts[m.revision()];
      c.set_revision(m.revision());
      c.set_pods(c.pods() + 1);
      c.set_ready_pods(c.ready_pods() +
                       (pod.report.ready() && m.ready() ? 1 : 0));
    }
  }
  for (auto& [revision, count] : counts) *response->add_revisions() = count;
}

}  // namespace continuum::registry
