// Stages run as Slurm batch jobs (FORMAT §11). A SlurmSet submits a stage's command with
// `sbatch`, tracks all its jobs with one `squeue` (and, for jobs squeue has forgotten, one
// `sacct -c`) call per poll, streams their output files line by line and reports each end
// as a ProcessExit, like ProcessSet does for local children. It knows nothing of runs or
// the run store: where the files go and which jobs to reattach is the scheduler's business.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wf/process.hpp"
#include "wf/result.hpp"
#include "wf/workflow.hpp"

namespace wf {

// SlurmSet handles have the high bit set, so they never collide with ProcessSet ids.
inline constexpr ProcessId kSlurmHandleBit = ProcessId{1} << 63;
inline bool is_slurm_handle(ProcessId id) { return (id & kSlurmHandleBit) != 0; }

// A job's `runs-on` asks for Slurm: `slurm` or `{type: slurm, ...}`.
bool runs_on_slurm(const Json& runs_on);

// The keys `runs-on.with` accepts for Slurm, in documentation order.
const std::vector<std::string>& slurm_with_keys();

// `runs-on.with` turned into sbatch options ("--partition=debug", ...); extra-args go last,
// as given. Errors name the bad key or value.
Result<std::vector<std::string>> sbatch_options(const Json& runs_on);

// Where the Slurm stages of a run keep their files: `<dir of state_file>/slurm/<run id>`, next
// to the state file, so they survive a killed wf (and the compute nodes must see it: put
// the state dir on the cluster's shared file system).
std::string slurm_run_dir(const std::string& state_file, const std::string& run_id);

// The files of one stage's Slurm job: `<base>.sh` (the batch script), `.stdout`, `.stderr`
// and `.exitcode` (written by the script when the command ends; its presence is the result).
struct SlurmFiles {
  std::string base;
  std::string script() const { return base + ".sh"; }
  std::string stdout_path() const { return base + ".stdout"; }
  std::string stderr_path() const { return base + ".stderr"; }
  std::string exitcode_path() const { return base + ".exitcode"; }
};

// The batch script for `spec`: exports its environment, changes to its cwd, runs its argv
// with stdin from spec.stdin_path (or /dev/null) and writes the exit status to
// files.exitcode_path() (via a rename, so a reader never sees half a number).
std::string slurm_batch_script(const SpawnSpec& spec, const SlurmFiles& files);

// Single-quoted for sh: abc -> 'abc', it's -> 'it'\''s'.
std::string shell_quote(std::string_view s);

// A stage's external id in the run store: "slurm:<job id>:<files base>".
std::string slurm_external_id(const std::string& job_id, const std::string& base);
struct SlurmRef {
  std::string job_id;
  std::string base;
};
std::optional<SlurmRef> parse_slurm_external_id(std::string_view external_id);

// One row of `squeue -h -t all -o %i|%T|%r` or of `sacct -c -n -P -o JobID,State,ExitCode`
// (then `reason` holds the ExitCode column, "3:0").
struct SlurmJobState {
  std::string job_id;
  std::string state;   // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, ...
  std::string reason;  // squeue's reason, or sacct's exit code
};
std::vector<SlurmJobState> parse_slurm_states(std::string_view text);
// The job may still run (PENDING, RUNNING, COMPLETING, CONFIGURING, SUSPENDED, ...).
bool slurm_state_active(std::string_view state);
// "CANCELLED by 0" -> "CANCELLED"
std::string slurm_state_name(std::string_view state);

// The Slurm commands a SlurmSet runs (a seam for tests; names are looked up in PATH).
struct SlurmCommands {
  std::string sbatch = "sbatch";
  std::string squeue = "squeue";
  std::string sacct = "sacct";
  std::string scancel = "scancel";
};

// What Slurm says about these jobs now (one squeue call, one sacct -c call for the ones
// squeue has forgotten): job id -> state ("RUNNING", "COMPLETED", ...); unknown ids are left
// out, and so is everything when the commands are missing. For `wf show`.
std::map<std::string, std::string> slurm_job_states(const std::vector<std::string>& job_ids,
                                                    const SlurmCommands& commands = {});

// One `scancel` for jobs no SlurmSet tracks (a rerun's leftovers); errors are ignored.
void scancel_jobs(const std::vector<std::string>& job_ids, const SlurmCommands& commands = {});

struct SlurmSubmission {
  ProcessId id = 0;
  std::string job_id;  // empty when the submission failed (the next poll() reports why)
};

// Owns the Slurm jobs of one wf process. Jobs outlive it on purpose (wf may be killed and
// reattach later); only cancel() stops them.
class SlurmSet {
 public:
  explicit SlurmSet(std::chrono::milliseconds poll_interval = std::chrono::milliseconds(200),
                    SlurmCommands commands = {});
  ~SlurmSet();
  SlurmSet(const SlurmSet&) = delete;
  SlurmSet& operator=(const SlurmSet&) = delete;

  void set_line_callback(LineCallback cb);

  // Writes the batch script to files.script() and submits it with sbatch (blocking for as
  // long as sbatch takes). A failure (sbatch missing, refused) is reported by the next
  // poll() as a ProcessExit with spawn_error. spec.deadline counts from when the job starts
  // running: time in the queue is added to it.
  SlurmSubmission submit(const SpawnSpec& spec, const SlurmFiles& files, const std::string& job_name,
                         const std::vector<std::string>& sbatch_args);
  // Tracks a job submitted earlier (by this or a killed wf): it is not submitted again. Its
  // output files are read from the start.
  ProcessId attach(const std::string& job_id, const SlurmFiles& files, std::optional<SteadyTime> deadline);

  // When poll() has something to do; meaningful while running() > 0.
  SteadyTime next_poll() const;
  // Checks every job (one squeue call, one sacct call for jobs squeue no longer knows),
  // delivers new output lines and returns the jobs that ended. Returns nothing before
  // next_poll().
  std::vector<ProcessExit> poll();

  // scancel; the job is reported (cancelled) once Slurm says it ended.
  void cancel(ProcessId id);
  void cancel_all();

  std::size_t running() const;
  std::string job_id(ProcessId id) const;  // empty if unknown

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wf
