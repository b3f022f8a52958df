#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "run_state.hpp"
#include "stage_exec.hpp"
#include "wf/expr.hpp"
#include "wf/matrix.hpp"
#include "wf/params.hpp"
#include "python_stage.hpp"
#include "wf/recovery.hpp"

namespace wf {


// Runs stages that finish at once until one needs a process or a timer, or the job ends.
void Run::advance(Instance& in) { advance_frame(in.root); }

// The same for one stage list; nested stages advance the frames they hold. Returns true
// when the instance finished (it may be gone).
bool Run::advance_frame(Frame& f) {
  while (true) {
    // Stages that end at once (echo, foreach over thousands of items) can keep this going
    // for long without a return to the run's loop: look at signals and the timeout now and then.
    if (++spins_ % 64 == 0 && stop_pending()) check_stops(Clock::now());
    if (f.in_stage) {
      if (!f.nest || f.timer || f.pid) return false;  // a process or a timer is in flight
      if (!progress_nest(f)) return false;
      continue;
    }
    if (f.done) return false;
    if (f.next_stage >= f.list->size() || cancelling_ || f.cancelled) {
      if (f.next_stage < f.list->size()) f.cancelled = true;
      if (!f.parent) {
        finish_instance(*f.in);
        return true;
      }
      f.done = true;
      return false;
    }
    begin_stage(f, f.current());
  }
}

void Run::begin_stage(Frame& f, const Stage& s) {
  Instance& in = *f.in;
  f.in_stage = true;
  f.stage = StageRecord();
  f.stage.job_instance_id = in.rec.id;
  f.stage.parent_id = f.parent_stage_id;
  f.stage.label = f.label;
  f.stage.index = static_cast<int>(f.next_stage);
  f.stage.attempt = f.retries_done + 1;
  f.stage_started = Clock::now();
  f.stage.started_at = now_ms();
  f.pid.reset();
  f.timer.reset();
  f.timer_is_retry = false;
  f.timer_is_deadline = false;
  f.output_file.clear();
  f.own_script = false;
  f.trigger_run.clear();
  f.trigger_params.clear();
  f.stage_timed_by_job = false;
  f.nest.reset();

  // Name and key: `name`/`id` may use matrix expressions only.
  Json vars;
  bool have_vars = false;
  auto vars_ref = [&]() -> const Json& {
    if (!have_vars) {
      vars = stage_vars(f);
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
  f.stage.name = name;
  f.stage.stage_key = key;
  f.stage_name = f.parent ? f.parent->stage_name + " [" + f.label + "] / " + name : name;

  // `if`: a failed job runs only stages whose `if` asks for failure()/always().
  bool run_it = !f.failed;
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
    if (!f.failed || status_fn) {
      EvalContext ctx{&vars_ref(), f.failed, cancelling_};
      auto r = evaluate_condition(s.if_cond->value, ctx);
      if (!r.ok()) err = Error(r.error().message, "TemplateError");
      else run_it = *r;
    }
  }
  // A local process's row is written after its spawn, with its pid (start_process): the
  // spawn does not wait for it. Every other stage's row is written now.
  const bool local_process = (s.kind == StageKind::Bash || s.kind == StageKind::Python || s.kind == StageKind::Call) &&
                             !runs_on_slurm(w_.jobs[in.job].runs_on);
  if (!local_process || !err.message.empty() || !run_it) record_stage_start(f);
  if (!err.message.empty()) return end_stage(f, Status::Failed, err, Json::object(), -1);
  if (!run_it) return end_stage(f, Status::Skip, Error(), Json::object(), -1);
  rep_.stage_started(in.rec.display_name, f.stage_name);

  // Stage timeout, and the deadlines of the job and of the nested stages around it.
  std::optional<Clock::time_point> deadline = in.deadline;
  for (const Frame* p = f.parent; p; p = p->parent)
    if (p->stage_deadline && (!deadline || *p->stage_deadline < *deadline)) deadline = p->stage_deadline;
  if (s.timeout) {
    auto r = render_lazy(*s.timeout, vars_ref);
    Result<double> secs = r.ok() ? to_seconds(*r, "stage timeout") : Result<double>(r.error());
    if (!secs.ok()) return end_stage(f, Status::Failed, secs.error(), Json::object(), -1);
    if (*secs > 0) {
      auto d = f.stage_started + std::chrono::milliseconds(static_cast<long long>(*secs * 1000));
      if (!deadline || d < *deadline) deadline = d;
    }
  }
  f.stage_deadline = deadline;
  f.stage_timed_by_job = deadline && in.deadline && *deadline == *in.deadline;
  if (deadline && f.stage_started >= *deadline) {
    // Begun after an outer timeout passed: stages that end at once in a foreach or until
    // loop never give the loop a process to kill, so this is where their timeout bites.
    Error e(std::string(f.stage_timed_by_job ? "job" : "stage") + " timed out", "TimeoutError");
    return end_stage(f, Status::Failed, e, Json::object(), -1);
  }

  switch (s.kind) {
    case StageKind::Empty: {
      if (s.echo) {
        auto r = render_string_lazy(*s.echo, vars_ref);
        if (!r.ok()) return end_stage(f, Status::Failed, r.error(), Json::object(), -1);
        std::string msg = mask(*r);
        LogChunk c{f.stage.id, LogStream::Stdout, now_ms(), msg + "\n"};
        check(store_.append_log(c));
        std::istringstream lines(msg);
        std::string line;
        while (std::getline(lines, line)) rep_.stage_output(in.rec.display_name, f.stage_name, false, line);
      }
      double secs = 0;
      if (s.sleep) {
        auto r = render_lazy(*s.sleep, vars_ref);
        Result<double> sr = r.ok() ? to_seconds(*r, "sleep") : Result<double>(r.error());
        if (!sr.ok()) return end_stage(f, Status::Failed, sr.error(), Json::object(), -1);
        secs = *sr;
      }
      if (secs > 0) {
        f.timer = Clock::now() + std::chrono::microseconds(static_cast<long long>(secs * 1e6));
        f.timer_is_deadline = deadline && *deadline < *f.timer;
        if (f.timer_is_deadline) f.timer = *deadline;
        return;
      }
      return end_stage(f, Status::Success, Error(), Json::object(), -1);
    }
    case StageKind::Raise: {
      auto r = render_string_lazy(s.raise, vars_ref);
      Error e = r.ok() ? Error(*r, "StageError") : r.error();
      return end_stage(f, Status::Failed, e, Json::object(), -1);
    }
    case StageKind::Bash:
    case StageKind::Python:
    case StageKind::Call:
      start_process(f, s, vars_ref, key, deadline);
      return;
    case StageKind::Trigger:
      start_trigger(f, s, vars_ref, deadline);
      return;
    case StageKind::Parallel:
    case StageKind::Foreach:
    case StageKind::Until:
    case StageKind::Case:
      begin_nested(f, s, vars_ref);
      return;
  }
}

// "<run dir>/<n>": the prefix of a new stage's files. Named by a counter of the run, since a
// stage's row may not be written before its files are.
std::string Run::stage_files_base() { return tmp_dir_ + "/" + std::to_string(++stage_files_); }

// The stage's row, once: its id names it in logs and nested rows from then on.
void Run::record_stage_start(Frame& f) {
  if (f.stage.id != 0) return;
  record_instance_start(*f.in);
  f.stage.job_instance_id = f.in->rec.id;
  check_id(store_.insert_stage(f.stage), f.stage.id);
}

// The job instance's row, once: written with its first stage's row, or when it ends.
void Run::record_instance_start(Instance& in) {
  if (in.rec.id == 0) check_id(store_.insert_job_instance(in.rec), in.rec.id);
}

// Records the end of the stage in flight and decides what the stage list does next.
void Run::end_stage(Frame& f, Status st, const Error& err_in, Json outputs_in, int exit_code) {
  Instance& in = *f.in;
  const Stage& s = f.current();
  Error err = err_in;
  err.message = mask(err.message);
  Json outputs = mask(std::move(outputs_in));
  f.stage.status = st;
  f.stage.exit_code = exit_code;
  f.stage.error_name = st == Status::Failed || st == Status::Cancel ? err.name : "";
  f.stage.error_message = st == Status::Failed || st == Status::Cancel ? err.message : "";
  f.stage.finished_at = now_ms();
  record_stage_start(f);  // a stage that ended before its process started
  ended_stages_.push_back(f.stage);
  ended_stages_.back().outputs = outputs;  // only the queued update needs them
  f.in_stage = false;
  f.pid.reset();
  f.timer.reset();
  f.nest.reset();

  // Retry the stage after a failure (FORMAT §5.5).
  if (st == Status::Failed && s.retry && !cancelling_ && !f.cancelled) {
    auto policy = retry_policy(*s.retry, stage_vars(f));
    if (policy.ok() && f.retries_done < policy->count) {
      ++f.retries_done;
      rep_.stage_finished({in.rec.display_name, f.stage_name, st, seconds_since(f.stage_started),
                           err.name + ": " + err.message + " (retrying)"});
      f.in_stage = true;
      f.timer_is_retry = true;
      f.timer = Clock::now() + std::chrono::microseconds(static_cast<long long>(policy->delay_before(f.retries_done) * 1e6));
      return;
    }
    if (!policy.ok()) err = Error(mask(policy.error().message), policy.error().name);
  }

  std::string key = f.stage.stage_key;
  Json errors = Json::object();
  if (!f.stage.error_name.empty()) errors = {{"name", err.name}, {"message", err.message}};
  if (st == Status::Success && !f.parent)
    for (auto it = outputs.begin(); it != outputs.end(); ++it) in.merged[it.key()] = it.value();
  {
    // Built in place (an initializer list would copy outputs and errors once more).
    Json entry = Json::object();
    entry["status"] = to_string(st);
    entry["outputs"] = std::move(outputs);
    entry["errors"] = std::move(errors);
    f.stages[key] = std::move(entry);
  }
  if (st != Status::Skip || s.if_cond)
    rep_.stage_finished({in.rec.display_name, f.stage_name, st, st == Status::Skip ? 0 : seconds_since(f.stage_started),
                         f.stage.error_name.empty() ? "" : err.name + ": " + err.message});
  // A nested stage that failed because one of its stages failed: that stage is the one listed.
  if (st == Status::Failed && !f.failed_inside)
    failed_stages_.push_back({in.rec.display_name, f.stage_name,
                              err.name + ": " + err.message + (s.continue_on_error ? " (continue-on-error)" : ""),
                              std::move(f.last_tail)});
  f.last_tail.clear();
  f.failed_inside = false;
  if (st == Status::Failed && !s.continue_on_error) {
    if (!f.failed) f.error = err;
    f.failed = true;
  }
  if (st == Status::Cancel) f.cancelled = true;
  f.retries_done = 0;
  ++f.next_stage;
}

void Run::finish_instance(Instance& in) {
  const Job& j = w_.jobs[in.job];
  Frame& f = in.root;
  Json outputs = std::move(in.merged);  // a job retry starts it afresh
  in.merged = Json::object();
  if (j.outputs && !f.failed && !f.cancelled) {
    outputs = Json::object();
    Json vars = stage_vars(f);
    for (const auto& [k, t] : *j.outputs) {
      auto r = render(t, vars);
      if (!r.ok()) {
        f.failed = true;
        f.error = Error(mask(r.error().message), "TemplateError");
        failed_stages_.push_back({j.name, "outputs." + k, "TemplateError: " + f.error.message, {}});
        break;
      }
      outputs[k] = *r;
    }
    outputs = mask(outputs);
  }
  Status st = f.failed ? Status::Failed : f.cancelled ? Status::Cancel : Status::Success;
  in.rec.status = st;
  in.rec.error_name = f.failed || f.cancelled ? (f.error.name.empty() && f.cancelled ? "CancelError" : f.error.name) : "";
  in.rec.error_message = f.failed || f.cancelled ? (f.error.message.empty() && f.cancelled ? cancel_reason_ : f.error.message) : "";
  in.rec.finished_at = now_ms();
  record_instance_start(in);
  ended_instances_.push_back(in.rec);
  ended_instances_.back().outputs = outputs;  // only the queued update needs them

  // Job retry: the whole instance again, as a new attempt of the same leg.
  if (st == Status::Failed && j.retry && !cancelling_) {
    Json vars = stage_vars(f);
    auto policy = retry_policy(*j.retry, vars);
    if (policy.ok() && in.rec.job_attempt <= policy->count) {
      double delay = policy->delay_before(in.rec.job_attempt);
      rep_.job_finished({in.rec.display_name, st, seconds_since(in.started),
                         in.rec.error_name + ": " + in.rec.error_message + " (retrying)"});
      int attempt = in.rec.job_attempt + 1;
      // This attempt's failures are in the store; the summary shows only what failed in the end.
      failed_stages_.erase(std::remove_if(failed_stages_.begin(), failed_stages_.end(),
                                          [&](const FailedStage& fs) { return fs.job == in.rec.display_name; }),
                           failed_stages_.end());
      in.rec.id = 0;
      in.rec.status = Status::Wait;
      in.rec.error_name.clear();
      in.rec.error_message.clear();
      in.rec.outputs = Json::object();
      in.rec.job_attempt = attempt;
      in.rec.started_at = now_ms();
      in.rec.finished_at = 0;
      check_id(store_.insert_job_instance(in.rec), in.rec.id);
      f.next_stage = 0;
      f.failed = false;
      f.cancelled = false;
      f.error = Error();
      f.stages = Json::object();
      in.merged = Json::object();
      f.retries_done = 0;
      f.in_stage = true;  // waits for the timer, not for advance()
      f.timer_is_job_retry = true;
      f.timer = Clock::now() + std::chrono::microseconds(static_cast<long long>(delay * 1e6));
      return;
    }
  }

  JobEvent e{in.rec.display_name, st, seconds_since(in.started),
             in.rec.error_name.empty() ? "" : in.rec.error_name + ": " + in.rec.error_message,
             jobruns_[in.job]->several_legs()};
  job_events_.push_back(e);
  rep_.job_finished(e);
  if (rep_.wants_result_json()) {
    Json jr = {{"status", to_string(st)}, {"outputs", outputs}, {"stages", in.root.stages}};
    if (!in.matrix.empty()) jr["matrix"] = mask(in.matrix);
    if (!in.rec.error_name.empty()) jr["errors"] = {{"name", in.rec.error_name}, {"message", in.rec.error_message}};
    result_jobs_[in.rec.display_name] = jr;
  }
  Error err(in.rec.error_message, in.rec.error_name);
  // Drop the instance before leg_finished may cancel others.
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &in; });
  std::unique_ptr<Instance> keep = std::move(*it);
  running_.erase(it);
  leg_finished(keep->job, keep->leg, keep->rec.display_name, st, std::move(outputs), err, true);
}

