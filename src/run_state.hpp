// Private to the scheduler: the state of one run while it executes. The Run class is split
// over two files: scheduler.cpp (jobs: readiness, trigger rules, matrix legs, the loop) and
// stage_runner.cpp (the stages of one job instance, their processes and timers).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "wf/dag.hpp"
#include "wf/process.hpp"
#include "wf/reporter.hpp"
#include "wf/run_store.hpp"
#include "wf/scheduler.hpp"
#include "wf/slurm.hpp"
#include "wf/workflow.hpp"

namespace wf {

using Clock = std::chrono::steady_clock;

TimeMs now_ms();
double seconds_since(Clock::time_point t);
inline bool has_template(const std::string& s) { return s.find("${{") != std::string::npos; }
// Seconds from a rendered value ("600", 600, 1.5); error for anything else.
// At most kMaxSeconds (about 31 years); NaN and infinities are errors.
inline constexpr double kMaxSeconds = 1e9;
Result<double> to_seconds(const Json& v, const std::string& what);

// `retry: N` or `{count, delay, backoff: fixed|exponential, max-delay}` (FORMAT §5.5).
struct RetryPolicy {
  int count = 0;
  std::optional<double> delay;  // absent: ddeutil's 1.2^n seconds
  bool exponential = false;
  std::optional<double> max_delay;
  double delay_before(int retry_number) const;  // retry_number from 1
};
Result<RetryPolicy> parse_retry(const Json& value);

struct Instance;
struct Nest;

// One stage list while it runs: the job's own stages (the instance's root frame), or one
// branch, item, loop or case of a nested stage. Holds the stage in flight.
struct Frame {
  Instance* in = nullptr;
  Frame* parent = nullptr;                 // null for the root frame
  const std::vector<Stage>* list = nullptr;
  std::string label;                       // nested frames: "branch a", "item 0", "loop 2", "case x"
  std::int64_t parent_stage_id = 0;        // nested frames: the nested stage's row
  Json scope = Json::object();             // item, loop, branch, case for this list
  std::size_t next_stage = 0;
  bool failed = false;  // a stage failed (not continue-on-error)
  bool cancelled = false;
  bool done = false;    // nested frames: every stage ran
  Error error;
  Json stages = Json::object();  // the stages namespace of this list
  // The stage in flight.
  bool in_stage = false;
  StageRecord stage;
  std::string stage_name;
  Clock::time_point stage_started;
  std::optional<Clock::time_point> stage_deadline;  // the stage's own timeout or an outer one
  std::optional<ProcessId> pid;
  std::optional<Clock::time_point> timer;  // sleep end, retry delay end, job retry delay end
  bool timer_is_retry = false;
  bool timer_is_deadline = false;  // a sleep cut short by a timeout
  bool timer_is_job_retry = false;
  bool stage_timed_by_job = false;
  std::string output_file;
  bool own_script = false;  // the script file is this stage's alone (see Run::script_file)
  std::string trigger_run;  // trigger stages: the child run id
  std::string trigger_params;  // trigger stages: the child's --params-file
  bool failed_inside = false;  // a nested stage failed because a stage inside it failed
  bool collected = false;      // nested frames: the nested stage has taken its result
  std::string cancel_reason;   // why this frame was cancelled (a sibling failed, ...)
  int retries_done = 0;
  std::vector<std::string> last_tail;  // output tail of the stage that just failed
  std::string pending_out, pending_err;  // output not yet written to the state file
  std::unique_ptr<Nest> nest;  // a nested stage in flight

