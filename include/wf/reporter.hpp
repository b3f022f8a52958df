// Everything `wf run` shows while it works goes through a Reporter: the only writer to
// stdout during a run. Plain lines (cron, CI, pipes), a coloured terminal view, quiet
// (failures only, at the end) and JSON (the final result only) are implementations.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "wf/status.hpp"

namespace wf {

struct StageEvent {
  std::string job;    // display name of the job instance
  std::string stage;  // stage name
  Status status = Status::Wait;
  double seconds = 0;
  std::string error;  // "Name: message" when failed
};

struct JobEvent {
  std::string job;
  Status status = Status::Wait;
  double seconds = 0;
  std::string reason;  // skip reason or error
  bool leg = false;    // one leg of a matrix job of several legs (the job has an event of its own)
};

struct FailedStage {
  std::string job;
  std::string stage;
  std::string error;
  std::vector<std::string> last_lines;  // tail of its output
};

struct RunSummary {
  std::string run_id;
  std::string workflow;
  Status status = Status::Wait;
  int exit_code = 0;
  double seconds = 0;
  std::vector<JobEvent> jobs;
  std::vector<FailedStage> failed;
  std::string error;
  std::string result_json;  // the whole run result (FORMAT §8), printed by --json
};

class Reporter {
 public:
  virtual ~Reporter() = default;
  virtual void run_started(std::string_view run_id, std::string_view workflow, std::string_view run_name) = 0;
  virtual void stage_started(std::string_view job, std::string_view stage) = 0;
  virtual void stage_output(std::string_view job, std::string_view stage, bool is_stderr, std::string_view line) = 0;
  virtual void stage_finished(const StageEvent& e) = 0;
  virtual void job_finished(const JobEvent& e) = 0;
  virtual void run_finished(const RunSummary& s) = 0;
  // Whether run_finished reads RunSummary::result_json; the run keeps what the result needs
  // (every job's outputs and stages) only then.
  virtual bool wants_result_json() const { return true; }
  // A reporter that shows elapsed times asks to be woken at least every `tick_interval` and
  // gets tick() then (the terminal view); others return zero.
  virtual std::chrono::milliseconds tick_interval() const { return std::chrono::milliseconds(0); }
  virtual void tick() {}
  // Called once per scheduler loop pass, before it waits: what the pass printed goes out now
  // (a reporter may hold lines until then, as one write instead of one per line).
  virtual void flush() {}
};

enum class ReportMode { Plain, Terminal, Quiet, Json };

// `out` is stdout in the program and a temp file in tests.
std::unique_ptr<Reporter> make_reporter(ReportMode mode, std::FILE* out, bool color);

}  // namespace wf
