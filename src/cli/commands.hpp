// One registration function per subcommand (each in src/cli/<command>.cpp). Each adds its
// CLI11 subcommand with its options and returns the action to call once parsing is done.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <optional>

#include "common.hpp"

namespace wf::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_run(CLI::App& app, Globals& g);
Command add_validate(CLI::App& app, Globals& g);
Command add_runs(CLI::App& app, Globals& g);
Command add_show(CLI::App& app, Globals& g);
Command add_logs(CLI::App& app, Globals& g);
Command add_list(CLI::App& app, Globals& g);
Command add_version(CLI::App& app, Globals& g);
Command add_graph(CLI::App& app, Globals& g);
Command add_rerun(CLI::App& app, Globals& g);
Command add_cancel(CLI::App& app, Globals& g);
Command add_gc(CLI::App& app, Globals& g);

// The text `wf version` prints (also for --version).
std::string version_text();

}  // namespace wf::cli
