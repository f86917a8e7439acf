// `continuumctl model fit` and `model predict`: a model trained and run on
// local CSV files, without the services, for every family (continuum-model,
// with the other `model` commands).
//
//   continuumctl model fit --spec=TEXT|@FILE --train=FILE.csv --output=BUNDLE
//       [--epochs=N] [--learning_rate=X] [--holdout=0.1] [--season=N]
//       [--seed=N]
//   continuumctl model predict BUNDLE --input=FILE.csv
//
// The training CSV has a header. `label` (classifiers: the class index;
// regressors: the value, or values separated by `;`) is the target;
// forecasters take `event_time` (Unix seconds, required) and `series`
// (optional) instead and forecast their first output_dim features; every
// other column is a feature, in order. Fields are plain numbers, unquoted.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_FIT_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_FIT_COMMAND_H_

#include <string>
#include <vector>

namespace continuum::ctl {

// `model fit`: trains a fresh model of --spec on --train (the held-out part:
// a seeded random --holdout share of the rows, or for a forecaster the
// windows whose targets lie in the last --holdout of the time span), prints
// what it measured on the held-out part (a forecaster's MASE beside the
// seasonal-naive forecast's) and writes the bundle. Exit 0 done, 1 training
// failed or diverged, 2 bad usage, data or I/O.
int RunModelFit();

// `model predict BUNDLE`: runs the bundle on --input (rows of features; a
// forecaster's windows as sequence_length consecutive rows each, oldest
// first) and prints one CSV line of outputs per row or window. Exit 0 done,
// 1 the bundle is invalid or the model fails, 2 bad usage, data or I/O.
int RunModelPredict(const std::string& bundle_path);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_FIT_COMMAND_H_
