// Reading a metric back from a prometheus-cpp registry in tests.
#ifndef CONTINUUM_TESTS_UTIL_METRIC_VALUES_H_
#define CONTINUUM_TESTS_UTIL_METRIC_VALUES_H_

#include <prometheus/registry.h>

#include <map>
#include <string>

namespace continuum::testing {

// The sum over the samples of family `name` whose labels include every
// entry of `labels` (other labels may differ): counter and gauge values,
// a histogram's sample counts. 0 when none matches.
double MetricSum(prometheus::Registry& registry, const std::string& name,
                 const std::map<std::string, std::string>& labels);

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_METRIC_VALUES_H_
