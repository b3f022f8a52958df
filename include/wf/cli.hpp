// The command line: parses argv with CLI11 and dispatches to one function per subcommand
// (src/cli/<command>.cpp). Returns the process exit code of CLI.md; main() only calls it.
#pragma once

namespace wf {

int run_cli(int argc, char** argv);

}  // namespace wf
