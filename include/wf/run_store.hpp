// The run store: one SQLite file holding every run, its job instances (matrix legs),
// stage attempts, captured output and (later) audit records. This is the only file that
// includes sqlite3. Writes are short transactions in WAL mode with a busy timeout, so that
// several wf processes can share the file; callers group the writes of one scheduler pass
// with a Transaction to pay for one commit. Secrets are masked by the caller before storing.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "wf/result.hpp"
#include "wf/status.hpp"

namespace wf {

using Json = nlohmann::json;
using TimeMs = std::int64_t;  // milliseconds since the Unix epoch, 0 = not yet

struct RunRecord {
  std::string id;
  std::string workflow;
  std::string run_name;
  std::string parent_run_id;  // empty: none
  std::string file_path;
  std::string spec_text;      // the YAML text the run was made from
  std::string spec_hash;
  Json params = Json::object();  // secrets already masked
  Status status = Status::Wait;
  std::string error_name;
  std::string error_message;
  int attempt = 1;            // rerun attempts, from 1
  int exit_code = -1;         // -1 while running
  TimeMs created_at = 0;
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
  int pid = 0;
  std::int64_t pid_start = 0;  // process start time (clock ticks since boot, /proc/PID/stat)
  std::string host;
  std::string user;
  std::string command_line;
};

struct JobInstanceRecord {
  std::int64_t id = 0;        // assigned by insert
  std::string run_id;
  int run_attempt = 1;
  std::string job;
  int leg = 0;                // matrix leg index, 0 for a plain job
  Json matrix = Json::object();
  std::string display_name;   // "job" or "job (v1, v2)"
  Status status = Status::Wait;
  std::string skip_reason;
  std::string error_name;
  std::string error_message;
  Json outputs = Json::object();
  int job_attempt = 1;
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
};

struct StageRecord {
  std::int64_t id = 0;        // assigned by insert
  std::int64_t job_instance_id = 0;
  int index = 0;              // position in the job's stage list
  std::string stage_key;      // id, or name
  std::string name;
  int attempt = 1;
  Status status = Status::Wait;
  int exit_code = -1;
  std::string error_name;
  std::string error_message;
  Json outputs = Json::object();
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
  std::string external_id;    // e.g. a Slurm job id (later)
  std::int64_t parent_id = 0; // nested stages: the parallel/foreach/until/case stage's row
  std::string label;          // nested stages: "branch a", "item 0", "loop 2", "case x"
};

// One rerun attempt of a run (attempt 1 is the first run); kept in sync by insert_run and
// update_run, so `wf show` can list what each attempt did and which process ran it.
struct RunAttemptRecord {
  std::string run_id;
  int attempt = 1;
  Status status = Status::Wait;
  int exit_code = -1;
  std::string error_name;
  std::string error_message;
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
  int pid = 0;
  std::int64_t pid_start = 0;
  std::string host;
};

enum class LogStream { Stdout = 1, Stderr = 2, Wf = 3 };

struct LogChunk {
  std::int64_t stage_id = 0;
  LogStream stream = LogStream::Stdout;
  TimeMs at = 0;
  std::string text;
  std::int64_t seq = 0;  // set when read back: the order of writing
};

struct RunFilter {
  std::optional<std::string> workflow;
  std::optional<Status> status;
  std::optional<TimeMs> since;
  int limit = 20;
};

// One connection to the state file. Not thread-safe: each thread opens its own RunStore.
// One audit record (FORMAT §10): a release of a workflow for one logical minute.
struct AuditRecord {
  std::int64_t id = 0;          // assigned by insert
  std::string workflow;
  TimeMs release_at = 0;        // the logical minute (UTC)
  std::string type;             // normal force dryrun rerun event, or "misfire"
  std::string run_id;           // empty for a misfire
  std::string parent_run_id;
  Json params = Json::object(); // secrets masked
  Status status = Status::Wait;
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
  std::string host;
  std::string user;
  std::string wf_version;
  std::string command_line;
  std::string note;             // e.g. why a minute was a misfire
};

struct AuditFilter {
  std::optional<std::string> workflow;
  std::optional<TimeMs> release_at;
  int limit = 50;  // <= 0: all
};

// The outcome of trying to claim one release minute (dedupe of `normal` releases).
struct ReleaseClaim {
  bool claimed = false;       // this process may run it
  std::string run_id;         // when not claimed: the run that holds or finished it
  Status status = Status::Wait;
};

class RunStore {
 public:
  // Opens (creating dir and file as needed) `<state_dir>/wf.db`, sets WAL,
  // synchronous=NORMAL, busy_timeout, foreign keys, and migrates the schema forward.
  // Errors mention the path and SQLite's message (the CLI maps them to exit 4).
  static Result<std::unique_ptr<RunStore>> open(const std::string& state_dir);
  // For tests: like open, but migrates a new or older file no further than `version`
  // (1..schema_version()), to make files of an older schema. The release, audit and tick
  // calls fail on a file older than version 2.
  static Result<std::unique_ptr<RunStore>> open_at_version(const std::string& state_dir,
                                                           int version);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const;
  static int schema_version();  // the version this binary writes

