#include "wf/scheduler.hpp"

#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "run_state.hpp"
#include "stage_exec.hpp"
#include "wf/datetime.hpp"
#include "wf/expr.hpp"
#include "wf/matrix.hpp"
#include "wf/params.hpp"
#include "wf/proc.hpp"
#include "wf/signals.hpp"

namespace wf {

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

Result<double> to_seconds(const Json& v, const std::string& what) {
  std::optional<double> d;
  if (v.is_number()) d = v.get<double>();
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      double x = std::stod(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) d = x;
    } catch (...) {
    }
  }
  // NaN, infinities and spans past any clock (1e308 seconds) would overflow the time points
  // they are added to.
  if (d && std::isfinite(*d) && *d <= kMaxSeconds) return *d;
  return Error(what + " must be a number of seconds up to " + std::to_string(static_cast<long long>(kMaxSeconds)) +
                   " (about 31 years), got " + json_text(v),
               "StageError");
}

double RetryPolicy::delay_before(int n) const {
  double d = !delay ? std::pow(1.2, n) : exponential ? *delay * std::pow(2.0, n - 1) : *delay;
  if (max_delay) d = std::min(d, *max_delay);
  return std::clamp(d, 0.0, kMaxSeconds);  // 2^n grows past any clock
}

Result<RetryPolicy> parse_retry(const Json& v) {
  RetryPolicy p;
  auto count_of = [](const Json& c) -> std::optional<int> {
    if (c.is_number_integer() && c.get<long long>() >= 0) return static_cast<int>(c.get<long long>());
    if (c.is_number_float() && c.get<double>() >= 0 && std::floor(c.get<double>()) == c.get<double>())
      return static_cast<int>(c.get<double>());
    if (c.is_string()) {
      try {
        std::size_t used = 0;
        int n = std::stoi(c.get<std::string>(), &used);
        if (used == c.get<std::string>().size() && n >= 0) return n;
      } catch (...) {
      }
    }
    return std::nullopt;
  };
  if (v.is_null()) return p;
  if (!v.is_object()) {
    auto n = count_of(v);
    if (!n) return Error("retry must be a whole number >= 0, got " + json_text(v), "StageError");
    p.count = *n;
    return p;
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    std::string k = it.key();
    std::replace(k.begin(), k.end(), '_', '-');
    if (k == "count") {
      auto n = count_of(it.value());
      if (!n) return Error("retry.count must be a whole number >= 0, got " + json_text(it.value()), "StageError");
      p.count = *n;
    } else if (k == "delay" || k == "max-delay") {
      auto s = to_seconds(it.value(), "retry." + k);
      if (!s.ok()) return s.error();
      (k == "delay" ? p.delay : p.max_delay) = *s;
    } else if (k == "backoff") {
      std::string b = it.value().is_string() ? it.value().get<std::string>() : "";
      if (b != "fixed" && b != "exponential")
        return Error("retry.backoff must be 'fixed' or 'exponential', got " + json_text(it.value()), "StageError");
      p.exponential = b == "exponential";
    } else {
      return Error("unknown key '" + it.key() + "' in retry (count, delay, backoff, max-delay)", "StageError");
    }
  }
  return p;
}

std::string Run::mask(const std::string& s) const { return secrets_.empty() ? s : mask_text(s, secrets_); }
Json Run::mask(Json j) const { return secrets_.empty() ? j : mask_json(j, secrets_); }

void Run::check(const Result<void>& r) {
  if (!r.ok() && store_error_.message.empty()) store_error_ = r.error();
}

void Run::write_behind() {
  for (const auto& s : ended_stages_) check(store_.update_stage(s));
  ended_stages_.clear();
  for (const auto& r : ended_instances_) check(store_.update_job_instance(r));
  ended_instances_.clear();
}

void Run::remove_spent_files() {
  for (const auto& path : spent_files_) ::unlink(path.c_str());
  spent_files_.clear();
}

void Run::check_id(const Result<std::int64_t>& r, std::int64_t& id) {
  if (r.ok()) id = *r;
  else if (store_error_.message.empty()) store_error_ = r.error();
}

JobInstanceRecord Run::new_instance_record(int job, const std::string& display) const {
  JobInstanceRecord rec;
  rec.run_id = run_.id;
  rec.run_attempt = run_.attempt;
  rec.job = w_.jobs[job].name;
  rec.display_name = display;
  rec.started_at = now_ms();
  return rec;
}

