#include "wf/scheduler.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "stage_exec.hpp"
#include "wf/dag.hpp"
#include "wf/datetime.hpp"
#include "wf/expr.hpp"
#include "wf/params.hpp"
#include "wf/process.hpp"
#include "wf/signals.hpp"

namespace wf {

namespace {

using Clock = std::chrono::steady_clock;

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool has_template(const std::string& s) { return s.find("${{") != std::string::npos; }

// Seconds from a rendered value ("600", 600, 1.5); error for anything else.
Result<double> to_seconds(const Json& v, const std::string& what) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      double d = std::stod(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return d;
    } catch (...) {
    }
  }
  return Error(what + " must be a number of seconds, got " + v.dump(), "StageError");
}

enum class JobState { Pending, Running, Done };

// One job instance (a job, or later one matrix leg) while it runs.
struct Instance {
  int job = -1;
  JobInstanceRecord rec;
  Clock::time_point started;
  std::optional<Clock::time_point> deadline;  // job timeout
  std::size_t next_stage = 0;
  bool failed = false;     // a stage failed (not continue-on-error)
  bool cancelled = false;
  Error error;
  Json stages = Json::object();  // the stages namespace
  Json merged = Json::object();  // merged stage outputs
  std::map<std::string, std::string> env;  // base + workflow + job env
  Json env_json = Json::object();          // the `env` namespace
  // The stage in flight.
  bool in_stage = false;
  StageRecord stage;
  std::string stage_name;
  Clock::time_point stage_started;
  std::optional<ProcessId> pid;
  std::optional<Clock::time_point> timer;   // sleep end or retry delay end
  bool timer_is_retry = false;
  bool timer_is_deadline = false;  // a sleep cut short by a timeout
  bool stage_timed_by_job = false;
  std::string output_file;
  int retries_done = 0;
};

class Run {
 public:
  Run(const Workflow& w, const std::string& spec_text, const Json& params, const std::vector<std::string>& secrets,
      const Json& masked_params, const RunOptions& opts, RunStore& store, Reporter& rep)
      : w_(w), spec_text_(spec_text), params_(params), secrets_(secrets), masked_params_(masked_params),
        opts_(opts), store_(store), rep_(rep), procs_(opts.kill_grace) {}

  Result<RunOutcome> execute();

 private:
  // --- recording (all masked) ---
  std::string mask(const std::string& s) const { return secrets_.empty() ? s : mask_text(s, secrets_); }
  Json mask(const Json& j) const { return secrets_.empty() ? j : mask_json(j, secrets_); }
  void check(const Result<void>& r) {
    if (!r.ok() && store_error_.message.empty()) store_error_ = r.error();
  }
  void check_id(const Result<std::int64_t>& r, std::int64_t& id) {
    if (r.ok()) id = *r;
    else if (store_error_.message.empty()) store_error_ = r.error();
  }

  // --- expression scope ---
  Json base_vars() const;
  Json job_vars(int job) const;
  Json stage_vars(const Instance& in) const;
  Result<Json> render(const Text& t, const Json& vars, bool any_failed = false) const;
  Result<std::string> render_string(const Text& t, const Json& vars) const;

  // --- jobs ---
  void start_ready_jobs();
  void decide_and_start(int job);
  void finish_job(int job, Status st, const std::string& reason, const Json& outputs, const Error& err);
  void skip_job(int job, const std::string& reason);
  void start_instance(int job);
  void advance(Instance& in);
  void finish_instance(Instance& in);

  // --- stages ---
  bool begin_stage(Instance& in, const Stage& s);  // false: the stage finished at once
  void end_stage(Instance& in, Status st, const Error& err, const Json& outputs, int exit_code);
  void on_exit(const ProcessExit& e);
  void on_timer(Instance& in);
  void cancel_everything(const std::string& reason, bool immediate);

  const Workflow& w_;
  const std::string& spec_text_;
  const Json& params_;
  const std::vector<std::string>& secrets_;
  const Json& masked_params_;
  const RunOptions& opts_;
  RunStore& store_;
  Reporter& rep_;
  ProcessSet procs_;

  RunRecord run_;
  JobGraph graph_;
  std::vector<JobState> state_;
  std::vector<Status> status_;
  std::vector<Json> outputs_;
  std::vector<std::string> reasons_;
  std::vector<Error> errors_;
  std::vector<int> remaining_needs_;
  std::vector<bool> selected_;
  std::vector<bool> excluded_;
  std::set<int> ready_;
  std::vector<std::unique_ptr<Instance>> running_;
  std::unordered_map<ProcessId, Instance*> by_pid_;
  int max_parallel_ = 1;
  int jobs_done_ = 0;
  int jobs_total_ = 0;
  Clock::time_point started_;
  std::optional<Clock::time_point> deadline_;
  bool cancelling_ = false;
  bool timed_out_ = false;
  bool fail_fast_hit_ = false;
  std::string cancel_reason_;
  Error store_error_;
  Json env_json_ = Json::object();
  std::map<std::string, std::string> base_env_;
  Json jobs_ns_ = Json::object();
  std::string tmp_dir_;
  std::string logical_date_;
  std::vector<FailedStage> failed_stages_;
  std::vector<JobEvent> job_events_;
  Json result_jobs_ = Json::object();
};

