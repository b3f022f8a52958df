// Runs one workflow: the topological job scheduler (ready queue in file order, slots,
// trigger rules and `if`, fail-fast, workflow timeout, signals) and, inside each job
// instance, its stages in order. Processes go through one ProcessSet; every state change
// goes to the RunStore, grouped per loop pass; progress goes to the Reporter.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "wf/reporter.hpp"
#include "wf/result.hpp"
#include "wf/run_store.hpp"
#include "wf/workflow.hpp"

namespace wf {

// What a rerun (FORMAT §9.1) carries over from the previous attempt of a run.
struct KeptLeg {
  Json matrix = Json::object();
  Json outputs = Json::object();
  std::string display_name;
};
struct ResumeInfo {
  RunRecord run;  // the stored run; its attempt is already the new attempt's number
  std::map<std::string, std::vector<KeptLeg>> kept;  // job -> legs that succeeded
  std::set<std::string> kept_whole;                  // jobs not executed at all
};

struct RunOptions {
  int max_parallel = 0;                   // 0: workflow's max-job-parallel, env, else CPU count
  std::optional<int> timeout_seconds;     // overrides the workflow's timeout
  bool fail_fast = false;
  std::vector<std::string> only_jobs;     // --job: these and what they need
  std::vector<std::string> exclude_jobs;  // --exclude
  std::chrono::milliseconds kill_grace{10000};
  int max_legs = 256;                     // --max-legs
  std::optional<ResumeInfo> resume;       // set by wf rerun
  std::string logical_date;               // a release's minute (ISO, UTC); empty: the start minute
  std::string release_type = "manual";    // release.type in expressions
  std::string cwd;                        // where wf was started (stage default cwd)
  std::vector<std::string> base_env;      // wf's environment, "K=V"
  std::string command_line;
  // Trigger stages (FORMAT §6): how a child `wf run` is started, and what a child was given.
  std::string run_id;                     // preset run id (a trigger's child); empty: a new one
  std::string parent_run_id;
  std::vector<std::string> trigger_chain; // workflows that triggered this one, outermost first
  std::string state_dir;
  std::vector<std::string> conf_dirs;     // --conf of this wf, passed on to children
};

struct RunOutcome {
  std::string run_id;
  Status status = Status::Wait;
  int exit_code = 0;  // CLI.md exit codes: 0, 1, 3, 130, 143
};

// `params` are resolved (typed, real secret values); `secrets` are the texts to mask.
// `spec_text` is the YAML the workflow came from (stored as the run's snapshot).
Result<RunOutcome> run_workflow(const Workflow& w, const std::string& spec_text, const Json& params,
                                const std::vector<std::string>& secrets, const Json& masked_params,
                                const RunOptions& opts, RunStore& store, Reporter& reporter);

// A new run id: sortable by time, unique enough for one host ("20240101T090000-3f9a2c1b").
std::string new_run_id();

// Parses the lines a stage appended to $WF_OUTPUT: `key=value` and `key<<DELIM` ... `DELIM`.
Json parse_output_file(const std::string& text);

}  // namespace wf