std::map<std::string, std::string> Run::merged_env(const std::map<std::string, std::string>& overlay) const {
  std::map<std::string, std::string> env = base_env_;
  for (const auto& [k, v] : overlay) env[k] = v;
  return env;
}

Json Run::base_vars() const {
  Json v = Json::object();
  v["params"] = params_;
  v["env"] = env_json_;
  v["matrix"] = Json::object();
  v["run"] = {{"id", run_.id}, {"attempt", run_.attempt}, {"workflow", w_.name}};
  v["release"] = {{"logical_date", logical_date_}, {"execute_date", logical_date_}, {"type", opts_.release_type}, {"run_id", run_.id}};
  v["jobs"] = jobs_ns_;
  v["retry"] = 0;
  return v;
}

Json Run::job_vars(int job) const {
  Json v = base_vars();
  Json needs = Json::object();
  for (int n : graph_.needs[job]) {
    // A needed job has finished, so its outputs are in jobs_ns_ (kept once, not per job too).
    static const Json none = Json::object();
    const Json* outputs = &none;
    if (auto done = jobs_ns_.find(w_.jobs[n].name); done != jobs_ns_.end())
      if (auto o = done->find("outputs"); o != done->end()) outputs = &*o;
    needs[w_.jobs[n].name] = {{"result", result_word(status_[n])}, {"outputs", *outputs}, {"legs", legs_json_[n]}};
  }
  v["needs"] = std::move(needs);
  return v;
}

// The scope of a stage: the job's, the stages before it (in its own list and in the lists
// around it), and item/loop/branch/case of the nested stages it is in (innermost wins).
Json Run::stage_vars(const Frame& f) const {
  const Instance& in = *f.in;
  Json v = job_vars(in.job);
  Json& env = v["env"];  // env_json_, from base_vars
  for (auto it = in.env_json.begin(); it != in.env_json.end(); ++it) env[it.key()] = it.value();
  v["matrix"] = in.matrix;
  v["retry"] = f.retries_done;
  if (!f.parent) {
    v["stages"] = f.stages;
    return v;
  }
  std::vector<const Frame*> chain;
  for (const Frame* p = &f; p; p = p->parent) chain.push_back(p);
  Json stages = Json::object();
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (auto s = (*it)->stages.begin(); s != (*it)->stages.end(); ++s) stages[s.key()] = s.value();
    for (auto s = (*it)->scope.begin(); s != (*it)->scope.end(); ++s) v[s.key()] = s.value();
  }
  v["stages"] = std::move(stages);
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

// Renders every string inside a JSON value (a strategy, say); whole templates keep their type.
Result<Json> Run::render_json(const Json& value, const Json& vars) const {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (!has_template(s)) return value;
    return render(Text{s, {}}, vars);
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& e : value) {
      auto r = render_json(e, vars);
      if (!r.ok()) return r;
      out.push_back(*r);
    }
    return out;
  }
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      auto r = render_json(it.value(), vars);
      if (!r.ok()) return r;
      out[it.key()] = *r;
    }
    return out;
  }
  return value;
}

void Run::skip_job(int job, const std::string& reason) {
  JobInstanceRecord rec = new_instance_record(job, w_.jobs[job].name);
  rec.status = reason == "cancelled" ? Status::Cancel : Status::Skip;
  rec.skip_reason = reason;
  rec.finished_at = rec.started_at;
  check_id(store_.insert_job_instance(rec), rec.id);
  JobEvent e{w_.jobs[job].name, rec.status, 0, reason};
  job_events_.push_back(e);
  rep_.job_finished(e);
  if (rep_.wants_result_json())
    result_jobs_[w_.jobs[job].name] = {
        {"status", to_string(rec.status)}, {"reason", reason}, {"outputs", Json::object()}, {"stages", Json::object()}};
  finish_job(job, rec.status, reason, Json::object(), Error());
}