Json Run::base_vars() const {
  Json v = Json::object();
  v["params"] = params_;
  v["env"] = env_json_;
  v["matrix"] = Json::object();
  v["run"] = {{"id", run_.id}, {"attempt", run_.attempt}, {"workflow", w_.name}};
  v["release"] = {{"logical_date", logical_date_}, {"execute_date", logical_date_}, {"type", "manual"}, {"run_id", run_.id}};
  v["jobs"] = jobs_ns_;
  v["retry"] = 0;
  return v;
}

Json Run::job_vars(int job) const {
  Json v = base_vars();
  Json needs = Json::object();
  for (int n : graph_.needs[job])
    needs[w_.jobs[n].name] = {{"result", result_word(status_[n])}, {"outputs", outputs_[n]}};
  v["needs"] = std::move(needs);
  return v;
}

Json Run::stage_vars(const Instance& in) const {
  Json v = job_vars(in.job);
  v["env"] = in.env_json;
  v["stages"] = in.stages;
  v["retry"] = in.retries_done;
  return v;
}

Result<Json> Run::render(const Text& t, const Json& vars, bool any_failed) const {
  if (!has_template(t.value)) return Json(t.value);
  auto tpl = Template::parse(t.value);
  if (!tpl.ok()) return Error(tpl.error().message, "TemplateError");
  EvalContext ctx{&vars, any_failed, cancelling_};
  auto r = tpl->render(ctx);
  if (!r.ok()) return Error(r.error().message, "TemplateError");
  return r;
}

Result<std::string> Run::render_string(const Text& t, const Json& vars) const {
  if (!has_template(t.value)) return t.value;
  auto r = render(t, vars);
  if (!r.ok()) return r.error();
  return to_text(*r);
}

void Run::skip_job(int job, const std::string& reason) {
  JobInstanceRecord rec;
  rec.run_id = run_.id;
  rec.run_attempt = run_.attempt;
  rec.job = w_.jobs[job].name;
  rec.display_name = rec.job;
  rec.status = reason == "cancelled" ? Status::Cancel : Status::Skip;
  rec.skip_reason = reason;
  rec.started_at = rec.finished_at = now_ms();
  check_id(store_.insert_job_instance(rec), rec.id);
  finish_job(job, rec.status, reason, Json::object(), Error());
}

void Run::finish_job(int job, Status st, const std::string& reason, const Json& outputs, const Error& err) {
  state_[job] = JobState::Done;
  status_[job] = st;
  outputs_[job] = outputs;
  reasons_[job] = reason;
  errors_[job] = err;
  ++jobs_done_;
  jobs_ns_[w_.jobs[job].name] = {{"status", to_string(st)}, {"outputs", outputs}};
  for (int d : graph_.dependents[job])
    if (--remaining_needs_[d] == 0 && state_[d] == JobState::Pending) ready_.insert(d);
  if (st == Status::Skip || st == Status::Cancel) {
    JobEvent e{w_.jobs[job].name, st, 0, reason};
    job_events_.push_back(e);
    rep_.job_finished(e);
    Json jr = {{"status", to_string(st)}, {"reason", reason}, {"outputs", Json::object()}, {"stages", Json::object()}};
    result_jobs_[w_.jobs[job].name] = jr;
  }
  if (st == Status::Failed && !w_.jobs[job].continue_on_error && opts_.fail_fast && !cancelling_) {
    fail_fast_hit_ = true;
    cancel_everything("fail-fast: job '" + w_.jobs[job].name + "' failed", false);
  }
}

void Run::start_ready_jobs() {
  while (!ready_.empty()) {
    int job = *ready_.begin();
    if (cancelling_) {
      ready_.erase(ready_.begin());
      skip_job(job, "cancelled");
      continue;
    }
    // Skips and instant decisions do not need a slot; starting an instance does.
    if (static_cast<int>(running_.size()) >= max_parallel_) {
      // Look for a job that will be skipped anyway, so it does not wait for a slot.
      bool progressed = false;
      for (auto it = ready_.begin(); it != ready_.end(); ++it) {
        int j = *it;
        if (!selected_[j] || excluded_[j]) {
          ready_.erase(it);
          decide_and_start(j);
          progressed = true;
          break;
        }
      }
      if (!progressed) return;
      continue;
    }
    ready_.erase(ready_.begin());
    decide_and_start(job);
  }
}

