// Crash recovery: runs left as WAIT by a wf process that no longer exists (kill -9, power
// loss, OOM) are found by pid plus process start time plus host (so a reused pid is not
// mistaken for the run's process), and recorded as CANCEL with error `Interrupted`. Stage
// processes such a wf left behind (their process groups are recorded) are killed, so they
// never keep running unnoticed and a rerun cannot race them.
#pragma once

#include <cstdint>
#include <string>

#include "wf/proc.hpp"
#include "wf/result.hpp"
#include "wf/run_store.hpp"

namespace wf {

// True when the run's recorded process (on this host) still runs.
bool run_process_alive(const RunRecord& r);

// Marks every WAIT run of this host whose process is gone as CANCEL/Interrupted, with its
// unfinished job instances and stages; returns how many runs it closed.
Result<int> close_interrupted_runs(RunStore& store);

}  // namespace wf
