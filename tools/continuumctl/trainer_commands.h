// continuumctl commands for the trainer:
//   trainer trigger MODEL [--reason] [--epochs] [--learning_rate] [--wait]
//   trainer runs [MODEL] [--filter]   trainer run|watch|cancel RUN
//   trainer config|pause|resume MODEL [--reason]
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_TRAINER_COMMANDS_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_TRAINER_COMMANDS_H_

#include <string>
#include <vector>

namespace continuum::ctl {

int RunTrainerCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_TRAINER_COMMANDS_H_