  Frame();
  ~Frame();
  const Stage& current() const { return (*list)[next_stage]; }
};

// A nested stage in flight (parallel, foreach, until, case): the frames it runs.
struct Nest {
  StageKind kind = StageKind::Empty;
  std::vector<std::unique_ptr<Frame>> children;  // started, in start order
  std::vector<std::string> labels;   // frames still to start (foreach, parallel, case)
  std::vector<Json> scopes;
  std::vector<const std::vector<Stage>*> lists;
  std::vector<std::string> keys;     // result keys of those frames
  std::size_t next = 0;
  std::size_t first_live = 0;  // children before this one are all collected
  int max_running = 1;
  int running = 0;
  bool stop = false;  // a child failed or the stage is cancelled: start no more
  Error error;        // why the nested stage failed
  Json results = Json::object();
  Json outputs = Json::object();
  // until
  int loop = 0;
  int max_loop = 10;
  Json item;
};

inline Frame::Frame() = default;
inline Frame::~Frame() = default;

// One job instance (a job, or one matrix leg) while it runs.
struct Instance {
  int job = -1;
  int leg = 0;
  Json matrix = Json::object();
  JobInstanceRecord rec;
  Clock::time_point started;
  std::optional<Clock::time_point> deadline;  // job timeout
  Json merged = Json::object();  // merged stage outputs
  // Over the run's base_env_ (base + workflow env), which is shared, not copied:
  std::map<std::string, std::string> env;  // job env + WF_MATRIX_*
  Json env_json = Json::object();          // job env: the `env` namespace is env_json_ + this
  Frame root;
};

// A job that was decided to run: its legs and how many run.
struct JobRun {
  std::vector<Json> legs;
  std::vector<std::string> names;
  std::size_t next_leg = 0;
  int running = 0;
  int max_parallel = 0;  // 0: unlimited
  bool fail_fast = false;
  std::vector<Status> leg_status;
  std::vector<Json> leg_outputs;
  std::size_t legs_done = 0;
  Clock::time_point started;
  Error first_error;

  // A job of several legs reports each leg and then itself; a job of one leg is its leg.
  bool several_legs() const { return legs.size() > 1; }
};

enum class JobState { Pending, Running, Done };

class Run {
 public:
  Run(const Workflow& w, const std::string& spec_text, const Json& params, const std::vector<std::string>& secrets,
      const Json& masked_params, const RunOptions& opts, RunStore& store, Reporter& rep)
      : w_(w), spec_text_(spec_text), params_(params), secrets_(secrets), masked_params_(masked_params),
        opts_(opts), store_(store), rep_(rep), procs_(opts.kill_grace) {}

  Result<RunOutcome> execute();

 private:
  // --- recording (all masked) ---
  std::string mask(const std::string& s) const;
  Json mask(Json j) const;
  void check(const Result<void>& r);
  // Acts on what asks the run to stop: 'wf cancel', SIGINT/SIGTERM, a failed state write,
  // the workflow timeout. Called by the loop, and by in-process stage loops (foreach, until)
  // that could otherwise run on for long without returning to it (stop_pending says when).
  void check_stops(Clock::time_point now);
  bool stop_pending();
  void check_id(const Result<std::int64_t>& r, std::int64_t& id);
  void write_behind();  // ended_stages_ and ended_instances_ into the open transaction
  void remove_spent_files();
  JobInstanceRecord new_instance_record(int job, const std::string& display) const;

  // --- expression scope ---
  Json base_vars() const;
  Json job_vars(int job) const;
  Json stage_vars(const Frame& f) const;
  Result<Json> render(const Text& t, const Json& vars, bool any_failed = false) const;
  Result<std::string> render_string(const Text& t, const Json& vars) const;
  Result<Json> render_json(const Json& value, const Json& vars) const;

  // --- jobs (scheduler.cpp) ---
  void start_ready_jobs();
  void decide(int job);
  Result<void> expand_legs(int job, JobRun& jr);
  void finish_job(int job, Status st, const std::string& reason, Json outputs, const Error& err);
  void fail_job_early(int job, const Error& err, const std::string& where);
  void skip_job(int job, const std::string& reason);
  void start_instance(int job);
  void leg_finished(int job, int leg, const std::string& display, Status st, Json outputs, const Error& err,
                    bool was_running);
  bool keep_leg(int job, std::size_t leg);
  void cancel_job_legs(int job, const std::string& reason);
  void cancel_everything(const std::string& reason, bool immediate);

  // --- stages (stage_runner.cpp) ---
  void advance(Instance& in);
  bool advance_frame(Frame& f);  // true: the instance finished (and is gone)
  void begin_stage(Frame& f, const Stage& s);
  bool start_process(Frame& f, const Stage& s, const std::function<const Json&()>& vars,
                     const std::string& key, std::optional<Clock::time_point> deadline);
  Result<Json> render_lazy(const Text& t, const std::function<const Json&()>& vars) const;
  Result<std::string> render_string_lazy(const Text& t, const std::function<const Json&()>& vars) const;
  std::string stage_files_base();
  void record_stage_start(Frame& f);
  void record_instance_start(Instance& in);
  void end_stage(Frame& f, Status st, const Error& err, Json outputs, int exit_code);
  void finish_instance(Instance& in);
  void cancel_instance(Instance& in, const std::string& reason, bool immediate);
  void cancel_frame(Frame& f, const std::string& reason, bool immediate);
  Error cancel_error(const Frame& f) const;
  void on_exit(const ProcessExit& e);
  void on_timer(Frame& f);
  void flush_logs(Frame& f);
  void for_each_frame(Frame& f, const std::function<void(Frame&)>& fn);