// A job that fails before any leg ran (its `if`, its matrix).
void Run::fail_job_early(int job, const Error& err_in, const std::string& where) {
  const Job& j = w_.jobs[job];
  Error err(mask(err_in.message), err_in.name.empty() ? "TemplateError" : err_in.name);
  JobInstanceRecord rec = new_instance_record(job, j.name);
  rec.status = Status::Failed;
  rec.error_name = err.name;
  rec.error_message = err.message;
  rec.finished_at = rec.started_at;
  check_id(store_.insert_job_instance(rec), rec.id);
  JobEvent e{j.name, Status::Failed, 0, err.name + ": " + err.message};
  job_events_.push_back(e);
  rep_.job_finished(e);
  if (rep_.wants_result_json())
    result_jobs_[j.name] = {{"status", "FAILED"}, {"errors", {{"name", err.name}, {"message", err.message}}},
                            {"outputs", Json::object()}, {"stages", Json::object()}};
  failed_stages_.push_back({j.name, where, err.name + ": " + err.message, {}});
  finish_job(job, Status::Failed, where, Json::object(), err);
}

void Run::finish_job(int job, Status st, const std::string& reason, Json outputs, const Error& err) {
  state_[job] = JobState::Done;
  status_[job] = st;
  reasons_[job] = reason;
  errors_[job] = err;
  ++jobs_done_;
  active_.erase(job);
  Json entry = Json::object();
  entry["status"] = to_string(st);
  entry["outputs"] = std::move(outputs);
  jobs_ns_[w_.jobs[job].name] = std::move(entry);
  for (int d : graph_.dependents[job])
    if (--remaining_needs_[d] == 0 && state_[d] == JobState::Pending) ready_.insert(d);
  if (st == Status::Failed && !w_.jobs[job].continue_on_error && opts_.fail_fast && !cancelling_) {
    fail_fast_hit_ = true;
    cancel_everything("fail-fast: job '" + w_.jobs[job].name + "' failed", false);
  }
}

// Decides ready jobs (they need no slot for that), then starts legs in file order while
// there are slots.
void Run::start_ready_jobs() {
  while (!ready_.empty()) {
    int job = *ready_.begin();
    ready_.erase(ready_.begin());
    if (cancelling_) skip_job(job, "cancelled");
    else decide(job);
  }
  for (auto it = active_.begin(); it != active_.end() && static_cast<int>(running_.size()) < max_parallel_;) {
    int job = *it;
    JobRun& jr = *jobruns_[job];
    while (jr.next_leg < jr.legs.size() && static_cast<int>(running_.size()) < max_parallel_ &&
           (jr.max_parallel <= 0 || jr.running < jr.max_parallel))
      start_instance(job);
    it = jr.next_leg >= jr.legs.size() ? active_.erase(it) : std::next(it);
  }
}

// Trigger rule and `if` (FORMAT §5.2), then the legs to run, or a skip.
void Run::decide(int job) {
  const Job& j = w_.jobs[job];
  if (excluded_[job]) return skip_job(job, "excluded");
  if (!selected_[job]) return skip_job(job, "not selected");
  if (opts_.resume && opts_.resume->kept_whole.count(j.name)) {
    // Succeeded in an earlier attempt: its legs are recorded again with their outputs.
    auto jr = std::make_unique<JobRun>();
    jr->started = Clock::now();
    for (const auto& k : opts_.resume->kept.at(j.name)) {
      jr->legs.push_back(k.matrix);
      jr->names.push_back(k.display_name);
    }
    jr->leg_status.assign(jr->legs.size(), Status::Wait);
    jr->leg_outputs.assign(jr->legs.size(), Json::object());
    jobruns_[job] = std::move(jr);
    state_[job] = JobState::Running;
    JobRun& ref = *jobruns_[job];
    while (ref.next_leg < ref.legs.size()) keep_leg(job, ref.next_leg);
    return;
  }
  std::vector<Status> needs;
  for (int n : graph_.needs[job]) needs.push_back(status_[n]);
  auto failed = [](Status s) { return s == Status::Failed || s == Status::Cancel; };
  bool any_failed = std::any_of(needs.begin(), needs.end(), failed);

  // An `if` that calls a status function or reads needs.<job>.result decides on its own.
  bool if_decides = false;
  if (j.if_cond) {
    const std::string& c = j.if_cond->value;
    std::vector<Reference> refs;
    if (has_template(c)) {
      auto tpl = Template::parse(c);
      if (tpl.ok()) {
        if_decides = tpl->calls_status_function();
        refs = tpl->references();
      }
    } else {
      auto e = Expression::parse(c, true);
      if (e.ok()) {
        if_decides = e->calls_status_function();
        refs = e->references();
      }
    }
    for (const auto& r : refs)
      if (r.path.size() >= 3 && r.path[0] == "needs" && r.path[2] == "result") if_decides = true;
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
    if (!r.ok()) return fail_job_early(job, Error(r.error().message, "TemplateError"), "if");
    if (!*r) return skip_job(job, "if");
  }
  auto jr = std::make_unique<JobRun>();
  jr->started = Clock::now();
  if (auto r = expand_legs(job, *jr); !r.ok()) return fail_job_early(job, r.error(), "strategy");
  jr->leg_status.assign(jr->legs.size(), Status::Wait);
  jr->leg_outputs.assign(jr->legs.size(), Json::object());
  jobruns_[job] = std::move(jr);
  state_[job] = JobState::Running;
  active_.insert(job);
}

