// The Run's part for stages of jobs with `runs-on: slurm` (FORMAT §11): where their files go,
// submitting them through the SlurmSet with the job id committed at once, and, on a rerun,
// attaching to the Slurm jobs of the interrupted attempt instead of submitting again.
// start_process builds the command as for a local stage and hands it over here.
#include <algorithm>
#include <filesystem>

#include "run_state.hpp"
#include "wf/recovery.hpp"

namespace wf {

// On a rerun: which stages of the interrupted attempt have Slurm jobs to collect.
void Run::prepare_slurm() {
  if (!opts_.resume || run_.attempt <= 1) return;
  if (std::none_of(w_.jobs.begin(), w_.jobs.end(), [](const Job& j) { return runs_on_slurm(j.runs_on); })) return;
  auto found = slurm_jobs_to_reattach(store_, run_.id, run_.attempt - 1);
  if (!found.ok()) return check(found.error());
  if (opts_.resume->run.spec_text != spec_text_) {
    // --use-current-spec with a changed file: a stage at the same place may run another
    // command now. Submit everything anew, and stop what the interrupted attempt left.
    std::vector<std::string> ids;
    for (const auto& [key, external_id] : *found)
      if (auto ref = parse_slurm_external_id(external_id)) ids.push_back(ref->job_id);
    scancel_jobs(ids);
    return;
  }
  slurm_reattach_ = std::move(*found);
}

// "<state dir>/slurm/<run id>/<stage id>": files that outlive this wf.
Result<std::string> Run::slurm_stage_base(const Frame& f) {
  std::string dir = slurm_run_dir(store_.path(), run_.id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  // The job scripts hold the stage's environment: for the owner only.
  if (!ec) std::filesystem::permissions(std::filesystem::path(dir).parent_path(), std::filesystem::perms::owner_all, ec);
  if (ec) return Error("cannot create the directory for Slurm job files " + dir + ": " + ec.message(), "StageError");
  return dir + "/" + std::to_string(f.stage.id);
}

// True when the stage is now waiting on the Slurm job an interrupted attempt left.
// Nested stages are told apart by their branch/item/loop label.
bool Run::reattach_slurm(Frame& f, std::optional<Clock::time_point> deadline) {
  const std::string key = f.label.empty() ? f.stage.stage_key : f.label + "/" + f.stage.stage_key;
  auto it = slurm_reattach_.find(slurm_stage_key(f.in->rec.display_name, f.stage.index, key, f.stage.attempt));
  if (it == slurm_reattach_.end()) return false;
  std::string external_id = it->second;
  slurm_reattach_.erase(it);  // once: a later retry of the stage is submitted anew
  auto ref = parse_slurm_external_id(external_id);
  if (!ref) return false;
  SlurmFiles files{ref->base};
  if (!std::filesystem::exists(files.script())) {
    scancel_jobs({ref->job_id});  // its files are gone: submit anew, and stop the old one
    return false;
  }
  ProcessId id = slurm_.attach(ref->job_id, files, deadline);
  f.output_file = files.base + ".out";
  f.pid = id;
  by_pid_[id] = &f;
  f.stage.external_id = external_id;
  check(store_.update_stage(f.stage));
  return true;
}

bool Run::submit_slurm(Frame& f, const SpawnSpec& spec, const std::string& base) {
  auto args = sbatch_options(w_.jobs[f.in->job].runs_on);
  if (!args.ok()) {
    end_stage(f, Status::Failed, Error(args.error().message, "StageError"), Json::object(), -1);
    return false;
  }
  // The job name carries the run id, so that `squeue -n`/`sacct` find a run's jobs.
  std::string name = "wf." + run_.id + "." + std::to_string(f.stage.id);
  SlurmSubmission sub = slurm_.submit(spec, SlurmFiles{base}, name, *args);
  f.pid = sub.id;
  by_pid_[sub.id] = &f;
  if (!sub.job_id.empty()) {
    f.stage.external_id = slurm_external_id(sub.job_id, base);
    check(store_.update_stage(f.stage));
    check(store_.checkpoint());  // a wf killed from here on must not submit it again
  }
  return true;
}

// At the end of a run: its Slurm jobs all ended, their results are in the run store. Jobs an
// interrupted attempt left that this attempt did not get to (cancelled before, or a changed
// spec) are cancelled, so that nothing runs on unnoticed, as recovery does for local stages.
void Run::remove_slurm_files() {
  if (slurm_.running() > 0) return;
  if (std::none_of(w_.jobs.begin(), w_.jobs.end(), [](const Job& j) { return runs_on_slurm(j.runs_on); })) return;
  std::vector<std::string> leftovers;
  for (const auto& [key, external_id] : slurm_reattach_)
    if (auto ref = parse_slurm_external_id(external_id)) leftovers.push_back(ref->job_id);
  scancel_jobs(leftovers);
  std::error_code ec;
  std::filesystem::remove_all(slurm_run_dir(store_.path(), run_.id), ec);
}

}  // namespace wf
