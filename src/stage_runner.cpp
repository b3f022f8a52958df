#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
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
void Run::advance(Instance& in) {
  const Job& j = w_.jobs[in.job];
  while (!in.in_stage) {
    if (in.next_stage >= j.stages.size()) {
      finish_instance(in);
      return;
    }
    if (cancelling_ || in.cancelled) {
      in.cancelled = true;
      finish_instance(in);
      return;
    }
    const Stage& s = j.stages[in.next_stage];
    if (begin_stage(in, s)) return;  // a process or timer is in flight
  }
}

bool Run::begin_stage(Instance& in, const Stage& s) {
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
    auto r = render_lazy(*s.timeout, vars_ref);
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
        auto r = render_string_lazy(*s.echo, vars_ref);
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
        auto r = render_lazy(*s.sleep, vars_ref);
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
      auto r = render_string_lazy(s.raise, vars_ref);
      Error e = r.ok() ? Error(*r, "StageError") : r.error();
      end_stage(in, Status::Failed, e, Json::object(), -1);
      return false;
    }
    case StageKind::Bash:
    case StageKind::Python:
    case StageKind::Call:
      return start_process(in, s, vars_ref, key, deadline);
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

  // Retry the stage after a failure (FORMAT §5.5).
  if (st == Status::Failed && s.retry && !cancelling_) {
    auto policy = retry_policy(*s.retry, stage_vars(in));
    if (policy.ok() && in.retries_done < policy->count) {
      ++in.retries_done;
      rep_.stage_finished({in.rec.display_name, in.stage_name, st, seconds_since(in.stage_started),
                           err.name + ": " + err.message + " (retrying)"});
      in.in_stage = true;
      in.timer_is_retry = true;
      in.timer = Clock::now() + std::chrono::microseconds(static_cast<long long>(policy->delay_before(in.retries_done) * 1e6));
      return;
    }
    if (!policy.ok()) err = Error(mask(policy.error().message), policy.error().name);
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
  if (st == Status::Failed)
    failed_stages_.push_back({in.rec.display_name, in.stage_name,
                              err.name + ": " + err.message + (s.continue_on_error ? " (continue-on-error)" : ""),
                              std::move(in.last_tail)});
  in.last_tail.clear();
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

  // Job retry: the whole instance again, as a new attempt of the same leg.
  if (st == Status::Failed && j.retry && !cancelling_) {
    Json vars = stage_vars(in);
    auto policy = retry_policy(*j.retry, vars);
    if (policy.ok() && in.rec.job_attempt <= policy->count) {
      double delay = policy->delay_before(in.rec.job_attempt);
      rep_.job_finished({in.rec.display_name, st, seconds_since(in.started),
                         in.rec.error_name + ": " + in.rec.error_message + " (retrying)"});
      int attempt = in.rec.job_attempt + 1;
      // This attempt's failures are in the store; the summary shows only what failed in the end.
      failed_stages_.erase(std::remove_if(failed_stages_.begin(), failed_stages_.end(),
                                          [&](const FailedStage& f) { return f.job == in.rec.display_name; }),
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
      in.next_stage = 0;
      in.failed = false;
      in.cancelled = false;
      in.error = Error();
      in.stages = Json::object();
      in.merged = Json::object();
      in.retries_done = 0;
      in.in_stage = true;  // waits for the timer, not for advance()
      in.timer_is_job_retry = true;
      in.timer = Clock::now() + std::chrono::microseconds(static_cast<long long>(delay * 1e6));
      return;
    }
  }

  JobEvent e{in.rec.display_name, st, seconds_since(in.started),
             in.rec.error_name.empty() ? "" : in.rec.error_name + ": " + in.rec.error_message};
  job_events_.push_back(e);
  rep_.job_finished(e);
  Json jr = {{"status", to_string(st)}, {"outputs", outputs}, {"stages", in.stages}};
  if (!in.matrix.empty()) jr["matrix"] = mask(in.matrix);
  if (!in.rec.error_name.empty()) jr["errors"] = {{"name", in.rec.error_name}, {"message", in.rec.error_message}};
  result_jobs_[in.rec.display_name] = jr;
  Error err(in.rec.error_message, in.rec.error_name);
  // Drop the instance before leg_finished may cancel others.
  auto it = std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &in; });
  std::unique_ptr<Instance> keep = std::move(*it);
  running_.erase(it);
  leg_finished(keep->job, keep->leg, keep->rec.display_name, st, outputs, err, true);
}