// The matrix legs of a job (one empty leg without a strategy), rendered with the job's scope
// so that a matrix may come from upstream outputs.
Result<void> Run::expand_legs(int job, JobRun& jr) {
  const Job& j = w_.jobs[job];
  if (!j.strategy.is_object()) {
    jr.legs = {Json::object()};
    jr.names = {j.name};
    return {};
  }
  Json vars = job_vars(job);
  auto strategy = render_json(j.strategy, vars);
  if (!strategy.ok()) return Error(strategy.error().message, "TemplateError");
  Json matrix = Json::object(), include = Json::array(), exclude = Json::array();
  for (auto it = strategy->begin(); it != strategy->end(); ++it) {
    std::string k = it.key();
    std::replace(k.begin(), k.end(), '_', '-');
    if (k == "matrix") matrix = it.value();
    else if (k == "include") include = it.value();
    else if (k == "exclude") exclude = it.value();
    else if (k == "max-parallel") {
      auto n = to_seconds(it.value(), "strategy.max-parallel");
      if (!n.ok() || *n < 0 || std::floor(*n) != *n)
        return Error("strategy.max-parallel must be a whole number >= 0, got " + json_text(it.value()), "StageError");
      jr.max_parallel = static_cast<int>(*n);
    } else if (k == "fail-fast") {
      if (!it.value().is_boolean() && !it.value().is_null())
        return Error("strategy.fail-fast must be true or false, got " + json_text(it.value()), "StageError");
      jr.fail_fast = it.value().is_boolean() && it.value().get<bool>();
    }
  }
  if (matrix.is_null()) matrix = Json::object();
  if (!matrix.is_object())
    return Error("the matrix of job '" + j.name + "' must be a map of keys to lists, got " + json_text(matrix), "StageError");
  auto parts = split_matrix(matrix, j.matrix_keys, include.is_null() ? Json::array() : include,
                            exclude.is_null() ? Json::array() : exclude);
  if (!parts.ok()) return Error(parts.error().message, "StageError");
  auto legs = expand_matrix(*parts, static_cast<std::size_t>(opts_.max_legs));
  if (!legs.ok()) return Error(legs.error().message, "StageError");
  std::vector<std::string> order = matrix_key_order(*parts);
  jr.legs = std::move(*legs);
  for (const auto& leg : jr.legs) jr.names.push_back(leg_display_name(j.name, leg, order));
  return {};
}

// A leg that succeeded in an earlier attempt of this run: recorded again, not executed.
bool Run::keep_leg(int job, std::size_t leg) {
  if (!opts_.resume) return false;
  auto it = opts_.resume->kept.find(w_.jobs[job].name);
  if (it == opts_.resume->kept.end()) return false;
  JobRun& jr = *jobruns_[job];
  for (const auto& k : it->second) {
    if (k.matrix != jr.legs[leg]) continue;
    JobInstanceRecord rec = new_instance_record(job, jr.names[leg]);
    rec.leg = static_cast<int>(leg);
    rec.matrix = mask(jr.legs[leg]);
    rec.status = Status::Success;
    rec.outputs = k.outputs;
    rec.skip_reason = "kept from attempt " + std::to_string(run_.attempt - 1);
    rec.finished_at = rec.started_at;
    check_id(store_.insert_job_instance(rec), rec.id);
    JobEvent e{rec.display_name, Status::Success, 0, rec.skip_reason, jr.several_legs()};
    job_events_.push_back(e);
    rep_.job_finished(e);
    if (rep_.wants_result_json())
      result_jobs_[rec.display_name] = {{"status", "SUCCESS"}, {"outputs", k.outputs}, {"kept", true}};
    ++jr.next_leg;
    leg_finished(job, static_cast<int>(leg), rec.display_name, Status::Success, k.outputs, Error(), false);
    return true;
  }
  return false;
}

