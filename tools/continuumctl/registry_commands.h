// continuumctl commands for the registry:
//   models list|get|register      versions list|get
//   upload --model=M --file=F [--report=R.json]   download --version=NAME
//   --output=F validate --version=NAME --report=R.json promote --model=M
//   [--version=N] [--complete]  traffic --model=M --percent=P rollback
//   --model=M --reason=TEXT [--version=N]  rollout --model=M
//   [pause|resume|abort] audit export [--output=F] | audit verify
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_REGISTRY_COMMANDS_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_REGISTRY_COMMANDS_H_

#include <string>
#include <vector>

namespace continuum::ctl {

int RunModelsCommand(const std::vector<std::string>& args);
int RunVersionsCommand(const std::vector<std::string>& args);
int RunUploadCommand(const std::vector<std::string>& args);
int RunDownloadCommand(const std::vector<std::string>& args);
int RunValidateCommand(const std::vector<std::string>& args);
int RunPromoteCommand(const std::vector<std::string>& args);
int RunTrafficCommand(const std::vector<std::string>& args);
int RunRollbackCommand(const std::vector<std::string>& args);
int RunRolloutCommand(const std::vector<std::string>& args);
int RunAuditCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_REGISTRY_COMMANDS_H_
