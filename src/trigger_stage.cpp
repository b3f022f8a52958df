// Trigger stages (FORMAT §6): another workflow runs as a child `wf run` process with its own
// run id and parent_run_id, in the same state file. Being a process of this wf's ProcessSet,
// it shares cancel (SIGTERM to its group; the child records CANCEL) and timeouts (its deadline
// is the stage's, and the child's own --timeout is what is left of it).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "run_state.hpp"
#include "stage_exec.hpp"
#include "wf/diagnostic.hpp"
#include "wf/yaml_loader.hpp"

namespace wf {

namespace {

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "wf";
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

bool Run::start_trigger(Frame& f, const Stage& s, const std::function<const Json&()>& vars,
                        std::optional<Clock::time_point> deadline) {
  Instance& in = *f.in;
  auto failed = [&](const Error& e) {
    end_stage(f, Status::Failed, e, Json::object(), -1);
    return false;
  };
  auto name = render_string_lazy(s.trigger, vars);
  if (!name.ok()) return failed(name.error());
  std::vector<std::string> chain = opts_.trigger_chain;
  chain.push_back(w_.name);
  if (std::find(chain.begin(), chain.end(), *name) != chain.end()) {
    std::string path;
    for (const auto& c : chain) path += c + " -> ";
    return failed(Error("trigger cycle: " + path + *name, "TriggerError"));
  }
  auto params = render_json(s.trigger_params, json_text(s.trigger_params).find("${{") == std::string::npos ? Json::object() : vars());
  if (!params.ok()) return failed(params.error());

  // The child of an earlier attempt of this stage (wf rerun): rerun it, so that only its
  // failed parts run again.
  std::string previous;
  if (run_.attempt > 1) {
    auto instances = store_.job_instances(run_.id);
    if (instances.ok()) {
      for (auto it = instances->rbegin(); it != instances->rend() && previous.empty(); ++it) {
        if (it->run_attempt >= run_.attempt || it->display_name != in.rec.display_name) continue;
        auto stages = store_.stages(it->id);
        if (!stages.ok()) continue;
        for (auto st = stages->rbegin(); st != stages->rend(); ++st)
          if (st->stage_key == f.stage.stage_key && st->label == f.label && st->external_id.rfind("run:", 0) == 0) {
            previous = st->external_id.substr(4);
            break;
          }
      }
    }
  }

  // The workflow is looked up in this run's file first, then in the config path.
  if (!file_workflows_) {  // read once per run
    file_workflows_.emplace();
    DiagnosticList diags;
    for (const auto& other : load_workflow_text(w_.file, spec_text_, diags).workflows)
      file_workflows_->insert(other.name);
  }
  std::vector<std::string> target = {*name};
  if (file_workflows_->count(*name)) target = {w_.file, *name};

  std::vector<std::string> argv = {self_exe()};
  argv.push_back("--state-dir");
  argv.push_back(opts_.state_dir);
  for (const auto& c : opts_.conf_dirs) {
    argv.push_back("--conf");
    argv.push_back(c);
  }
  std::string child = previous.empty() ? new_run_id() : previous;
  if (previous.empty()) {
    argv.push_back("run");
    argv.insert(argv.end(), target.begin(), target.end());
    f.trigger_params = stage_files_base() + ".params.json";
    if (!write_file(f.trigger_params, params->dump(-1, ' ', false, Json::error_handler_t::replace)))
      return failed(Error("cannot write " + f.trigger_params, "StageError"));
    argv.push_back("--params-file");
    argv.push_back(f.trigger_params);
  } else {
    argv.push_back("rerun");
    argv.push_back(previous);
  }
  argv.push_back("-j");
  argv.push_back(std::to_string(max_parallel_));
  argv.push_back("--kill-grace");
  argv.push_back(std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(opts_.kill_grace).count() / 1000.0));
  if (deadline) {
    auto left = std::chrono::duration<double>(*deadline - Clock::now()).count();
    argv.push_back("--timeout");
    argv.push_back(std::to_string(std::max(1, static_cast<int>(std::ceil(left)))));
  }
  std::map<std::string, std::string> env = merged_env(in.env);
  for (const auto& [k, t] : s.env) {
    auto r = render_string_lazy(t, vars);
    if (!r.ok()) return failed(r.error());
    env[k] = *r;
  }
  std::string chain_text;
  for (const auto& c : chain) chain_text += (chain_text.empty() ? "" : "\n") + c;
  env["WF_TRIGGER_CHAIN"] = chain_text;
  env["WF_PARENT_RUN_ID"] = run_.id;
  if (previous.empty()) env["WF_TRIGGER_RUN_ID"] = child;
  env.erase("NO_COLOR");

  f.trigger_run = child;
  SpawnSpec spec{std::move(argv), env_list(env), opts_.cwd, deadline, "", {}};
  ProcessId pid = procs_.spawn(spec);
  f.pid = pid;
  by_pid_[pid] = &f;
  // The child run id goes to the store now, so `wf show` and a later rerun find it.
  f.stage.external_id = "run:" + child;
  check(store_.update_stage(f.stage));
  return true;
}

void Run::trigger_exit(Frame& f, const ProcessExit& e) {
  flush_logs(f);
  if (!f.trigger_params.empty()) spent_files_.push_back(f.trigger_params);
  const std::string& child = f.trigger_run;
  const std::string name = f.current().trigger.value;
  Json outputs = {{"run_id", child}};
  auto run = store_.find_run(child);
  std::string failures;
  if (run.ok()) {
    outputs["params"] = run->params;
    outputs["status"] = to_string(run->status);
    Json jobs = Json::object();
    auto instances = store_.job_instances(child, run->attempt);
    if (instances.ok())
      for (const auto& ji : *instances) {
        jobs[ji.display_name] = {{"status", to_string(ji.status)}, {"outputs", ji.outputs}};
        if (ji.status == Status::Failed)
          failures += (failures.empty() ? "" : "; ") + ji.display_name + ": " + ji.error_name + ": " + ji.error_message;
      }
    outputs["jobs"] = jobs;
  }
  if (!e.spawn_error.empty()) return end_stage(f, Status::Failed, Error(e.spawn_error, "StageError"), outputs, -1);
  if (e.timed_out)
    return end_stage(f, Status::Failed,
                     Error(std::string(f.stage_timed_by_job ? "job" : "stage") + " timed out; run " + child +
                               " was stopped",
                           "TimeoutError"),
                     outputs, -1);
  if (e.cancelled) {
    return end_stage(f, Status::Cancel, cancel_error(f), outputs, -1);
  }
  if (e.term_signal == 0 && e.exit_code == 0) return end_stage(f, Status::Success, Error(), outputs, 0);
  std::string msg;
  if (!run.ok()) {
    msg = "workflow '" + name + "' did not start";
    auto tail = last_lines(mask(e.err), 3);
    for (std::size_t i = 0; i < tail.size(); ++i) msg += (i ? "\n" : ": ") + tail[i];
  } else {
    msg = "run " + child + " of workflow '" + run->workflow + "' ended " + to_string(run->status);
    if (!failures.empty()) msg += ": " + failures;
    else if (!run->error_message.empty()) msg += ": " + run->error_name + ": " + run->error_message;
  }
  f.last_tail = last_lines(mask(e.out + e.err), 20);
  end_stage(f, Status::Failed, Error(msg, "TriggerError"), outputs, e.term_signal == 0 ? e.exit_code : -1);
}

}  // namespace wf