void Run::start_instance(int job) {
  const Job& j = w_.jobs[job];
  JobRun& jr = *jobruns_[job];
  if (keep_leg(job, jr.next_leg)) return;
  auto in = std::make_unique<Instance>();
  in->job = job;
  in->leg = static_cast<int>(jr.next_leg++);
  in->matrix = jr.legs[in->leg];
  in->started = Clock::now();
  in->rec = new_instance_record(job, jr.names[in->leg]);
  in->rec.leg = in->leg;
  in->rec.matrix = mask(in->matrix);
  for (auto it = in->matrix.begin(); it != in->matrix.end(); ++it)
    in->env[matrix_env_name(it.key())] = to_text(it.value());
  ++jr.running;
  Error setup_error;
  if (!j.env.empty()) {
    Json vars = job_vars(job);
    vars["matrix"] = in->matrix;
    for (const auto& [k, v] : j.env) {
      auto r = render_string(v, vars);  // vars["env"]: env_json_ and the job env so far
      if (!r.ok()) {
        setup_error = r.error();
        break;
      }
      in->env[k] = *r;
      in->env_json[k] = *r;
      vars["env"][k] = *r;
    }
  }
  if (j.timeout && setup_error.message.empty()) {
    Json vars = job_vars(job);
    vars["matrix"] = in->matrix;
    auto r = render(*j.timeout, vars);
    Result<double> secs = r.ok() ? to_seconds(*r, "job timeout") : Result<double>(r.error());
    if (!secs.ok()) setup_error = secs.error();
    else if (*secs > 0)
      in->deadline = in->started + std::chrono::milliseconds(static_cast<long long>(*secs * 1000));
  }
  // Its row is written with its first stage's (record_stage_start), after that stage's spawn.
  Instance* raw = in.get();
  raw->root.in = raw;
  raw->root.list = &j.stages;
  running_.push_back(std::move(in));
  if (!setup_error.message.empty()) {
    Frame& f = raw->root;
    f.failed = true;
    f.error = Error(mask(setup_error.message), setup_error.name.empty() ? "TemplateError" : setup_error.name);
    f.next_stage = j.stages.size();
    failed_stages_.push_back({raw->rec.display_name, "(job)", f.error.name + ": " + f.error.message, {}});
  }
}

// One leg ended (its instance is already recorded); the job ends with its last leg.
void Run::leg_finished(int job, int leg, const std::string& display, Status st, Json outputs,
                       const Error& err, bool was_running) {
  JobRun& jr = *jobruns_[job];
  jr.leg_status[leg] = st;
  jr.leg_outputs[leg] = std::move(outputs);
  if (was_running) --jr.running;
  ++jr.legs_done;
  if (st == Status::Failed && jr.first_error.message.empty()) jr.first_error = err;
  if (st == Status::Failed && jr.fail_fast && jr.legs_done < jr.legs.size())
    cancel_job_legs(job, "fail-fast: leg '" + display + "' failed");
  if (jr.legs_done < jr.legs.size()) return;

  const Job& j = w_.jobs[job];
  Json merged = Json::object();
  Json legs = Json::array();
  for (std::size_t i = 0; i < jr.legs.size(); ++i) {
    for (auto it = jr.leg_outputs[i].begin(); it != jr.leg_outputs[i].end(); ++it) merged[it.key()] = it.value();
    // Built in place, the leg's outputs moved (an initializer list would copy them).
    Json entry = Json::object();
    entry["matrix"] = mask(jr.legs[i]);
    entry["result"] = result_word(jr.leg_status[i]);
    entry["outputs"] = std::move(jr.leg_outputs[i]);
    legs.push_back(std::move(entry));
  }
  legs_json_[job] = std::move(legs);
  const Json& legs_ref = legs_json_[job];
  Status total = aggregate(jr.leg_status);
  if (jr.several_legs() || j.strategy.is_object()) {
    JobEvent e{j.name, total, seconds_since(jr.started), total == Status::Failed ? jr.first_error.name + ": " + jr.first_error.message : ""};
    if (jr.several_legs()) {
      job_events_.push_back(e);
      rep_.job_finished(e);
    }
    Json jr_json = {{"status", to_string(total)}, {"outputs", merged}, {"legs", legs_ref}};
    if (total == Status::Failed) jr_json["errors"] = {{"name", jr.first_error.name}, {"message", jr.first_error.message}};
    if (jr.several_legs() && rep_.wants_result_json()) result_jobs_[j.name] = jr_json;
  }
  finish_job(job, total, "", std::move(merged), jr.first_error);
}

