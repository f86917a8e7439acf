#include "services/inference/predictor.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/core/field_rules.h"
#include "lib/core/record_attributes.h"

namespace continuum::inference {

void FillOutputs(const Servable& servable, int rows,
                 absl::Span<const float> outputs,
                 v1::PredictResponse* response) {
  const int dim = servable.output_dim();
  v1::Tensor* t = response->mutable_outputs();
  t->clear_shape();
  t->add_shape(rows);
  if (servable.output_shape.empty()) {
    t->add_shape(dim);
  } else {
    for (int64_t d : servable.output_shape) t->add_shape(d);
  }
  t->mutable_data()->Assign(outputs.begin(), outputs.end());
  response->clear_predicted_classes();
  response->clear_scores();
  response->clear_anomalies();
  for (int r = 0; r < rows; ++r) {
    const float* row = outputs.data() + static_cast<size_t>(r) * dim;
    switch (servable.family) {
      case v1::MODEL_FAMILY_MLP_CLASSIFIER: {
        const float* best = std::max_element(row, row + dim);
        response->add_predicted_classes(static_cast<int32_t>(best - row));
        response->add_scores(*best);
        break;
      }
      case v1::MODEL_FAMILY_AUTOENCODER:
        response->add_scores(row[0]);
        response->add_anomalies(servable.runner->IsAnomaly(row[0]));
        break;
      case v1::MODEL_FAMILY_MLP_REGRESSOR:
        response->add_scores(row[0]);
        break;
      case v1::MODEL_FAMILY_GRU_FORECASTER:
        // The point forecast of the first series at the first horizon.
        response->add_scores(row[servable.point_quantile]);
        break;
      default:
        break;
    }
  }
}

Predictor::Predictor(PredictorOptions options) : options_(std::move(options)) {}

absl::Status CheckRequest(const v1::PredictRequest& request) {
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) return s;
  if (request.force_log() && request.log() == v1::LOG_POLICY_NEVER) {
    return absl::InvalidArgumentError(
        "force_log: contradicts log = LOG_POLICY_NEVER; send one of them");
  }
  for (int i = 0; i < request.record_ids_size(); ++i) {
    if (request.record_ids(i).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "record_ids[", i, "]: empty; a record id is 1 to 128 bytes"));
    }
  }
  if (absl::Status s = core::CheckRecordAttributes(request.attributes());
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("attributes: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status Predictor::Validate(const v1::PredictRequest& request,
                                 const Servable& servable) const {
  const v1::Tensor& inputs = request.inputs();
  const int dim = servable.input_dim();
  auto shape_text = [&] {
    return absl::StrCat("[", absl::StrJoin(inputs.shape(), ", "), "]");
  };
  // Rows of the model's per-row shape: [rows, input_dim], or a forecaster's
  // [rows, sequence_length, input_dim].
  const std::vector<int64_t> row_shape =
      servable.input_shape.empty() ? std::vector<int64_t>{dim}
                                   : servable.input_shape;
  if (inputs.shape_size() != static_cast<int>(row_shape.size()) + 1 ||
      !std::equal(row_shape.begin(), row_shape.end(),
                  inputs.shape().begin() + 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs.shape is ", shape_text(), "; model ", servable.model,
        " version ", servable.version, " takes [rows, ",
        absl::StrJoin(row_shape, ", "), "]"));
  }
  const int64_t rows = inputs.shape(0);
  if (rows < 1) {
    return absl::InvalidArgumentError("inputs holds no rows");
  }
  if (rows > options_.max_request_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs holds ", rows, " rows; at most ",
                     options_.max_request_rows, " per request"));
  }
  if (inputs.data_size() != rows * dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inputs.data holds ", inputs.data_size(), " values; shape ",
        shape_text(), " needs ", rows * dim));
  }
  for (int i = 0; i < inputs.data_size(); ++i) {
    if (!std::isfinite(inputs.data(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs row ", i / dim, " column ", i % dim, " is ",
                       inputs.data(i), "; values must be finite"));
    }
  }
  if (request.record_ids_size() != 0 && request.record_ids_size() != rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("record_ids holds ", request.record_ids_size(),
                     " ids for ", rows, " rows; give one per row or none"));
  }
  return absl::OkStatus();
}

