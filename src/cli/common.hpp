// What every subcommand shares: the global options, the environment as a map, where the
// state file is, opening it, printing errors in CLI.md's format, and finding the workflow
// a command line names (a file, or a name in the config path).
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "wf/catalog.hpp"
#include "wf/diagnostic.hpp"
#include "wf/result.hpp"
#include "wf/run_store.hpp"

namespace wf::cli {

// Exit codes of CLI.md.
enum ExitCode { kOk = 0, kFailed = 1, kUsage = 2, kCancelled = 3, kState = 4, kConcurrency = 5 };

struct Globals {
  std::vector<std::string> conf;
  std::string state_dir;
  bool quiet = false;
  int verbose = 0;
  std::string color = "auto";
  bool json = false;  // --json given before the command name
  std::map<std::string, std::string> env;
  std::vector<std::string> environ_list;
  std::string command_line;

  bool color_stdout() const;
  bool color_stderr() const;
  std::string env_or(const std::string& name, const std::string& fallback = {}) const;
};

// `wf: error: message` on stderr; returns `code`.
int fail(int code, const std::string& message);
// Prints diagnostics (sorted) to stderr; `min` filters notes/warnings out.
void print_diagnostics(const DiagnosticList& diags, const Globals& g, Severity min = Severity::Note);

// "7d", "12h", "30m", "45s" -> milliseconds; `what` names the option in errors.
Result<TimeMs> parse_duration_ms(const std::string& s, const std::string& what);

std::string state_dir(const Globals& g);
Result<std::unique_ptr<RunStore>> open_store(const Globals& g);

// A workflow chosen from the command line, with the file it came from.
struct Chosen {
  Catalog catalog;
  const Workflow* workflow = nullptr;
  const WorkflowFile* file = nullptr;
};
// `target` is a path to a .yml/.yaml file (then `name` picks one of its workflows when it
// holds several) or a workflow name in the config path. Load/validation problems go to
// `diags`; a missing workflow is an Error listing what exists.
Result<Chosen> choose_workflow(const Globals& g, const std::string& target, const std::string& name,
                               DiagnosticList& diags);

}  // namespace wf::cli