void Run::on_exit(const ProcessExit& e) {
  auto it = by_pid_.find(e.id);
  if (it == by_pid_.end()) return;
  Frame& f = *it->second;
  by_pid_.erase(it);
  if (f.current().kind == StageKind::Trigger) return trigger_exit(f, e);
  std::string out = mask(e.out), errtext = mask(e.err);
  flush_logs(f);
  Json outputs = Json::object();
  // The stage's files are "<base>.*" (start_process); a Slurm stage's stay until the run
  // ends, since a rerun after a crash may collect them again.
  std::string base = f.output_file.substr(0, f.output_file.size() < 4 ? 0 : f.output_file.size() - 4);
  auto remove_file = [&](const std::string& path) {
    if (!base.empty() && !is_slurm_handle(e.id)) spent_files_.push_back(path);
  };
  if (!f.output_file.empty()) {
    if (auto text = read_file(f.output_file)) {
      outputs = parse_output_file(*text);
      remove_file(f.output_file);
    }
    if (f.own_script) remove_file(base + ".script");
  }
  const Stage& stage_def = f.current();
  Error py_error;
  if (stage_def.kind == StageKind::Call) {
    remove_file(base + ".with");
    if (e.spawn_error.empty() && !e.timed_out && !e.cancelled && e.term_signal == 0 && e.exit_code == 0) {
      // The JSON object it printed is its outputs: the whole stdout, or its last line.
      Json printed = Json::parse(e.out, nullptr, false);
      if (!printed.is_object()) {
        auto lines = last_lines(e.out, 1);
        printed = lines.empty() ? Json() : Json::parse(lines.back(), nullptr, false);
      }
      if (printed.is_object()) {
        for (auto it = printed.begin(); it != printed.end(); ++it) outputs[it.key()] = it.value();
      } else {
        std::string shown = last_lines(out, 1).empty() ? "(nothing)" : "'" + last_lines(out, 1).back() + "'";
        py_error = Error("call '" + f.stage.name + "' printed no JSON object on stdout; its last line was " + shown,
                         "CallError");
      }
    }
  } else if (stage_def.kind == StageKind::Python) {
    if (auto text = read_file(base + ".pyout")) {
      Json r = Json::parse(*text, nullptr, false);
      if (r.is_object() && r.contains("outputs") && r["outputs"].is_object())
        for (auto it = r["outputs"].begin(); it != r["outputs"].end(); ++it) outputs[it.key()] = it.value();
      if (r.is_object() && r.contains("error") && r["error"].is_object())
        py_error = Error(r["error"].value("message", ""), r["error"].value("name", "Exception"));
    }
    remove_file(base + ".pyout");
    remove_file(base + ".pyin");
  } else {
    outputs["return_code"] = e.exit_code;
    outputs["stdout"] = e.out;
    outputs["stderr"] = e.err;
  }
  Status st = Status::Success;
  Error err;
  if (!py_error.name.empty() && e.spawn_error.empty() && !e.timed_out && !e.cancelled) {
    st = Status::Failed;
    err = Error(mask(py_error.message), py_error.name);
  } else if (!e.spawn_error.empty()) {
    st = Status::Failed;
    err = Error(e.spawn_error, "StageError");
  } else if (e.timed_out) {
    st = Status::Failed;
    err = Error(std::string(f.stage_timed_by_job ? "job" : "stage") + " timed out; " +
                    (is_slurm_handle(e.id) ? "its Slurm job was cancelled" : "the process group was killed"),
                "TimeoutError");
  } else if (e.cancelled) {
    st = Status::Cancel;
    err = cancel_error(f);
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
    err = Error(msg, stage_def.kind == StageKind::Bash ? "ShellError" : stage_def.kind == StageKind::Call ? "CallError" : "StageError");
  }
  if (st == Status::Failed) f.last_tail = last_lines(out + errtext, 20);
  end_stage(f, st, err, std::move(outputs), e.spawn_error.empty() && e.term_signal == 0 ? e.exit_code : -1);
}

