#include "tests/util/registry_upload.h"

#include <grpcpp/grpcpp.h>

#include "lib/core/grpc_status.h"
#include "lib/store/blob_store.h"

namespace continuum::testing {

absl::StatusOr<v1::Version> UploadValidatedVersion(
    v1::RegistryService::Stub& stub, const std::string& model,
    const std::string& bytes, absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::UploadVersionResponse response;
  auto writer = stub.UploadVersion(&context, &response);
  v1::UploadVersionRequest request;
  request.mutable_metadata()->set_model(model);
  request.mutable_metadata()->set_sha256(store::Sha256Hex(bytes));
  v1::Evaluation* e =
      request.mutable_metadata()->mutable_validation_report()->add_evaluations();
  e->set_evaluation_set("held_out");
  e->mutable_candidate()->set_loss(0.2);
  e->mutable_candidate()->set_accuracy(0.8);
  e->mutable_candidate()->set_sample_count(1000);
  writer->Write(request);
  request.Clear();
  request.set_chunk(bytes);
  writer->Write(request);
  writer->WritesDone();
  if (absl::Status s = core::FromGrpcStatus(writer->Finish()); !s.ok()) {
    return s;
  }
  return response.version();
}

}  // namespace continuum::testing