// Stops the running legs of one job and records its unstarted legs as CANCEL.
void Run::cancel_job_legs(int job, const std::string& reason) {
  JobRun& jr = *jobruns_[job];
  while (jr.next_leg < jr.legs.size()) {
    std::size_t leg = jr.next_leg++;
    JobInstanceRecord rec = new_instance_record(job, jr.names[leg]);
    rec.leg = static_cast<int>(leg);
    rec.matrix = mask(jr.legs[leg]);
    rec.status = Status::Cancel;
    rec.skip_reason = "cancelled";
    rec.error_name = "CancelError";
    rec.error_message = reason;
    rec.finished_at = rec.started_at;
    check_id(store_.insert_job_instance(rec), rec.id);
    jr.leg_status[leg] = Status::Cancel;
    ++jr.legs_done;
    JobEvent e{rec.display_name, Status::Cancel, 0, "cancelled", jr.several_legs()};
    job_events_.push_back(e);
    rep_.job_finished(e);
  }
  active_.erase(job);
  for (auto& p : running_)
    if (p->job == job) cancel_instance(*p, reason, false);
}

void Run::cancel_everything(const std::string& reason, bool immediate) {
  if (!cancelling_) {
    cancelling_ = true;
    cancel_reason_ = reason;
  }
  for (int job : std::vector<int>(active_.begin(), active_.end())) {
    JobRun& jr = *jobruns_[job];
    if (jr.next_leg < jr.legs.size()) cancel_job_legs(job, reason);
  }
  procs_.cancel_all(immediate);
  for (auto& p : running_) cancel_instance(*p, reason, immediate);
}

void Run::check_stops(Clock::time_point now) {
  int cr = cancel_request_count();
  if (cr > seen_cancels_) {
    seen_cancels_ = cr;
    cancel_requested_ = true;
    cancel_everything("cancelled by 'wf cancel'", false);
  }
  int ic = interrupt_count();
  if (ic > seen_interrupts_) {
    seen_interrupts_ = ic;
    cancel_everything(std::string("interrupted by ") + (first_interrupt_signal() == SIGTERM ? "SIGTERM" : "SIGINT"),
                      ic >= 2);
  }
  if (!store_error_.message.empty() && !cancelling_) {
    // What runs on could not be recorded (nor rerun from the record): stop.
    cancel_everything("cannot record the run's state: " + store_error_.message, false);
  }
  if (deadline_ && !cancelling_ && now >= *deadline_) {
    timed_out_ = true;
    cancel_everything("workflow timeout of " + std::to_string(timeout_seconds_) + "s reached", false);
  }
}

bool Run::stop_pending() {
  take_pending_signals();
  return cancel_request_count() > seen_cancels_ || interrupt_count() > seen_interrupts_ ||
         (!cancelling_ && (!store_error_.message.empty() || (deadline_ && Clock::now() >= *deadline_)));
}

