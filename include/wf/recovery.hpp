// Crash recovery: runs left as WAIT by a wf process that no longer exists (kill -9, power
// loss, OOM) are found by pid plus process start time plus host (so a reused pid is not
// mistaken for the run's process), and recorded as CANCEL with error `Interrupted`. Stage
// processes such a wf left behind (their process groups are recorded) are killed, so they
// never keep running unnoticed and a rerun cannot race them.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "wf/proc.hpp"
#include "wf/result.hpp"
#include "wf/run_store.hpp"

namespace wf {

// True when the run's recorded process (on this host) still runs.
bool run_process_alive(const RunRecord& r);

// Marks every WAIT run of this host whose process is gone as CANCEL/Interrupted, with its
// unfinished job instances and stages; returns how many runs it closed. Slurm jobs of such
// stages (external id "slurm:...") are left alone: they run on, and `wf rerun` collects them.
Result<int> close_interrupted_runs(RunStore& store);

// The Slurm jobs a rerun attaches to instead of submitting their stage again (FORMAT §9.1):
// from the job instances of `attempt` that were interrupted, each stage attempt that has a
// Slurm job and was not ended by wf itself (it ran to an exit code, or wf died while it ran).
// Keyed by slurm_stage_key(); the value is the stage's external id.
Result<std::map<std::string, std::string>> slurm_jobs_to_reattach(RunStore& store, const std::string& run_id,
                                                                  int attempt);
std::string slurm_stage_key(const std::string& instance, int stage_index, const std::string& stage_key,
                            int stage_attempt);

}  // namespace wf
