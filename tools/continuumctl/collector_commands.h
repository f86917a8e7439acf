// continuumctl commands for the collector:
//   datasets create|get|list|delete|stats   manage data sets
//   ingest --dataset=D --csv=FILE | --jsonl=FILE   load records
//   export --dataset=D [--from=T] [--to=T] [--format=csv] [--output=FILE]
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_COLLECTOR_COMMANDS_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_COLLECTOR_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/collector.pb.h"
#include "tools/continuumctl/record_parsing.h"

namespace continuum::ctl {

int RunDatasetsCommand(const std::vector<std::string>& args);
int RunIngestCommand(const std::vector<std::string>& args);
int RunExportCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_COLLECTOR_COMMANDS_H_
