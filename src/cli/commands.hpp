// One registration function per subcommand (each in src/cli/<command>.cpp). Each adds its
// CLI11 subcommand with its options and returns the action to call once parsing is done.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <optional>

#include "common.hpp"
#include "wf/reporter.hpp"
#include "wf/scheduler.hpp"

namespace wf::cli {

// Checks of numeric options with messages a user can read (CLI11's own print the whole range
// of the type, or "Could not convert"). Seconds: a finite number from 0 (or above 0 when
// `positive`) up to kMaxOptionSeconds; a count: a whole number from `min` to `max`.
inline constexpr double kMaxOptionSeconds = 1e9;  // about 31 years
CLI::Validator seconds_option(bool positive);
CLI::Validator count_option(long long min, long long max);

struct RunArgs {
  std::string target;
  std::string name;
  std::vector<std::string> params;
  std::string params_file;
  int jobs = 0;
  std::optional<int> timeout;
  bool fail_fast = false;
  std::vector<std::string> only;
  std::vector<std::string> exclude;
  bool dry_run = false;
  bool json = false;
  int max_legs = 256;
  double kill_grace = 10;
};

// What `wf release` adds around a run: the logical minute and type, a check before the run
// (returns an exit code to stop, or -1 to go on) and a record after it.
struct ReleaseHooks {
  std::string logical_date;
  std::string type = "normal";
  std::function<int(RunStore&, const Workflow&, const Json& masked_params)> before_run;
  std::function<void(RunStore&, const Workflow&, const Json& masked_params, const RunOutcome&,
                     const std::string& masked_command_line)>
      after_run;
};
int run_command(Globals& g, const RunArgs& a, const ReleaseHooks* hooks);
// What run and rerun share: -j, --timeout (with the workflow's and the environment's
// defaults), --kill-grace, --max-legs, --fail-fast, cwd and environment; and the reporter
// that --json, -q and a terminal choose.
RunOptions base_run_options(const Globals& g, const Workflow& w, int jobs, std::optional<int> timeout,
                            double kill_grace, int max_legs, bool fail_fast);
std::unique_ptr<Reporter> run_reporter(const Globals& g, bool json);
// `wf rerun RUN_ID` for `wf release --type rerun`: the release's minute and type stay.
int rerun_run(Globals& g, const std::string& run_id, const std::string& logical_date, const std::string& type);

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
Command add_release(CLI::App& app, Globals& g);
Command add_tick(CLI::App& app, Globals& g);
Command add_schedule(CLI::App& app, Globals& g);
Command add_audit(CLI::App& app, Globals& g);
Command add_completion(CLI::App& app, Globals& g);
Command add_complete_helper(CLI::App& app, Globals& g);

// The text `wf version` prints (also for --version).
std::string version_text();

}  // namespace wf::cli
