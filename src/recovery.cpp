#include "wf/recovery.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "stage_exec.hpp"

namespace wf {

bool run_process_alive(const RunRecord& r) {
  if (r.pid <= 0) return false;
  std::int64_t start = process_start_ticks(r.pid);
  return start != 0 && (r.pid_start == 0 || start == r.pid_start);
}

namespace {

// A local stage process's group, from "pid:<pid>:<start ticks>" as recorded; 0 if the
// record names no group of ours any more.
pid_t leftover_group(const std::string& external_id) {
  int pid = 0;
  long long start = 0;
  if (std::sscanf(external_id.c_str(), "pid:%d:%lld", &pid, &start) != 2 || pid <= 1) return 0;
  // The group outlives its leader while members (background children) remain, and its id
  // cannot be reused until they are gone. A live process with that pid but another start
  // time means the pid was reused for a new group: leave that alone.
  std::int64_t now = process_start_ticks(pid);
  if (now != 0 && now != start) return 0;
  return pid;
}

// SIGKILLs what SIGTERM left of the groups after a grace of up to 500 ms; runs after the
// closing commit, so that no other wf waits on the state file meanwhile.
void finish_off_groups(const std::vector<pid_t>& groups) {
  for (int i = 0; i < 20; ++i) {
    bool any = false;
    for (pid_t g : groups) any = any || ::kill(-g, 0) == 0;
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  for (pid_t g : groups) ::kill(-g, SIGKILL);
}

TimeMs now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<int> close_interrupted_runs(RunStore& store) {
  RunFilter f;
  f.status = Status::Wait;
  f.limit = 0;
  auto runs = store.list_runs(f);
  if (!runs.ok()) return runs.error();
  std::string host = this_host();
  int closed = 0;
  for (const auto& listed : *runs) {
    if (!listed.host.empty() && listed.host != host) continue;  // another machine's run: not ours to judge
    if (run_process_alive(listed)) continue;
    // Judge again under the write lock: between the list and now the run may have finished,
    // or a rerun may have taken it up; its record must not be overwritten with a stale copy.
    RunStore::Transaction txn(store);
    auto locked = store.lock_run(listed.id);
    if (!locked.ok()) return locked.error();
    if (!*locked) continue;
    RunRecord r = std::move(**locked);
    if (r.status != Status::Wait || run_process_alive(r)) continue;  // the transaction rolls back
    if (!r.host.empty() && r.host != host) continue;
    auto instances = store.job_instances(r.id, r.attempt);
    if (!instances.ok()) return instances.error();
    TimeMs now = now_millis();
    std::vector<pid_t> groups;
    for (auto ji : *instances) {
      auto stages = store.stages(ji.id);
      if (!stages.ok()) return stages.error();
      for (auto s : *stages) {
        if (s.status != Status::Wait) continue;
        s.status = Status::Cancel;
        s.error_name = "Interrupted";
        s.error_message = "wf (pid " + std::to_string(r.pid) + ") stopped while this stage ran";
        if (s.external_id.rfind("slurm:", 0) == 0) {
          // Not ours to stop: the Slurm job runs on and a rerun collects its result.
          std::string job = s.external_id.substr(6, s.external_id.find(':', 6) - 6);
          s.error_message += "; its Slurm job " + job + " was left to finish ('wf rerun " + r.id + "' collects it)";
        } else if (pid_t g = leftover_group(s.external_id); g > 0 && ::kill(-g, SIGTERM) == 0) {
          groups.push_back(g);  // a group that is gone already has nothing to wait for
        }
        s.finished_at = now;
        if (auto u = store.update_stage(s); !u.ok()) return u.error();
      }
      if (ji.status != Status::Wait) continue;
      ji.status = Status::Cancel;
      ji.error_name = "Interrupted";
      ji.error_message = "wf (pid " + std::to_string(r.pid) + ") stopped while this job ran";
      ji.finished_at = now;
      if (auto u = store.update_job_instance(ji); !u.ok()) return u.error();
    }
    r.status = Status::Cancel;
    r.error_name = "Interrupted";
    r.error_message = "wf (pid " + std::to_string(r.pid) + ") stopped before the run finished";
    r.finished_at = now;
    if (auto u = store.update_run(r); !u.ok()) return u.error();
    if (auto c = txn.commit(); !c.ok()) return c.error();
    finish_off_groups(groups);
    // Its scripts and $WF_OUTPUT files (in memory, usually). A state file that cannot say
    // where they are still has them looked for under the usual roots.
    auto dir = store.run_temp_dir(r.id);
    remove_run_temp_dir(r.id, dir.ok() ? *dir : std::string());
    ++closed;
  }
  return closed;
}

std::string slurm_stage_key(const std::string& instance, int stage_index, const std::string& stage_key,
                            int stage_attempt) {
  return instance + '\x1f' + std::to_string(stage_index) + '\x1f' + stage_key + '\x1f' + std::to_string(stage_attempt);
}

Result<std::map<std::string, std::string>> slurm_jobs_to_reattach(RunStore& store, const std::string& run_id,
                                                                  int attempt) {
  std::map<std::string, std::string> out;
  auto instances = store.job_instances(run_id, attempt);
  if (!instances.ok()) return instances.error();
  for (const auto& ji : *instances) {
    if (ji.error_name != "Interrupted") continue;
    auto stages = store.stages(ji.id);
    if (!stages.ok()) return stages.error();
    for (const auto& s : *stages) {
      if (s.external_id.rfind("slurm:", 0) != 0) continue;
      bool ran_out = s.status == Status::Success || (s.status == Status::Failed && s.exit_code >= 0);
      if (ran_out || s.error_name == "Interrupted")
        out[slurm_stage_key(ji.display_name, s.index, s.label.empty() ? s.stage_key : s.label + "/" + s.stage_key, s.attempt)] =
            s.external_id;
    }
  }
  return out;
}

}  // namespace wf