// Trigger rule and `if` (FORMAT §5.2), then start or skip.
void Run::decide_and_start(int job) {
  const Job& j = w_.jobs[job];
  if (excluded_[job]) return skip_job(job, "excluded");
  if (!selected_[job]) return skip_job(job, "not selected");
  std::vector<Status> needs;
  for (int n : graph_.needs[job]) needs.push_back(status_[n]);
  auto failed = [](Status s) { return s == Status::Failed || s == Status::Cancel; };
  bool any_failed = std::any_of(needs.begin(), needs.end(), failed);

  // An `if` that calls a status function or reads needs.<job>.result decides on its own.
  bool if_decides = false;
  if (j.if_cond) {
    const std::string& c = j.if_cond->value;
    if (has_template(c)) {
      auto tpl = Template::parse(c);
      if_decides = tpl.ok() && tpl->calls_status_function();
      if (tpl.ok())
        for (const auto& r : tpl->references())
          if (r.path.size() >= 3 && r.path[0] == "needs" && r.path[2] == "result") if_decides = true;
    } else {
      auto e = Expression::parse(c, true);
      if_decides = e.ok() && e->calls_status_function();
      if (e.ok())
        for (const auto& r : e->references())
          if (r.path.size() >= 3 && r.path[0] == "needs" && r.path[2] == "result") if_decides = true;
    }
  }
  if (!if_decides && !needs.empty()) {
    bool all_skipped = std::all_of(needs.begin(), needs.end(), [](Status s) { return s == Status::Skip; });
    if (all_skipped && j.trigger_rule != TriggerRule::AllDone) return skip_job(job, "trigger-rule");
    auto count = [&](auto pred) { return std::count_if(needs.begin(), needs.end(), pred); };
    long n = static_cast<long>(needs.size());
    long ok = count([](Status s) { return s == Status::Success; });
    long bad = count(failed);
    long skipped = count([](Status s) { return s == Status::Skip; });
    bool met = true;
    switch (j.trigger_rule) {
      case TriggerRule::AllSuccess: met = ok == n; break;
      case TriggerRule::AllFailed: met = bad == n; break;
      case TriggerRule::AllDone: met = true; break;
      case TriggerRule::OneSuccess: met = ok >= 1; break;
      case TriggerRule::OneFailed: met = bad >= 1; break;
      case TriggerRule::NoneFailed: met = bad == 0; break;
      case TriggerRule::NoneSkipped: met = skipped == 0; break;
    }
    if (!met) return skip_job(job, "trigger-rule");
  }
  if (j.if_cond) {
    Json vars = job_vars(job);
    EvalContext ctx{&vars, any_failed, cancelling_};
    auto r = evaluate_condition(j.if_cond->value, ctx);
    if (!r.ok()) {
      JobInstanceRecord rec;
      rec.run_id = run_.id;
      rec.run_attempt = run_.attempt;
      rec.job = j.name;
      rec.display_name = j.name;
      rec.status = Status::Failed;
      rec.error_name = "TemplateError";
      rec.error_message = mask(r.error().message);
      rec.started_at = rec.finished_at = now_ms();
      check_id(store_.insert_job_instance(rec), rec.id);
      Error err(rec.error_message, "TemplateError");
      JobEvent e{j.name, Status::Failed, 0, "TemplateError: " + rec.error_message};
      job_events_.push_back(e);
      rep_.job_finished(e);
      result_jobs_[j.name] = {{"status", "FAILED"}, {"errors", {{"name", err.name}, {"message", err.message}}},
                              {"outputs", Json::object()}, {"stages", Json::object()}};
      failed_stages_.push_back({j.name, "if", "TemplateError: " + rec.error_message, {}});
      return finish_job(job, Status::Failed, "if", Json::object(), err);
    }
    if (!*r) return skip_job(job, "if");
  }
  start_instance(job);
}

void Run::start_instance(int job) {
  const Job& j = w_.jobs[job];
  auto in = std::make_unique<Instance>();
  in->job = job;
  in->started = Clock::now();
  in->rec.run_id = run_.id;
  in->rec.run_attempt = run_.attempt;
  in->rec.job = j.name;
  in->rec.display_name = j.name;
  in->rec.started_at = now_ms();
  in->env = base_env_;
  in->env_json = env_json_;
  state_[job] = JobState::Running;
  Error setup_error;
  if (!j.env.empty()) {
    Json vars = job_vars(job);
    for (const auto& [k, v] : j.env) {
      vars["env"] = in->env_json;
      auto r = render_string(v, vars);
      if (!r.ok()) {
        setup_error = r.error();
        break;
      }
      in->env[k] = *r;
      in->env_json[k] = *r;
    }
  }
  if (j.timeout && setup_error.message.empty()) {
    auto r = render(*j.timeout, job_vars(job));
    Result<double> secs = r.ok() ? to_seconds(*r, "job timeout") : Result<double>(r.error());
    if (!secs.ok()) setup_error = secs.error();
    else if (*secs > 0)
      in->deadline = in->started + std::chrono::milliseconds(static_cast<long long>(*secs * 1000));
  }
  check_id(store_.insert_job_instance(in->rec), in->rec.id);
  Instance* raw = in.get();
  running_.push_back(std::move(in));
  if (!setup_error.message.empty()) {
    raw->failed = true;
    raw->error = Error(mask(setup_error.message), setup_error.name.empty() ? "TemplateError" : setup_error.name);
    raw->next_stage = j.stages.size();
    failed_stages_.push_back({j.name, "(job)", raw->error.name + ": " + raw->error.message, {}});
  }
}

// Runs stages that finish at once until one needs a process or a timer, or the job ends.
void Run::advance(Instance& in) {
  const Job& j = w_.jobs[in.job];
  while (!in.in_stage) {
    if (in.next_stage >= j.stages.size()) {
      finish_instance(in);
      return;
    }
    if (cancelling_) {
      in.cancelled = true;
      finish_instance(in);
      return;
    }
    const Stage& s = j.stages[in.next_stage];
    if (begin_stage(in, s)) return;  // a process or timer is in flight
  }
}