void Run::on_timer(Frame& f) {
  Instance& in = *f.in;
  f.timer.reset();
  if (f.timer_is_job_retry) {
    f.timer_is_job_retry = false;
    f.in_stage = false;
    in.started = Clock::now();
    const Job& j = w_.jobs[in.job];
    if (in.deadline && j.timeout) {
      Json vars = stage_vars(f);
      auto r = render(*j.timeout, vars);
      auto secs = r.ok() ? to_seconds(*r, "job timeout") : Result<double>(r.error());
      if (secs.ok() && *secs > 0) in.deadline = in.started + std::chrono::milliseconds(static_cast<long long>(*secs * 1000));
    }
    return;  // advance() starts the first stage again
  }
  if (f.timer_is_retry) {
    f.in_stage = false;
    f.timer_is_retry = false;
    return;  // advance() starts the stage again
  }
  if (f.timer_is_deadline) {
    Error e(std::string(f.stage_timed_by_job ? "job" : "stage") + " timed out", "TimeoutError");
    end_stage(f, Status::Failed, e, Json::object(), -1);
    return;
  }
  end_stage(f, Status::Success, Error(), Json::object(), -1);
}

// Writes the output lines gathered since the last pass.
void Run::flush_logs(Frame& f) {
  if (!f.pending_out.empty()) check(store_.append_log({f.stage.id, LogStream::Stdout, now_ms(), f.pending_out, 0}));
  if (!f.pending_err.empty()) check(store_.append_log({f.stage.id, LogStream::Stderr, now_ms(), f.pending_err, 0}));
  f.pending_out.clear();
  f.pending_err.clear();
  if (f.nest)
    for (auto& c : f.nest->children) flush_logs(*c);
}