  // --- nested stages (nested_stage.cpp) ---
  bool begin_nested(Frame& f, const Stage& s, const std::function<const Json&()>& vars);  // false: ended at once
  bool progress_nest(Frame& f);  // true: the nested stage ended
  void start_child(Frame& f);
  void child_done(Frame& f, Frame& child);
  bool start_trigger(Frame& f, const Stage& s, const std::function<const Json&()>& vars,
                     std::optional<Clock::time_point> deadline);
  void trigger_exit(Frame& f, const ProcessExit& e);
  Result<RetryPolicy> retry_policy(const Text& t, const Json& vars) const;
  Result<std::string> script_file(Frame& f, const std::string& script, const std::string& own_path);
  // base_env_ with `overlay` on top.
  std::map<std::string, std::string> merged_env(const std::map<std::string, std::string>& overlay) const;
  Result<std::pair<std::string, std::string>> resolve_call(const std::string& uses,
                                                           const std::map<std::string, std::string>& env) const;

  // --- stages on Slurm (slurm_stage.cpp) ---
  void prepare_slurm();
  Result<std::string> slurm_stage_base(const Frame& f);
  bool reattach_slurm(Frame& f, std::optional<Clock::time_point> deadline);
  bool submit_slurm(Frame& f, const SpawnSpec& spec, const std::string& base);
  void remove_slurm_files();

  const Workflow& w_;
  const std::string& spec_text_;
  const Json& params_;
  const std::vector<std::string>& secrets_;
  const Json& masked_params_;
  const RunOptions& opts_;
  RunStore& store_;
  Reporter& rep_;
  ProcessSet procs_;
  SlurmSet slurm_;
  std::map<std::string, std::string> slurm_reattach_;  // slurm_stage_key -> external id (rerun)

  RunRecord run_;
  JobGraph graph_;
  std::vector<JobState> state_;
  std::vector<Status> status_;
  std::vector<Json> legs_json_;
  std::vector<std::string> reasons_;
  std::vector<Error> errors_;
  std::vector<int> remaining_needs_;
  std::vector<bool> selected_;
  std::vector<bool> excluded_;
  std::set<int> ready_;
  std::set<int> active_;  // jobs with legs not started yet, in file order
  std::vector<std::unique_ptr<JobRun>> jobruns_;
  std::vector<std::unique_ptr<Instance>> running_;
  std::unordered_map<ProcessId, Frame*> by_pid_;
  int max_parallel_ = 1;
  int jobs_done_ = 0;
  int jobs_total_ = 0;
  Clock::time_point started_;
  std::optional<Clock::time_point> deadline_;
  int timeout_seconds_ = 0;
  int seen_interrupts_ = 0;  // signals and 'wf cancel' requests acted on so far
  int seen_cancels_ = 0;
  unsigned spins_ = 0;  // stages begun in-process (advance_frame), to poll stop_pending
  bool cancelling_ = false;
  bool timed_out_ = false;
  bool cancel_requested_ = false;  // wf cancel (SIGUSR1)
  bool fail_fast_hit_ = false;
  std::string cancel_reason_;
  Error store_error_;
  Json env_json_ = Json::object();
  std::map<std::string, std::string> base_env_;  // base + workflow env, under every instance's env
  std::vector<std::string> base_env_kv_;         // env_list(base_env_), built once
  Json jobs_ns_ = Json::object();
  std::string tmp_dir_;
  std::uint64_t stage_files_ = 0;  // names the stage files in tmp_dir_
  // Written after the loop pass's spawns (write_behind), so that recording what ended does not
  // delay starting what comes next: the ends of stages and job instances, and the files of
  // finished stages.
  std::vector<StageRecord> ended_stages_;
  std::vector<JobInstanceRecord> ended_instances_;
  std::vector<std::string> spent_files_;
  std::unordered_map<std::string, std::string> script_files_;  // script text -> its file
  std::optional<std::set<std::string>> file_workflows_;  // workflow names of this run's file (triggers)
  std::string logical_date_;
  std::vector<FailedStage> failed_stages_;
  std::vector<JobEvent> job_events_;
  Json result_jobs_ = Json::object();
};

}  // namespace wf