bool Run::begin_stage(Instance& in, const Stage& s) {
  const Job& j = w_.jobs[in.job];
  in.in_stage = true;
  in.stage = StageRecord();
  in.stage.job_instance_id = in.rec.id;
  in.stage.index = static_cast<int>(in.next_stage);
  in.stage.attempt = in.retries_done + 1;
  in.stage_started = Clock::now();
  in.stage.started_at = now_ms();
  in.pid.reset();
  in.timer.reset();
  in.timer_is_retry = false;
  in.timer_is_deadline = false;
  in.output_file.clear();
  in.stage_timed_by_job = false;

  // Name and key: `name`/`id` may use matrix expressions only.
  Json vars;
  bool have_vars = false;
  auto vars_ref = [&]() -> const Json& {
    if (!have_vars) {
      vars = stage_vars(in);
      have_vars = true;
    }
    return vars;
  };
  std::string name = s.name ? s.name->value : (s.id ? s.id->value : "stage");
  if (s.name && has_template(name)) {
    auto r = render_string(*s.name, vars_ref());
    if (r.ok()) name = *r;
  }
  std::string key = s.id ? s.id->value : name;
  if (s.id && has_template(key)) {
    auto r = render_string(*s.id, vars_ref());
    if (r.ok()) key = *r;
  }
  in.stage.name = name;
  in.stage.stage_key = key;
  in.stage_name = name;

  // `if`: a failed job runs only stages whose `if` asks for failure()/always().
  bool run_it = !in.failed;
  Error err;
  if (s.if_cond) {
    bool status_fn = false;
    if (has_template(s.if_cond->value)) {
      auto tpl = Template::parse(s.if_cond->value);
      status_fn = tpl.ok() && tpl->calls_status_function();
    } else {
      auto e = Expression::parse(s.if_cond->value, true);
      status_fn = e.ok() && e->calls_status_function();
    }
    if (!in.failed || status_fn) {
      EvalContext ctx{&vars_ref(), in.failed, cancelling_};
      auto r = evaluate_condition(s.if_cond->value, ctx);
      if (!r.ok()) err = Error(r.error().message, "TemplateError");
      else run_it = *r;
    }
  }
  check_id(store_.insert_stage(in.stage), in.stage.id);
  if (!err.message.empty()) {
    end_stage(in, Status::Failed, err, Json::object(), -1);
    return false;
  }
  if (!run_it) {
    end_stage(in, Status::Skip, Error(), Json::object(), -1);
    return false;
  }
  rep_.stage_started(in.rec.display_name, name);

  // Stage timeout and the job's deadline.
  std::optional<Clock::time_point> deadline = in.deadline;
  if (s.timeout) {
    auto r = render(*s.timeout, vars_ref());
    Result<double> secs = r.ok() ? to_seconds(*r, "stage timeout") : Result<double>(r.error());
    if (!secs.ok()) {
      end_stage(in, Status::Failed, secs.error(), Json::object(), -1);
      return false;
    }
    if (*secs > 0) {
      auto d = in.stage_started + std::chrono::milliseconds(static_cast<long long>(*secs * 1000));
      if (!deadline || d < *deadline) deadline = d;
    }
  }
  in.stage_timed_by_job = deadline && in.deadline && *deadline == *in.deadline;

  switch (s.kind) {
    case StageKind::Empty: {
      if (s.echo) {
        auto r = render_string(*s.echo, vars_ref());
        if (!r.ok()) {
          end_stage(in, Status::Failed, r.error(), Json::object(), -1);
          return false;
        }
        std::string msg = mask(*r);
        LogChunk c{in.stage.id, LogStream::Stdout, now_ms(), msg + "\n"};
        check(store_.append_log(c));
        std::istringstream lines(msg);
        std::string line;
        while (std::getline(lines, line)) rep_.stage_output(in.rec.display_name, name, false, line);
      }
      double secs = 0;
      if (s.sleep) {
        auto r = render(*s.sleep, vars_ref());
        Result<double> sr = r.ok() ? to_seconds(*r, "sleep") : Result<double>(r.error());
        if (!sr.ok()) {
          end_stage(in, Status::Failed, sr.error(), Json::object(), -1);
          return false;
        }
        secs = *sr;
      }
      if (secs > 0) {
        in.timer = Clock::now() + std::chrono::microseconds(static_cast<long long>(secs * 1e6));
        in.timer_is_deadline = deadline && *deadline < *in.timer;
        if (in.timer_is_deadline) in.timer = *deadline;
        return true;
      }
      end_stage(in, Status::Success, Error(), Json::object(), -1);
      return false;
    }
    case StageKind::Raise: {
      auto r = render_string(s.raise, vars_ref());
      Error e = r.ok() ? Error(*r, "StageError") : r.error();
      end_stage(in, Status::Failed, e, Json::object(), -1);
      return false;
    }
    case StageKind::Bash: {
      auto script = render_string(s.bash, vars_ref());
      if (!script.ok()) {
        end_stage(in, Status::Failed, script.error(), Json::object(), -1);
        return false;
      }
      std::string shell;
      const std::optional<Text>& sh = s.shell ? s.shell : (j.shell ? j.shell : w_.shell);
      if (sh) {
        auto r = render_string(*sh, vars_ref());
        if (!r.ok()) {
          end_stage(in, Status::Failed, r.error(), Json::object(), -1);
          return false;
        }
        shell = *r;
      }
      std::string cwd = opts_.cwd;
      const std::optional<Text>& wd =
          s.working_directory ? s.working_directory : (j.working_directory ? j.working_directory : w_.working_directory);
      if (wd) {
        auto r = render_string(*wd, vars_ref());
        if (!r.ok()) {
          end_stage(in, Status::Failed, r.error(), Json::object(), -1);
          return false;
        }
        cwd = *r;
      }
      std::map<std::string, std::string> env = in.env;
      if (!s.env.empty()) {
        Json v = vars_ref();
        for (const auto& [k, t] : s.env) {
          auto r = render_string(t, v);
          if (!r.ok()) {
            end_stage(in, Status::Failed, r.error(), Json::object(), -1);
            return false;
          }
          env[k] = *r;
          v["env"][k] = *r;
        }
      }
      std::string base = tmp_dir_ + "/" + std::to_string(in.stage.id);
      in.output_file = base + ".out";
      env["WF_RUN_ID"] = run_.id;
      env["WF_WORKFLOW"] = w_.name;
      env["WF_JOB"] = j.name;
      env["WF_STAGE"] = key;
      env["WF_ATTEMPT"] = std::to_string(in.stage.attempt);
      env["WF_JOB_ATTEMPT"] = std::to_string(in.rec.job_attempt);
      env["WF_RUN_ATTEMPT"] = std::to_string(run_.attempt);
      env["WF_OUTPUT"] = in.output_file;
      env["WF_LOGICAL_DATE"] = logical_date_;
      ShellCommand cmd = shell_command(shell, *script, base + ".script");
      if (cmd.needs_file) {
        std::ofstream f(base + ".script", std::ios::binary);
        f << *script;
        if (!f) {
          end_stage(in, Status::Failed, Error("cannot write the script file " + base + ".script", "StageError"),
                    Json::object(), -1);
          return false;
        }
      }
      SpawnSpec spec{std::move(cmd.argv), env_list(env), cwd, deadline};
      ProcessId pid = procs_.spawn(spec);
      in.pid = pid;
      by_pid_[pid] = &in;
      return true;
    }
    default: {
      end_stage(in, Status::Failed,
                Error(to_string(s.kind) + " stages are not supported by this version of wf", "StageError"),
                Json::object(), -1);
      return false;
    }
  }
}