  // Groups writes into one transaction (BEGIN IMMEDIATE ... COMMIT); nests as a no-op.
  class Transaction {
   public:
    explicit Transaction(RunStore& s);
    ~Transaction();  // rolls back if commit() was not called
    Result<void> commit();
   private:
    RunStore* store_;
    bool outer_;
    bool done_ = false;
  };
  // Inside a transaction: commits what was written so far and goes on in a new one, for a
  // fact that must outlive a crash at once (a submitted Slurm job's id). No-op outside one.
  Result<void> checkpoint();

  Result<void> insert_run(const RunRecord& r);
  // Writes status, errors, times, exit code, attempt, pid, pid_start, host, user and
  // command line, and the run_attempts row of r.attempt (created if new).
  Result<void> update_run(const RunRecord& r);
  // Replaces the snapshot a rerun works from: file_path, spec_text, spec_hash, params
  // (`wf rerun -p`, `--use-current-spec`).
  Result<void> update_run_snapshot(const RunRecord& r);
  // The run's stage directory (schema version 4; a no-op / "" on an older file), recorded
  // when the run makes it and read by crash recovery.
  Result<void> set_run_temp_dir(const std::string& run_id, const std::string& dir);
  Result<std::string> run_temp_dir(const std::string& run_id);
  // Closes what a run attempt left open (stages and job instances still WAIT) as CANCEL with
  // the given error: a run that could not record everything still never ends with WAIT rows.
  Result<void> close_open_records(const std::string& run_id, int attempt, const std::string& error_name,
                                  const std::string& error_message, TimeMs finished_at);
  // Inside a Transaction: takes the write lock (BEGIN IMMEDIATE) and reads run `id` afresh,
  // so that a decision made on it (crash recovery closing it) cannot race the run's own
  // writes. nullopt: no such run (any more).
  Result<std::optional<RunRecord>> lock_run(const std::string& id);
  // Deletes a run with its attempts, job instances, stages and logs; false if no such run.
  Result<bool> delete_run(const std::string& id);
  Result<std::int64_t> insert_job_instance(const JobInstanceRecord& j);
  // Writes every field but the identity (id, run_id, run_attempt); no such id is an error.
  Result<void> update_job_instance(const JobInstanceRecord& j);
  Result<std::int64_t> insert_stage(const StageRecord& s);
  // Writes every field but id and job_instance_id; no such id is an error.
  Result<void> update_stage(const StageRecord& s);
  Result<void> append_log(const LogChunk& c);

  // --- releases, audit and ticks (schema version 2) ---
  // Atomically claims (workflow, minute) for a `normal` release: succeeds when no release of
  // that minute exists, or the last one FAILED or was CANCELled (also when its run was
  // interrupted), or `force` is set. A claim that SUCCEEDED, or is WAIT with a live process,
  // is not taken: the claim result names its run. `owner_pid`/`owner_start` identify the
  // claiming process so that a crashed claimer does not block the minute forever.
  Result<ReleaseClaim> claim_release(const std::string& workflow, TimeMs minute, bool force, int owner_pid,
                                     std::int64_t owner_start);
  // Records the run that a claim started, and its final status.
  Result<void> set_release_run(const std::string& workflow, TimeMs minute, const std::string& run_id);
  Result<void> finish_release(const std::string& workflow, TimeMs minute, Status status);
  // The release row of a minute (its run and status), if any.
  Result<std::optional<ReleaseClaim>> find_release(const std::string& workflow, TimeMs minute);
  Result<std::int64_t> insert_audit(const AuditRecord& a);
  Result<void> update_audit(const AuditRecord& a);
  Result<std::vector<AuditRecord>> list_audit(const AuditFilter& f);  // newest release first
  // The last minute a tick handled for a workflow (nullopt: never ticked).
  Result<std::optional<TimeMs>> last_tick(const std::string& workflow);
  Result<void> set_last_tick(const std::string& workflow, TimeMs minute);

  // Exact id, or a unique prefix; unknown or ambiguous is an error naming the candidates.
  Result<RunRecord> find_run(const std::string& id_or_prefix);
  Result<std::vector<RunRecord>> list_runs(const RunFilter& f);  // newest first
  Result<std::vector<RunAttemptRecord>> run_attempts(const std::string& run_id);  // by attempt
  // Instances of one run attempt (attempt 0: every attempt), in insertion order.
  Result<std::vector<JobInstanceRecord>> job_instances(const std::string& run_id, int attempt = 0);
  Result<std::vector<StageRecord>> stages(std::int64_t job_instance_id);  // in insertion order
  Result<std::vector<LogChunk>> logs(std::int64_t stage_id);
  // Chunks of one run attempt written after `after_seq`, in order (for `wf logs -f`).
  Result<std::vector<LogChunk>> run_logs_after(const std::string& run_id, int attempt, std::int64_t after_seq);              // in insertion order

 private:
  RunStore();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wf
