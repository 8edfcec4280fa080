#include <iostream>

#include "cli/commands.h"
#include "medpipe/core/problem_code.h"

namespace medpipe::cli {

// docs/problem-codes.md is this output (a test compares them).
int CodesCommand(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::cerr << "usage: medpipe codes   (prints the problem code table as Markdown; takes no options)\n";
    return kExitUsage;
  }
  std::cout << ProblemCodesMarkdown();
  return kExitOk;
}

}  // namespace medpipe::cli