// Records the end of the stage in flight and decides what the job does next.
void Run::end_stage(Instance& in, Status st, const Error& err_in, const Json& outputs_in, int exit_code) {
  const Job& j = w_.jobs[in.job];
  const Stage& s = j.stages[in.next_stage];
  Error err = err_in;
  err.message = mask(err.message);
  Json outputs = mask(outputs_in);
  in.stage.status = st;
  in.stage.exit_code = exit_code;
  in.stage.error_name = st == Status::Failed || st == Status::Cancel ? err.name : "";
  in.stage.error_message = st == Status::Failed || st == Status::Cancel ? err.message : "";
  in.stage.outputs = outputs;
  in.stage.finished_at = now_ms();
  check(store_.update_stage(in.stage));
  in.in_stage = false;
  in.pid.reset();
  in.timer.reset();

  // Retry the stage after a failure, 1.2^n seconds apart (ddeutil).
  if (st == Status::Failed && s.retry && !cancelling_) {
    int allowed = 0;
    auto r = render(*s.retry, stage_vars(in));
    if (r.ok() && r->is_number()) allowed = r->get<int>();
    else if (r.ok() && r->is_string()) {
      try {
        allowed = std::stoi(r->get<std::string>());
      } catch (...) {
      }
    }
    if (in.retries_done < allowed) {
      ++in.retries_done;
      rep_.stage_finished({in.rec.display_name, in.stage_name, st, seconds_since(in.stage_started),
                           err.name + ": " + err.message + " (retrying)"});
      in.in_stage = true;
      in.timer_is_retry = true;
      in.timer = Clock::now() + std::chrono::milliseconds(static_cast<long long>(std::pow(1.2, in.retries_done) * 1000));
      return;
    }
  }

  std::string key = in.stage.stage_key;
  Json errors = Json::object();
  if (!in.stage.error_name.empty()) errors = {{"name", err.name}, {"message", err.message}};
  in.stages[key] = {{"status", to_string(st)}, {"outputs", outputs}, {"errors", errors}};
  if (st == Status::Success)
    for (auto it = outputs.begin(); it != outputs.end(); ++it) in.merged[it.key()] = it.value();
  if (st != Status::Skip || s.if_cond)
    rep_.stage_finished({in.rec.display_name, in.stage_name, st, st == Status::Skip ? 0 : seconds_since(in.stage_started),
                         in.stage.error_name.empty() ? "" : err.name + ": " + err.message});
  if (st == Status::Failed && !s.continue_on_error) {
    if (!in.failed) in.error = err;
    in.failed = true;
  }
  if (st == Status::Cancel) in.cancelled = true;
  in.retries_done = 0;
  ++in.next_stage;
}

