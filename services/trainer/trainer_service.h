// The gRPC handlers of continuum.v1.TrainerService: thin adapters over the
// Scheduler. Synchronous API, like the collector's and the drift
// service's: WatchRun holds a thread of its own, blocked on
// Scheduler::WaitForRunUpdate, until the run ends or the client cancels.
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINER_SERVICE_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINER_SERVICE_H_

#include "continuum/v1/trainer.grpc.pb.h"
#include "services/trainer/scheduler.h"

namespace continuum::trainer {

class TrainerServiceImpl final : public v1::TrainerService::Service {
 public:
  // `scheduler` must outlive the service.
  explicit TrainerServiceImpl(Scheduler* scheduler) : scheduler_(scheduler) {}

  grpc::Status TriggerRun(grpc::ServerContext* context,
                          const v1::TriggerRunRequest* request,
                          v1::TriggerRunResponse* response) override;
  grpc::Status GetRun(grpc::ServerContext* context,
                      const v1::GetRunRequest* request,
                      v1::GetRunResponse* response) override;
  grpc::Status ListRuns(grpc::ServerContext* context,
                        const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override;
  grpc::Status WatchRun(grpc::ServerContext* context,
                        const v1::WatchRunRequest* request,
                        grpc::ServerWriter<v1::WatchRunResponse>* writer) override;
  grpc::Status CancelRun(grpc::ServerContext* context,
                         const v1::CancelRunRequest* request,
                         v1::CancelRunResponse* response) override;
  grpc::Status ConfigureTraining(
      grpc::ServerContext* context, const v1::ConfigureTrainingRequest* request,
      v1::ConfigureTrainingResponse* response) override;
  grpc::Status GetTrainingConfig(
      grpc::ServerContext* context, const v1::GetTrainingConfigRequest* request,
      v1::GetTrainingConfigResponse* response) override;
  grpc::Status PauseSchedule(grpc::ServerContext* context,
                             const v1::PauseScheduleRequest* request,
                             v1::PauseScheduleResponse* response) override;
  grpc::Status ResumeSchedule(grpc::ServerContext* context,
                              const v1::ResumeScheduleRequest* request,
                              v1::ResumeScheduleResponse* response) override;

 private:
  Scheduler* scheduler_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TRAINER_SERVICE_H_