void Run::for_each_frame(Frame& f, const std::function<void(Frame&)>& fn) {
  fn(f);
  if (f.nest)
    for (std::size_t i = 0; i < f.nest->children.size(); ++i) for_each_frame(*f.nest->children[i], fn);
}

// Why a stage of `f` was cancelled: its own reason (a sibling failed), else the run's.
Error Run::cancel_error(const Frame& f) const {
  const std::string& why = !f.cancel_reason.empty() ? f.cancel_reason : cancel_reason_;
  return Error(why.empty() ? "cancelled" : why, timed_out_ ? "TimeoutError" : "CancelError");
}

// Stops one instance: its processes (if any) are killed and reported by on_exit as CANCEL;
// stages waiting on a timer end now; nested stages start nothing more.
void Run::cancel_instance(Instance& in, const std::string& reason, bool immediate) {
  cancel_frame(in.root, reason, immediate);
}

void Run::cancel_frame(Frame& f, const std::string& reason, bool immediate) {
  f.cancelled = true;
  if (f.cancel_reason.empty()) f.cancel_reason = reason;
  if (f.pid) {
    if (is_slurm_handle(*f.pid)) slurm_.cancel(*f.pid);
    else procs_.cancel(*f.pid, immediate);
    return;
  }
  if (f.nest) {
    f.nest->stop = true;
    for (auto& c : f.nest->children)
      if (!c->done) cancel_frame(*c, reason, immediate);
    if (!f.timer) return;
  }
  if (f.in_stage && f.timer) {
    f.timer.reset();
    if (f.timer_is_retry || f.timer_is_job_retry) {
      f.timer_is_retry = f.timer_is_job_retry = false;
      f.in_stage = false;
      if (f.stage.id && f.stage.status == Status::Wait) ++f.next_stage;
    } else {
      end_stage(f, Status::Cancel, Error(reason, timed_out_ ? "TimeoutError" : "CancelError"), Json::object(), -1);
    }
  }
}