void Run::finish_instance(Instance& in) {
  const Job& j = w_.jobs[in.job];
  Json outputs = in.merged;
  if (j.outputs && !in.failed && !in.cancelled) {
    outputs = Json::object();
    Json vars = stage_vars(in);
    for (const auto& [k, t] : *j.outputs) {
      auto r = render(t, vars);
      if (!r.ok()) {
        in.failed = true;
        in.error = Error(mask(r.error().message), "TemplateError");
        failed_stages_.push_back({j.name, "outputs." + k, "TemplateError: " + in.error.message, {}});
        break;
      }
      outputs[k] = *r;
    }
    outputs = mask(outputs);
  }
  Status st = in.failed ? Status::Failed : in.cancelled ? Status::Cancel : Status::Success;
  in.rec.status = st;
  in.rec.outputs = outputs;
  in.rec.error_name = in.failed || in.cancelled ? (in.error.name.empty() && in.cancelled ? "CancelError" : in.error.name) : "";
  in.rec.error_message = in.failed || in.cancelled ? (in.error.message.empty() && in.cancelled ? cancel_reason_ : in.error.message) : "";
  in.rec.finished_at = now_ms();
  check(store_.update_job_instance(in.rec));
  JobEvent e{in.rec.display_name, st, seconds_since(in.started),
             in.rec.error_name.empty() ? "" : in.rec.error_name + ": " + in.rec.error_message};
  job_events_.push_back(e);
  rep_.job_finished(e);
  Json jr = {{"status", to_string(st)}, {"outputs", outputs}, {"stages", in.stages}};
  if (!in.rec.error_name.empty()) jr["errors"] = {{"name", in.rec.error_name}, {"message", in.rec.error_message}};
  result_jobs_[j.name] = jr;
  Error err(in.rec.error_message, in.rec.error_name);
  int job = in.job;
  // Drop the instance before finish_job may cancel others.
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &in; });
  std::unique_ptr<Instance> keep = std::move(*it);
  running_.erase(it);
  finish_job(job, st, "", outputs, err);
}

void Run::on_exit(const ProcessExit& e) {
  auto it = by_pid_.find(e.id);
  if (it == by_pid_.end()) return;
  Instance& in = *it->second;
  by_pid_.erase(it);
  std::string out = mask(e.out), errtext = mask(e.err);
  if (!out.empty()) check(store_.append_log({in.stage.id, LogStream::Stdout, now_ms(), out}));
  if (!errtext.empty()) check(store_.append_log({in.stage.id, LogStream::Stderr, now_ms(), errtext}));
  Json outputs = Json::object();
  if (!in.output_file.empty()) {
    std::ifstream f(in.output_file, std::ios::binary);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      outputs = parse_output_file(ss.str());
      f.close();
      ::unlink(in.output_file.c_str());
    }
    ::unlink((tmp_dir_ + "/" + std::to_string(in.stage.id) + ".script").c_str());
  }
  outputs["return_code"] = e.exit_code;
  outputs["stdout"] = e.out;
  outputs["stderr"] = e.err;
  Status st = Status::Success;
  Error err;
  if (!e.spawn_error.empty()) {
    st = Status::Failed;
    err = Error(e.spawn_error, "StageError");
  } else if (e.timed_out) {
    st = Status::Failed;
    err = Error(std::string(in.stage_timed_by_job ? "job" : "stage") + " timed out; the process group was killed",
                "TimeoutError");
  } else if (e.cancelled) {
    st = Status::Cancel;
    err = Error(cancel_reason_.empty() ? "cancelled" : cancel_reason_, timed_out_ ? "TimeoutError" : "CancelError");
  } else if (e.term_signal != 0) {
    st = Status::Failed;
    err = Error("killed by signal " + std::to_string(e.term_signal) + " (" + strsignal(e.term_signal) + ")",
                "ShellError");
  } else if (e.exit_code != 0) {
    st = Status::Failed;
    std::string msg = "exit status " + std::to_string(e.exit_code);
    auto tail = last_lines(errtext, 5);
    if (!tail.empty()) {
      msg += ": ";
      for (std::size_t i = 0; i < tail.size(); ++i) msg += (i ? "\n" : "") + tail[i];
    }
    err = Error(msg, "ShellError");
  }
  if (st == Status::Failed) {
    auto tail = last_lines(out + errtext, 20);
    failed_stages_.push_back({in.rec.display_name, in.stage_name, err.name + ": " + err.message, tail});
  }
  end_stage(in, st, err, outputs, e.spawn_error.empty() && e.term_signal == 0 ? e.exit_code : -1);
}

void Run::on_timer(Instance& in) {
  in.timer.reset();
  if (in.timer_is_retry) {
    in.in_stage = false;
    in.timer_is_retry = false;
    return;  // advance() starts the stage again
  }
  if (in.timer_is_deadline) {
    Error e(std::string(in.stage_timed_by_job ? "job" : "stage") + " timed out", "TimeoutError");
    failed_stages_.push_back({in.rec.display_name, in.stage_name, e.name + ": " + e.message, {}});
    end_stage(in, Status::Failed, e, Json::object(), -1);
    return;
  }
  end_stage(in, Status::Success, Error(), Json::object(), -1);
}

void Run::cancel_everything(const std::string& reason, bool immediate) {
  if (!cancelling_) {
    cancelling_ = true;
    cancel_reason_ = reason;
  }
  procs_.cancel_all(immediate);
  // Stages waiting on a timer end now.
  for (auto& p : running_) {
    Instance& in = *p;
    if (in.in_stage && in.timer) {
      in.timer.reset();
      if (in.timer_is_retry) {
        in.in_stage = false;
        in.cancelled = true;
        ++in.next_stage;
      } else {
        end_stage(in, Status::Cancel, Error(reason, timed_out_ ? "TimeoutError" : "CancelError"), Json::object(), -1);
      }
    }
  }
}