void Predictor::Predict(const v1::PredictRequest* request,
                        v1::PredictResponse* response, absl::Time deadline,
                        absl::AnyInvocable<void(const absl::Status&)> done,
                        std::string caller) {
  auto fail = [&](const absl::Status& status, v1::ServingRole role) {
    if (options_.metrics != nullptr) {
      options_.metrics->OnRequest(request->model(), role, status.code(), 0);
    }
    done(status);
  };
  if (absl::Status s = CheckRequest(*request); !s.ok()) {
    return fail(s, v1::SERVING_ROLE_UNSPECIFIED);
  }
  absl::StatusOr<Route> route = options_.manager->RouteRequest(
      request->model(), request->version(), request->routing_key());
  if (!route.ok()) return fail(route.status(), v1::SERVING_ROLE_UNSPECIFIED);
  if (absl::Status s = Validate(*request, *route->servable); !s.ok()) {
    return fail(s, route->role);
  }

  BatchTask task;
  task.servable = route->servable;
  task.rows = request->inputs().data().data();
  task.n = static_cast<int>(request->inputs().shape(0));
  task.deadline = deadline;
  // The callback owns `done`; `route` is copied for the shadow.
  auto shared_done =
      std::make_shared<absl::AnyInvocable<void(const absl::Status&)>>(
          std::move(done));
  task.done = [this, request, response, route = *route, shared_done,
               caller = std::move(caller)](
                  const absl::Status& status, absl::Span<const float> out) {
    const int rows = static_cast<int>(request->inputs().shape(0));
    if (options_.metrics != nullptr) {
      options_.metrics->OnRequest(request->model(), route.role, status.code(),
                                  rows);
    }
    if (!status.ok()) {
      (*shared_done)(status);
      return;
    }
    response->set_model(request->model());
    response->mutable_version()->set_model(request->model());
    response->mutable_version()->set_version(route.servable->version);
    response->set_role(route.role);
    response->set_revision(route.revision);
    response->set_request_id(request->request_id());
    response->set_pod_id(options_.pod_id);
    FillOutputs(*route.servable, rows, out, response);
    response->set_logged(options_.log &&
                         options_.log(*request, *response, caller));
    if (route.shadow != nullptr) {
      RunShadow(route, *request, *response);  // Copies what it needs.
    }
    (*shared_done)(absl::OkStatus());
  };
  if (absl::Status s = route->scheduler->Schedule(std::move(task)); !s.ok()) {
    // Not queued: the callback was not called and still owns nothing we
    // need; answer here.
    if (options_.metrics != nullptr) {
      options_.metrics->OnRequest(request->model(), route->role, s.code(), 0);
    }
    (*shared_done)(s);
  }
}

void Predictor::RunShadow(const Route& route,
                          const v1::PredictRequest& request,
                          const v1::PredictResponse& answer) {
  // The shadow runs on copies, after the answer, off the request path; its
  // result is compared and logged, never returned.
  struct ShadowCall {
    v1::PredictRequest request;
    v1::PredictResponse answer;
    v1::PredictResponse shadow;
  };
  auto call = std::make_shared<ShadowCall>();
  call->request = request;
  call->answer = answer;
  BatchTask task;
  task.servable = route.shadow;
  task.rows = call->request.inputs().data().data();
  task.n = static_cast<int>(call->request.inputs().shape(0));
  task.done = [this, call, shadow = route.shadow, revision = route.revision](
                  const absl::Status& status, absl::Span<const float> out) {
    if (!status.ok()) return;
    v1::PredictResponse& r = call->shadow;
    r.set_model(call->request.model());
    r.mutable_version()->set_model(call->request.model());
    r.mutable_version()->set_version(shadow->version);
    r.set_role(v1::SERVING_ROLE_SHADOW);
    r.set_revision(revision);
    r.set_request_id(call->request.request_id());
    r.set_pod_id(options_.pod_id);
    FillOutputs(*shadow, static_cast<int>(call->request.inputs().shape(0)), out, &r);
    int disagreements = 0;
    const v1::PredictResponse& a = call->answer;
    for (int i = 0; i < r.scores_size() && i < a.scores_size(); ++i) {
      if (r.predicted_classes_size() > i && a.predicted_classes_size() > i) {
        disagreements += r.predicted_classes(i) != a.predicted_classes(i);
      } else if (r.anomalies_size() > i && a.anomalies_size() > i) {
        disagreements += r.anomalies(i) != a.anomalies(i);
      } else {
        disagreements += std::abs(r.scores(i) - a.scores(i)) >
                         0.01f * (1.0f + std::abs(a.scores(i)));
      }
    }
    if (options_.metrics != nullptr) {
      options_.metrics->OnShadow(call->request.model(),
                                 static_cast<int>(call->request.inputs().shape(0)), disagreements);
    }
    if (options_.log) options_.log(call->request, r, "");
  };
  // A full queue drops the shadow copy: the answer has been given already.
  (void)route.scheduler->Schedule(std::move(task));
}

}  // namespace continuum::inference