// The retry policy of a stage or job, from its `retry` text (a number, a template, or the
// long form kept as JSON by the loader).
Result<RetryPolicy> Run::retry_policy(const Text& t, const Json& vars) const {
  Json value;
  if (!t.value.empty() && t.value[0] == '{') {
    Json parsed = Json::parse(t.value, nullptr, false);
    if (parsed.is_discarded()) return Error("retry: cannot read " + t.value, "StageError");
    auto r = render_json(parsed, vars);
    if (!r.ok()) return r.error();
    value = *r;
  } else {
    auto r = render(t, vars);
    if (!r.ok()) return r.error();
    value = *r;
  }
  return parse_retry(value);
}

}  // namespace wf
namespace wf {

// Renders `t`, building the (costly) expression scope only when it holds a template.
Result<Json> Run::render_lazy(const Text& t, const std::function<const Json&()>& vars) const {
  if (!has_template(t.value)) return Json(t.value);
  return render(t, vars());
}

Result<std::string> Run::render_string_lazy(const Text& t, const std::function<const Json&()>& vars) const {
  if (!has_template(t.value)) return t.value;
  return render_string(t, vars());
}

// FORMAT §6 call stages: `path/name@tag` is `<dir>/path/name@tag`, else `<dir>/path/name`
// (with WF_TAG=tag), for the first registry dir that has one: WF_REGISTRY (colon-separated),
// else extras.registry_caller, else the workflow file's directory, then the current directory.
Result<std::pair<std::string, std::string>> Run::resolve_call(const std::string& uses,
                                                              const std::map<std::string, std::string>& env) const {
  std::vector<std::string> dirs;
  auto split = [&](const std::string& list) {
    std::size_t start = 0;
    while (start <= list.size()) {
      auto colon = list.find(':', start);
      std::string d = list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!d.empty()) dirs.push_back(d);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  };
  auto reg = env.find("WF_REGISTRY");
  if (reg != env.end() && !reg->second.empty()) {
    split(reg->second);
  } else {
    if (w_.extras.is_object() && w_.extras.contains("registry_caller")) {
      const Json& rc = w_.extras["registry_caller"];
      if (rc.is_string()) split(rc.get<std::string>());
      else if (rc.is_array())
        for (const auto& d : rc)
          if (d.is_string()) dirs.push_back(d.get<std::string>());
    }
    auto slash = w_.file.rfind('/');
    dirs.push_back(slash == std::string::npos ? "." : w_.file.substr(0, slash));
    dirs.push_back(opts_.cwd.empty() ? "." : opts_.cwd);
  }
  std::string name = uses, tag;
  auto at = uses.rfind('@');
  if (at != std::string::npos && uses.find('/', at) == std::string::npos) {
    name = uses.substr(0, at);
    tag = uses.substr(at + 1);
  }
  std::string tried;
  for (const auto& d : dirs) {
    for (const std::string& candidate : {d + "/" + uses, d + "/" + name}) {
      struct stat st;
      if (::stat(candidate.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) continue;
      if (::access(candidate.c_str(), X_OK) != 0)
        return Error("call '" + uses + "': " + candidate + " is not executable (chmod +x it)", "StageError");
      return std::make_pair(candidate, tag);
    }
    tried += (tried.empty() ? "" : ", ") + d;
  }
  return Error("call '" + uses + "' not found in the registry dirs: " + tried, "StageError");
}

// The file a bash stage's script runs from (FORMAT §6). Stages with the same script text
// (matrix legs, retries, loop items, a step repeated across jobs) share one file, written
// once and removed with the run's directory, instead of a file created and removed per
// stage. Large scripts, and any beyond the first few thousand, get a file of their own.
Result<std::string> Run::script_file(Frame& f, const std::string& script, const std::string& own_path) {
  if (auto it = script_files_.find(script); it != script_files_.end()) return it->second;
  constexpr std::size_t kMaxShared = 4096, kMaxSharedSize = 16 * 1024;
  const bool shared = script.size() <= kMaxSharedSize && script_files_.size() < kMaxShared;
  const std::string path = shared ? tmp_dir_ + "/shared-" + std::to_string(script_files_.size()) + ".script" : own_path;
  if (!write_file(path, script)) return Error("cannot write the script file " + path, "StageError");
  if (shared) script_files_.emplace(script, path);
  f.own_script = !shared;
  return path;
}

// The process of a bash or python stage: its script, cwd and environment (FORMAT §6).
bool Run::start_process(Frame& f, const Stage& s, const std::function<const Json&()>& vars,
                        const std::string& key, std::optional<Clock::time_point> deadline) {
  Instance& in = *f.in;
  const Job& j = w_.jobs[in.job];
  auto failed = [&](const Error& e) {
    end_stage(f, Status::Failed, e, Json::object(), -1);
    return false;
  };
  const bool slurm = runs_on_slurm(j.runs_on);
  if (slurm && reattach_slurm(f, deadline)) return true;
  auto script = render_string_lazy(s.kind == StageKind::Python ? s.run : s.kind == StageKind::Call ? s.uses : s.bash, vars);
  if (!script.ok()) return failed(script.error());
  std::string cwd = opts_.cwd;
  const std::optional<Text>& wd =
      s.working_directory ? s.working_directory : (j.working_directory ? j.working_directory : w_.working_directory);
  if (wd) {
    auto r = render_string_lazy(*wd, vars);
    if (!r.ok()) return failed(r.error());
    cwd = *r;
  }
  // The stage's variables over the run's base environment (base_env_ is not copied).
  std::map<std::string, std::string> env = in.env;
  if (!s.env.empty()) {
    std::optional<Json> v;
    for (const auto& [k, t] : s.env) {
      if (!has_template(t.value)) {
        env[k] = t.value;
        if (v) (*v)["env"][k] = t.value;
        continue;
      }
      if (!v) v = vars();
      auto r = render_string(t, *v);
      if (!r.ok()) return failed(r.error());
      env[k] = *r;
      (*v)["env"][k] = *r;
    }
  }
  std::string base = stage_files_base();
  if (slurm) {
    auto b = slurm_stage_base(f);
    if (!b.ok()) return failed(b.error());
    base = *b;
  }
  f.output_file = base + ".out";
  env["WF_RUN_ID"] = run_.id;
  env["WF_WORKFLOW"] = w_.name;
  env["WF_JOB"] = j.name;
  env["WF_STAGE"] = key;
  env["WF_ATTEMPT"] = std::to_string(f.stage.attempt);
  env["WF_JOB_ATTEMPT"] = std::to_string(in.rec.job_attempt);
  env["WF_RUN_ATTEMPT"] = std::to_string(run_.attempt);
  env["WF_OUTPUT"] = f.output_file;
  env["WF_LOGICAL_DATE"] = logical_date_;

  std::vector<std::string> argv;
  std::string stdin_path;
  if (s.kind == StageKind::Call) {
    auto target = resolve_call(*script, merged_env(env));
    if (!target.ok()) return failed(target.error());
    auto with = render_json(s.with, json_text(s.with).find("${{") == std::string::npos ? Json::object() : vars());
    if (!with.ok()) return failed(with.error());
    stdin_path = base + ".with";
    if (!write_file(stdin_path, with->dump(-1, ' ', false, Json::error_handler_t::replace)))
      return failed(Error("cannot write " + stdin_path, "StageError"));
    argv = {target->first};
    if (!target->second.empty()) env["WF_TAG"] = target->second;
  } else if (s.kind == StageKind::Python) {
    auto py_vars = render_json(s.vars, vars());
    if (!py_vars.ok()) return failed(py_vars.error());
    Json context = {{"attempt", f.stage.attempt}, {"run_id", run_.id}, {"params", params_},
                    {"matrix", in.matrix},          {"needs", vars().value("needs", Json::object())},
                    {"job_attempt", in.rec.job_attempt}};
    Json input = {{"code", *script}, {"name", "<stage " + key + ">"}, {"vars", py_vars->is_object() ? *py_vars : Json::object()},
                  {"params", params_}, {"matrix", in.matrix}, {"context", context}};
    if (!write_file(base + ".pyin", input.dump(-1, ' ', false, Json::error_handler_t::replace)))
      return failed(Error("cannot write " + base + ".pyin", "StageError"));
    env["WF_PY_INPUT"] = base + ".pyin";
    env["WF_PY_RESULT"] = base + ".pyout";
    auto py = env.find("WF_PYTHON");
    const std::string* python = py != env.end() ? &py->second : nullptr;
    if (auto b = base_env_.find("WF_PYTHON"); !python && b != base_env_.end()) python = &b->second;
    argv = {python && !python->empty() ? *python : "python3", "-c", python_wrapper()};
  } else {
    std::string shell;
    const std::optional<Text>& sh = s.shell ? s.shell : (j.shell ? j.shell : w_.shell);
    if (sh) {
      auto r = render_string_lazy(*sh, vars);
      if (!r.ok()) return failed(r.error());
      shell = *r;
    }
    f.own_script = slurm;  // Slurm stages: in the shared directory, beside the batch script
    auto file = slurm ? Result<std::string>(base + ".script") : script_file(f, *script, base + ".script");
    if (!file.ok()) return failed(file.error());
    ShellCommand cmd = shell_command(shell, *script, *file);
    if (slurm && cmd.needs_file && !write_file(*file, *script))
      return failed(Error("cannot write the script file " + *file, "StageError"));
    argv = std::move(cmd.argv);
  }
  SpawnSpec spec{std::move(argv), env_list(env), cwd, deadline, stdin_path, {}};
  if (slurm) {
    spec.env = env_list(merged_env(env));  // the batch script sets the whole environment
    return submit_slurm(f, spec, base);
  }
  spec.envp = env_pointers(base_env_, base_env_kv_, env, spec.env);
  ProcessId pid = procs_.spawn(spec);
  f.pid = pid;
  by_pid_[pid] = &f;
  // Record the process group so that a later wf can stop it if this one dies.
  if (int os_pid = procs_.os_pid(pid); os_pid > 0) {
    f.stage.external_id = "pid:" + std::to_string(os_pid) + ":" + std::to_string(procs_.start_ticks(pid));
  }
  record_stage_start(f);
  return true;
}

}  // namespace wf