Result<RunOutcome> Run::execute() {
  started_ = Clock::now();
  base_env_ = env_map(opts_.base_env);
  graph_ = build_job_graph(w_);
  std::size_t n = w_.jobs.size();
  state_.assign(n, JobState::Pending);
  status_.assign(n, Status::Wait);
  outputs_.assign(n, Json::object());
  reasons_.assign(n, "");
  errors_.assign(n, Error());
  remaining_needs_.assign(n, 0);
  selected_.assign(n, true);
  excluded_.assign(n, false);
  jobs_total_ = static_cast<int>(n);

  if (!opts_.only_jobs.empty()) {
    std::vector<int> roots;
    for (const auto& name : opts_.only_jobs)
      for (std::size_t i = 0; i < n; ++i)
        if (w_.jobs[i].name == name) roots.push_back(static_cast<int>(i));
    auto keep = with_upstream(graph_, roots);
    for (std::size_t i = 0; i < n; ++i) selected_[i] = keep[i];
  }
  for (const auto& name : opts_.exclude_jobs)
    for (std::size_t i = 0; i < n; ++i)
      if (w_.jobs[i].name == name) excluded_[i] = true;

  max_parallel_ = opts_.max_parallel > 0 ? opts_.max_parallel : 1;
  int timeout = opts_.timeout_seconds.value_or(3600);
  if (timeout > 0) deadline_ = started_ + std::chrono::seconds(timeout);

  auto now_sys = std::chrono::floor<std::chrono::minutes>(std::chrono::system_clock::now());
  logical_date_ = format_iso_datetime(std::chrono::time_point_cast<std::chrono::seconds>(now_sys));

  // The run record comes first: nothing runs before it is committed.
  run_.id = new_run_id();
  run_.workflow = w_.name;
  run_.file_path = w_.file;
  run_.spec_text = spec_text_;
  run_.spec_hash = std::to_string(std::hash<std::string>{}(spec_text_));
  run_.params = masked_params_;
  run_.status = Status::Wait;
  run_.attempt = 1;
  run_.created_at = run_.started_at = now_ms();
  run_.pid = static_cast<int>(::getpid());
  {
    std::ifstream stat("/proc/self/stat");
    std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto rp = s.rfind(')');
    if (rp != std::string::npos) {
      std::istringstream rest(s.substr(rp + 2));
      std::string field;
      for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) run_.pid_start = std::stoll(field);
    }
  }
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  run_.host = host;
  if (const char* u = ::getenv("USER")) run_.user = u;
  run_.command_line = opts_.command_line;

  // Workflow env, then run-name, with the params scope.
  env_json_ = Json::object();
  for (const auto& [k, v] : base_env_) env_json_[k] = v;
  {
    Json vars = base_vars();
    for (const auto& [k, t] : w_.env) {
      vars["env"] = env_json_;
      auto r = render_string(t, vars);
      if (!r.ok()) return Error("env." + k + ": " + r.error().message, "TemplateError");
      base_env_[k] = *r;
      env_json_[k] = *r;
    }
    if (w_.run_name) {
      auto r = render_string(*w_.run_name, base_vars());
      if (!r.ok()) return Error("run-name: " + r.error().message, "TemplateError");
      run_.run_name = mask(*r);
    }
  }

  if (auto r = store_.insert_run(run_); !r.ok()) return r.error();

  char tmpl[] = "/tmp/wf-run-XXXXXX";
  const char* tmpdir_env = ::getenv("TMPDIR");
  std::string pattern = std::string(tmpdir_env && *tmpdir_env ? tmpdir_env : "/tmp") + "/wf-run-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data())) tmp_dir_ = buf.data();
  else if (::mkdtemp(tmpl)) tmp_dir_ = tmpl;
  else return Error("cannot create a temporary directory: " + std::string(std::strerror(errno)));

  rep_.run_started(run_.id, w_.name, run_.run_name);
  procs_.set_line_callback([this](ProcessId pid, StreamKind k, std::string_view line) {
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) return;
    if (secrets_.empty()) rep_.stage_output(it->second->rec.display_name, it->second->stage_name, k == StreamKind::Stderr, line);
    else rep_.stage_output(it->second->rec.display_name, it->second->stage_name, k == StreamKind::Stderr,
                           mask(std::string(line)));
  });

  for (std::size_t i = 0; i < n; ++i) {
    remaining_needs_[i] = static_cast<int>(graph_.needs[i].size());
    if (remaining_needs_[i] == 0) ready_.insert(static_cast<int>(i));
  }

  int seen_interrupts = 0;
  while (true) {
    {
      RunStore::Transaction txn(store_);
      start_ready_jobs();
      // Advance every instance that is not waiting on a process or timer.
      for (std::size_t i = 0; i < running_.size();) {
        Instance* in = running_[i].get();
        if (!in->in_stage) {
          advance(*in);
          // advance may have removed it from running_.
          if (i < running_.size() && running_[i].get() == in) ++i;
          start_ready_jobs();
        } else {
          ++i;
        }
      }
      check(txn.commit());
    }
    if (jobs_done_ >= jobs_total_ && running_.empty()) break;
    if (running_.empty() && ready_.empty()) break;  // nothing can make progress

    std::optional<Clock::time_point> until;
    for (const auto& p : running_)
      if (p->timer && (!until || *p->timer < *until)) until = *p->timer;
    if (deadline_ && !cancelling_ && (!until || *deadline_ < *until)) until = deadline_;
    if (!until && procs_.running() == 0) until = Clock::now();
    auto exits = procs_.wait(until);

    RunStore::Transaction txn(store_);
    for (const auto& e : exits) on_exit(e);
    auto now = Clock::now();
    for (std::size_t i = 0; i < running_.size(); ++i) {
      Instance& in = *running_[i];
      if (in.timer && *in.timer <= now) on_timer(in);
    }
    int ic = interrupt_count();
    if (ic > seen_interrupts) {
      seen_interrupts = ic;
      cancel_everything(std::string("interrupted by ") + (first_interrupt_signal() == SIGTERM ? "SIGTERM" : "SIGINT"),
                        ic >= 2);
    }
    if (deadline_ && !cancelling_ && now >= *deadline_) {
      timed_out_ = true;
      cancel_everything("workflow timeout of " + std::to_string(timeout) + "s reached", false);
    }
    check(txn.commit());
  }
  // Jobs that never became ready (their needs were cut off) count as skipped.
  for (std::size_t i = 0; i < n; ++i)
    if (state_[i] == JobState::Pending) skip_job(static_cast<int>(i), cancelling_ ? "cancelled" : "trigger-rule");

  std::vector<Status> counted;
  bool any_failed = false;
  for (std::size_t i = 0; i < n; ++i) {
    Status s = status_[i];
    if (s == Status::Failed && w_.jobs[i].continue_on_error) s = Status::Success;
    if (s == Status::Failed) any_failed = true;
    counted.push_back(s);
  }
  Status final_status = aggregate(counted);
  int exit_code = 0;
  int sig = first_interrupt_signal();
  if (seen_interrupts > 0) {
    final_status = Status::Cancel;
    run_.error_name = "CancelError";
    run_.error_message = cancel_reason_;
    exit_code = sig == SIGTERM ? 143 : 130;
  } else if (timed_out_) {
    final_status = Status::Cancel;
    run_.error_name = "TimeoutError";
    run_.error_message = cancel_reason_;
    exit_code = 3;
  } else if (any_failed || final_status == Status::Failed) {
    final_status = Status::Failed;
    exit_code = 1;
    for (std::size_t i = 0; i < n; ++i)
      if (status_[i] == Status::Failed && !w_.jobs[i].continue_on_error) {
        run_.error_name = errors_[i].name.empty() ? "JobError" : errors_[i].name;
        run_.error_message = "job '" + w_.jobs[i].name + "' failed" +
                             (errors_[i].message.empty() ? "" : ": " + errors_[i].message);
        break;
      }
  } else if (final_status == Status::Cancel) {
    exit_code = 3;
  } else if (final_status == Status::Wait) {
    final_status = Status::Success;
  }
  if (fail_fast_hit_ && exit_code == 0) exit_code = 1;
  run_.status = final_status;
  run_.exit_code = exit_code;
  run_.finished_at = now_ms();
  Result<void> saved = store_.update_run(run_);
  if (saved.ok() && !store_error_.message.empty()) saved = store_error_;

  std::error_code ec;
  if (!tmp_dir_.empty()) {
    std::string cmd;
    // Remove what stages left (script and output files).
    for (const auto& entry : std::filesystem::directory_iterator(tmp_dir_, ec)) std::filesystem::remove(entry.path(), ec);
    std::filesystem::remove(tmp_dir_, ec);
  }

  RunSummary sum;
  sum.run_id = run_.id;
  sum.workflow = w_.name;
  sum.status = final_status;
  sum.exit_code = exit_code;
  sum.seconds = seconds_since(started_);
  sum.jobs = job_events_;
  sum.failed = failed_stages_;
  sum.error = run_.error_name.empty() ? "" : run_.error_name + ": " + run_.error_message;
  Json result = {{"run_id", run_.id},
                 {"workflow", w_.name},
                 {"status", to_string(final_status)},
                 {"exit_code", exit_code},
                 {"params", masked_params_},
                 {"started_at", run_.started_at},
                 {"finished_at", run_.finished_at},
                 {"duration", sum.seconds},
                 {"jobs", result_jobs_}};
  if (!run_.run_name.empty()) result["run_name"] = run_.run_name;
  if (!run_.error_name.empty()) result["errors"] = {{"name", run_.error_name}, {"message", run_.error_message}};
  sum.result_json = result.dump();
  rep_.run_finished(sum);
  if (!saved.ok()) return saved.error();
  return RunOutcome{run_.id, final_status, exit_code};
}

}  // namespace

std::string new_run_id() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(now);
  std::string stamp = format_time(UtcSeconds(secs.time_since_epoch()), "%Y%m%dT%H%M%S");
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<std::uint64_t>(now.time_since_epoch().count()) ^
                             static_cast<std::uint64_t>(::getpid()));
  char tail[9];
  std::snprintf(tail, sizeof tail, "%08x", static_cast<unsigned>(rng()));
  return stamp + "-" + tail;
}

Result<RunOutcome> run_workflow(const Workflow& w, const std::string& spec_text, const Json& params,
                                const std::vector<std::string>& secrets, const Json& masked_params,
                                const RunOptions& opts, RunStore& store, Reporter& reporter) {
  Run run(w, spec_text, params, secrets, masked_params, opts, store, reporter);
  return run.execute();
}

}  // namespace wf