Result<RunOutcome> Run::execute() {
  started_ = Clock::now();
  base_env_ = env_map(opts_.base_env);
  graph_ = build_job_graph(w_);
  std::size_t n = w_.jobs.size();
  state_.assign(n, JobState::Pending);
  status_.assign(n, Status::Wait);
  reasons_.assign(n, "");
  errors_.assign(n, Error());
  remaining_needs_.assign(n, 0);
  legs_json_.assign(n, Json::array());
  jobruns_.clear();
  jobruns_.resize(n);
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
  timeout_seconds_ = opts_.timeout_seconds.value_or(3600);
  if (timeout_seconds_ > 0) deadline_ = started_ + std::chrono::seconds(timeout_seconds_);

  auto now_sys = std::chrono::floor<std::chrono::minutes>(std::chrono::system_clock::now());
  logical_date_ = opts_.logical_date.empty()
                      ? format_iso_datetime(std::chrono::time_point_cast<std::chrono::seconds>(now_sys))
                      : opts_.logical_date;

  // The run record comes first: nothing runs before it is committed.
  run_.id = opts_.run_id.empty() ? new_run_id() : opts_.run_id;
  run_.parent_run_id = opts_.parent_run_id;
  run_.workflow = w_.name;
  run_.file_path = w_.file;
  run_.spec_text = spec_text_;
  run_.spec_hash = std::to_string(std::hash<std::string>{}(spec_text_));
  run_.params = masked_params_;
  run_.status = Status::Wait;
  run_.attempt = 1;
  run_.created_at = run_.started_at = now_ms();
  run_.pid = static_cast<int>(::getpid());
  run_.pid_start = process_start_ticks(run_.pid);
  run_.host = this_host();
  if (const char* u = ::getenv("USER")) run_.user = u;
  if (run_.user.empty())
    if (const struct passwd* pw = ::getpwuid(::getuid())) run_.user = pw->pw_name;
  run_.command_line = mask(opts_.command_line);

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
    base_env_kv_ = env_list(base_env_);
    if (w_.run_name) {
      auto r = render_string(*w_.run_name, base_vars());
      if (!r.ok()) return Error("run-name: " + r.error().message, "TemplateError");
      run_.run_name = mask(*r);
    }
  }

  if (opts_.resume) {
    // A new attempt of a stored run: same id, next attempt number.
    RunRecord fresh = run_;
    run_ = opts_.resume->run;
    run_.status = Status::Wait;
    run_.error_name.clear();
    run_.error_message.clear();
    run_.exit_code = -1;
    run_.started_at = fresh.started_at;
    run_.finished_at = 0;
    run_.pid = fresh.pid;
    run_.pid_start = fresh.pid_start;
    run_.host = fresh.host;
    run_.user = fresh.user;
    run_.command_line = fresh.command_line;
    run_.spec_text = spec_text_;
    run_.params = masked_params_;
    if (!fresh.run_name.empty()) run_.run_name = fresh.run_name;
    RunStore::Transaction txn(store_);
    if (auto r = store_.update_run_snapshot(run_); !r.ok()) return r.error();
    if (auto r = store_.update_run(run_); !r.ok()) return r.error();
    if (auto r = txn.commit(); !r.ok()) return r.error();
  } else if (auto r = store_.insert_run(run_); !r.ok()) {
    return r.error();
  }

  tmp_dir_ = make_run_temp_dir(run_.id);
  if (tmp_dir_.empty()) return Error("cannot create a temporary directory: " + std::string(std::strerror(errno)));
  // Recorded, so that recovery after a crash finds it whatever $TMPDIR the next wf has.
  check(store_.set_run_temp_dir(run_.id, tmp_dir_));

  rep_.run_started(run_.id, w_.name, run_.run_name);
  // Output goes to the reporter as it comes and to the state file once per loop pass, so
  // that `wf logs -f` in another shell follows it.
  auto on_line = [this](ProcessId pid, StreamKind k, std::string_view line) {
    auto it = by_pid_.find(pid);
    if (it == by_pid_.end()) return;
    Frame& f = *it->second;
    std::string text = secrets_.empty() ? std::string(line) : mask(std::string(line));
    rep_.stage_output(f.in->rec.display_name, f.stage_name, k == StreamKind::Stderr, text);
    (k == StreamKind::Stderr ? f.pending_err : f.pending_out) += text + "\n";
  };
  procs_.set_line_callback(on_line);
  slurm_.set_line_callback(on_line);
  prepare_slurm();

  for (std::size_t i = 0; i < n; ++i) {
    remaining_needs_[i] = static_cast<int>(graph_.needs[i].size());
    if (remaining_needs_[i] == 0) ready_.insert(static_cast<int>(i));
  }

  seen_interrupts_ = 0;
  seen_cancels_ = cancel_request_count();
  // One transaction per loop pass: what the wait brought (exits, timers, logs) and the stages
  // started because of it are committed together, after the spawns, so the write overlaps
  // the children's run instead of delaying them.
  std::optional<RunStore::Transaction> pass;
  while (true) {
    {
      if (!pass) pass.emplace(store_);
      start_ready_jobs();
      // Advance every instance (those waiting on a process or timer return at once).
      for (std::size_t i = 0; i < running_.size();) {
        Instance* in = running_[i].get();
        std::size_t before = running_.size();
        advance(*in);
        // advance may have removed it from running_.
        if (i < running_.size() && running_[i].get() == in) ++i;
        if (running_.size() < before) start_ready_jobs();
      }
      write_behind();
      check(pass->commit());
      pass.reset();
      remove_spent_files();
      rep_.flush();
    }
    if (jobs_done_ >= jobs_total_ && running_.empty()) break;
    if (running_.empty() && ready_.empty()) break;  // nothing can make progress

    std::optional<Clock::time_point> until;
    for (const auto& p : running_)
      for_each_frame(p->root, [&](Frame& f) {
        if (f.timer && (!until || *f.timer < *until)) until = *f.timer;
      });
    if (deadline_ && !cancelling_ && (!until || *deadline_ < *until)) until = deadline_;
    if (auto every = rep_.tick_interval(); every.count() > 0) {
      auto t = Clock::now() + every;
      if (!until || t < *until) until = t;
    }
    if (slurm_.running() > 0 && (!until || slurm_.next_poll() < *until)) until = slurm_.next_poll();
    std::vector<ProcessExit> exits;
    if (procs_.running() == 0) {
      // Only timers (sleep stages, retry delays): sleep until the first, waking for signals.
      if (until && *until > Clock::now()) {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(*until - Clock::now()).count();
        struct timespec ts {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
        ::ppoll(nullptr, 0, &ts, signal_handlers_installed() ? wait_sigmask() : nullptr);
      }
    } else {
      exits = procs_.wait(until);
    }
    if (slurm_.running() > 0)
      for (auto& e : slurm_.poll()) exits.push_back(std::move(e));

    pass.emplace(store_);
    rep_.tick();
    for (const auto& e : exits) on_exit(e);
    auto now = Clock::now();
    for (std::size_t i = 0; i < running_.size(); ++i)
      for_each_frame(running_[i]->root, [&](Frame& f) {
        if (f.timer && *f.timer <= now) on_timer(f);
      });
    check_stops(now);
    for (auto& p : running_) flush_logs(p->root);
  }
  write_behind();  // empty here: every pass ends with it
  remove_spent_files();
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
  if (seen_interrupts_ > 0) {
    final_status = Status::Cancel;
    run_.error_name = "CancelError";
    run_.error_message = cancel_reason_;
    exit_code = sig == SIGTERM ? 143 : 130;
  } else if (cancel_requested_) {
    final_status = Status::Cancel;
    run_.error_name = "CancelError";
    run_.error_message = cancel_reason_;
    exit_code = 3;
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
  const bool state_failed = !store_error_.message.empty();
  if (state_failed) {
    // A write was lost: the record cannot say the run succeeded. Close what it left open, so
    // that a rerun starts again from the records that did land.
    final_status = Status::Failed;
    exit_code = 4;
    run_.error_name = "StateError";
    run_.error_message = store_error_.message;
  }
  run_.status = final_status;
  run_.exit_code = exit_code;
  run_.finished_at = now_ms();
  Result<void> saved = ok();
  if (state_failed)
    saved = store_.close_open_records(run_.id, run_.attempt, "StateError",
                                      "not recorded: " + store_error_.message, run_.finished_at);
  if (saved.ok()) saved = store_.update_run(run_);
  if (saved.ok() && state_failed) saved = store_error_;

  remove_slurm_files();
  std::error_code ec;
  if (!tmp_dir_.empty()) {
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
  if (rep_.wants_result_json()) {
    Json result = {{"run_id", run_.id},
                   {"workflow", w_.name},
                   {"status", to_string(final_status)},
                   {"exit_code", exit_code},
                   {"params", masked_params_},
                   {"started_at", run_.started_at},
                   {"finished_at", run_.finished_at},
                   {"duration", sum.seconds},
                   {"jobs", std::move(result_jobs_)}};
    if (!run_.run_name.empty()) result["run_name"] = run_.run_name;
    if (!run_.error_name.empty()) result["errors"] = {{"name", run_.error_name}, {"message", run_.error_message}};
    sum.result_json = json_text(result);
  }
  rep_.run_finished(sum);
  if (!saved.ok()) return saved.error();
  return RunOutcome{run_.id, final_status, exit_code};
}

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