void Run::on_exit(const ProcessExit& e) {
  auto it = by_pid_.find(e.id);
  if (it == by_pid_.end()) return;
  Instance& in = *it->second;
  by_pid_.erase(it);
  std::string out = mask(e.out), errtext = mask(e.err);
  flush_logs(in);
  Json outputs = Json::object();
  // The stage's files are "<base>.*" (start_process); a Slurm stage's stay until the run
  // ends, since a rerun after a crash may collect them again.
  std::string base = in.output_file.empty() ? tmp_dir_ + "/" + std::to_string(in.stage.id)
                                            : in.output_file.substr(0, in.output_file.size() - 4);
  auto remove_file = [&](const std::string& path) {
    if (!is_slurm_handle(e.id)) ::unlink(path.c_str());
  };
  if (!in.output_file.empty()) {
    std::ifstream f(in.output_file, std::ios::binary);
    if (f) {
      std::stringstream ss;
      ss << f.rdbuf();
      outputs = parse_output_file(ss.str());
      f.close();
      remove_file(in.output_file);
    }
    remove_file(base + ".script");
  }
  const Stage& stage_def = w_.jobs[in.job].stages[in.next_stage];
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
        py_error = Error("call '" + in.stage.name + "' printed no JSON object on stdout; its last line was " + shown,
                         "CallError");
      }
    }
  } else if (stage_def.kind == StageKind::Python) {
    std::ifstream f(base + ".pyout", std::ios::binary);
    if (f) {
      Json r = Json::parse(f, nullptr, false);
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
    err = Error(std::string(in.stage_timed_by_job ? "job" : "stage") + " timed out; " +
                    (is_slurm_handle(e.id) ? "its Slurm job was cancelled" : "the process group was killed"),
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
    err = Error(msg, stage_def.kind == StageKind::Bash ? "ShellError" : stage_def.kind == StageKind::Call ? "CallError" : "StageError");
  }
  if (st == Status::Failed) in.last_tail = last_lines(out + errtext, 20);
  end_stage(in, st, err, outputs, e.spawn_error.empty() && e.term_signal == 0 ? e.exit_code : -1);
}

void Run::on_timer(Instance& in) {
  in.timer.reset();
  if (in.timer_is_job_retry) {
    in.timer_is_job_retry = false;
    in.in_stage = false;
    in.started = Clock::now();
    const Job& j = w_.jobs[in.job];
    if (in.deadline && j.timeout) {
      Json vars = stage_vars(in);
      auto r = render(*j.timeout, vars);
      auto secs = r.ok() ? to_seconds(*r, "job timeout") : Result<double>(r.error());
      if (secs.ok() && *secs > 0) in.deadline = in.started + std::chrono::milliseconds(static_cast<long long>(*secs * 1000));
    }
    return;  // advance() starts the first stage again
  }
  if (in.timer_is_retry) {
    in.in_stage = false;
    in.timer_is_retry = false;
    return;  // advance() starts the stage again
  }
  if (in.timer_is_deadline) {
    Error e(std::string(in.stage_timed_by_job ? "job" : "stage") + " timed out", "TimeoutError");
    end_stage(in, Status::Failed, e, Json::object(), -1);
    return;
  }
  end_stage(in, Status::Success, Error(), Json::object(), -1);
}

// Writes the output lines gathered since the last pass.
void Run::flush_logs(Instance& in) {
  if (!in.pending_out.empty()) check(store_.append_log({in.stage.id, LogStream::Stdout, now_ms(), in.pending_out, 0}));
  if (!in.pending_err.empty()) check(store_.append_log({in.stage.id, LogStream::Stderr, now_ms(), in.pending_err, 0}));
  in.pending_out.clear();
  in.pending_err.clear();
}

// Stops one instance: its process (if any) is killed and reported by on_exit as CANCEL;
// a stage waiting on a timer ends now.
void Run::cancel_instance(Instance& in, const std::string& reason, bool immediate) {
  in.cancelled = true;
  if (in.pid) {
    if (is_slurm_handle(*in.pid)) slurm_.cancel(*in.pid);
    else procs_.cancel(*in.pid, immediate);
    return;
  }
  if (in.in_stage && in.timer) {
    in.timer.reset();
    if (in.timer_is_retry || in.timer_is_job_retry) {
      in.timer_is_retry = in.timer_is_job_retry = false;
      in.in_stage = false;
      if (in.stage.id && in.stage.status == Status::Wait) ++in.next_stage;
    } else {
      end_stage(in, Status::Cancel, Error(reason, timed_out_ ? "TimeoutError" : "CancelError"), Json::object(), -1);
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

// The process of a bash or python stage: its script, cwd and environment (FORMAT §6).
bool Run::start_process(Instance& in, const Stage& s, const std::function<const Json&()>& vars,
                        const std::string& key, std::optional<Clock::time_point> deadline) {
  const Job& j = w_.jobs[in.job];
  auto failed = [&](const Error& e) {
    end_stage(in, Status::Failed, e, Json::object(), -1);
    return false;
  };
  const bool slurm = runs_on_slurm(j.runs_on);
  if (slurm && reattach_slurm(in, deadline)) return true;
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
  std::string base = tmp_dir_ + "/" + std::to_string(in.stage.id);
  if (slurm) {
    auto b = slurm_stage_base(in);
    if (!b.ok()) return failed(b.error());
    base = *b;
  }
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

  std::vector<std::string> argv;
  std::string stdin_path;
  if (s.kind == StageKind::Call) {
    auto target = resolve_call(*script, env);
    if (!target.ok()) return failed(target.error());
    auto with = render_json(s.with, s.with.dump().find("${{") == std::string::npos ? Json::object() : vars());
    if (!with.ok()) return failed(with.error());
    stdin_path = base + ".with";
    std::ofstream f(stdin_path, std::ios::binary);
    f << with->dump(-1, ' ', false, Json::error_handler_t::replace);
    if (!f) return failed(Error("cannot write " + stdin_path, "StageError"));
    argv = {target->first};
    if (!target->second.empty()) env["WF_TAG"] = target->second;
  } else if (s.kind == StageKind::Python) {
    auto py_vars = render_json(s.vars, vars());
    if (!py_vars.ok()) return failed(py_vars.error());
    Json context = {{"attempt", in.stage.attempt}, {"run_id", run_.id}, {"params", params_},
                    {"matrix", in.matrix},          {"needs", vars().value("needs", Json::object())},
                    {"job_attempt", in.rec.job_attempt}};
    Json input = {{"code", *script}, {"name", "<stage " + key + ">"}, {"vars", py_vars->is_object() ? *py_vars : Json::object()},
                  {"params", params_}, {"matrix", in.matrix}, {"context", context}};
    std::ofstream f(base + ".pyin", std::ios::binary);
    f << input.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (!f) return failed(Error("cannot write " + base + ".pyin", "StageError"));
    env["WF_PY_INPUT"] = base + ".pyin";
    env["WF_PY_RESULT"] = base + ".pyout";
    auto py = env.find("WF_PYTHON");
    argv = {py != env.end() && !py->second.empty() ? py->second : "python3", "-c", python_wrapper()};
  } else {
    std::string shell;
    const std::optional<Text>& sh = s.shell ? s.shell : (j.shell ? j.shell : w_.shell);
    if (sh) {
      auto r = render_string_lazy(*sh, vars);
      if (!r.ok()) return failed(r.error());
      shell = *r;
    }
    ShellCommand cmd = shell_command(shell, *script, base + ".script");
    if (cmd.needs_file) {
      std::ofstream f(base + ".script", std::ios::binary);
      f << *script;
      if (!f) return failed(Error("cannot write the script file " + base + ".script", "StageError"));
    }
    argv = std::move(cmd.argv);
  }
  SpawnSpec spec{std::move(argv), env_list(env), cwd, deadline, stdin_path};
  if (slurm) return submit_slurm(in, spec, base);
  ProcessId pid = procs_.spawn(spec);
  in.pid = pid;
  by_pid_[pid] = &in;
  // Record the process group so that a later wf can stop it if this one dies.
  if (int os_pid = procs_.os_pid(pid); os_pid > 0) {
    in.stage.external_id = "pid:" + std::to_string(os_pid) + ":" + std::to_string(process_start_ticks(os_pid));
    check(store_.update_stage(in.stage));
  }
  return true;
}

}  // namespace wf
