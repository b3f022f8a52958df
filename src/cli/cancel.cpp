#include <signal.h>

#include <chrono>
#include <thread>

#include "commands.hpp"
#include "wf/recovery.hpp"

namespace wf::cli {

namespace {

struct CancelArgs {
  std::string run_id;
  double wait = 30;
};

// Asks the wf that runs RUN_ID to cancel it (SIGUSR1: it stops its stages, records CANCEL
// and exits 3), then waits for the run to be recorded as finished.
int cancel_command(Globals& g, const CancelArgs& a) {
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  auto run = (*store)->find_run(a.run_id);
  if (!run.ok()) return fail(kUsage, run.error().message);
  if (run->status != Status::Wait)
    return fail(kUsage, "run " + run->id + " is not running (" + to_string(run->status) + ")");
  if (!run->host.empty() && run->host != this_host())
    return fail(kUsage, "run " + run->id + " runs on host " + run->host + "; cancel it there");
  if (!run_process_alive(*run)) return fail(kUsage, "run " + run->id + " has no running wf process");
  if (::kill(run->pid, SIGUSR1) != 0) return fail(kFailed, "cannot signal wf (pid " + std::to_string(run->pid) + ")");
  if (!g.quiet) std::printf("cancelling run %s (wf pid %d)\n", run->id.c_str(), run->pid);
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long long>(a.wait * 1000));
  while (std::chrono::steady_clock::now() < until) {
    auto now = (*store)->find_run(run->id);
    if (now.ok() && now->status != Status::Wait) {
      if (!g.quiet) std::printf("run %s %s\n", run->id.c_str(), to_string(now->status).c_str());
      return kOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fail(kFailed, "run " + run->id + " did not finish within " + std::to_string(static_cast<int>(a.wait)) +
                           "s of the cancel request");
}

struct GcArgs {
  std::string name;
  std::optional<int> keep_days;
  std::optional<int> keep_runs;
};

// Deletes finished runs (with their instances, stages and logs) older than --keep-days, or
// beyond the newest --keep-runs of each workflow. Running runs are never deleted.
int gc_command(Globals& g, const GcArgs& a) {
  if (!a.keep_days && !a.keep_runs) return fail(kUsage, "say what to keep: --keep-days N and/or --keep-runs N");
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  RunFilter f;
  f.limit = 0;
  if (!a.name.empty()) f.workflow = a.name;
  auto runs = (*store)->list_runs(f);
  if (!runs.ok()) return fail(kState, runs.error().message);
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::map<std::string, int> seen;
  int deleted = 0;
  RunStore::Transaction txn(**store);
  for (const auto& r : *runs) {  // newest first
    if (r.status == Status::Wait) continue;
    int rank = ++seen[r.workflow];
    bool old = a.keep_days && r.created_at < now - static_cast<TimeMs>(*a.keep_days) * 86400000LL;
    bool extra = a.keep_runs && rank > *a.keep_runs;
    if (!old && !extra) continue;
    auto d = (*store)->delete_run(r.id);
    if (!d.ok()) return fail(kState, d.error().message);
    ++deleted;
  }
  if (auto c = txn.commit(); !c.ok()) return fail(kState, c.error().message);
  if (!g.quiet) std::printf("deleted %d run%s\n", deleted, deleted == 1 ? "" : "s");
  return kOk;
}

}  // namespace

Command add_cancel(CLI::App& app, Globals& g) {
  auto a = std::make_shared<CancelArgs>();
  Command c;
  c.app = app.add_subcommand("cancel", "Cancel a running run from another shell");
  c.app->add_option("run_id", a->run_id, "Run id or a unique prefix of it")->required()->type_name("RUN_ID");
  c.app->add_option("--wait", a->wait, "Seconds to wait for the run to stop (default 30)")
      ->check(seconds_option(false))
      ->type_name("S");
  c.run = [a, &g] { return cancel_command(g, *a); };
  return c;
}

Command add_gc(CLI::App& app, Globals& g) {
  auto a = std::make_shared<GcArgs>();
  Command c;
  c.app = app.add_subcommand("gc", "Delete old runs and their logs from the state file");
  c.app->add_option("name", a->name, "Only runs of this workflow")->type_name("NAME");
  c.app->add_option("--keep-days", a->keep_days, "Keep runs newer than N days")
      ->check(count_option(0, 1000000))
      ->type_name("N");
  c.app->add_option("--keep-runs", a->keep_runs, "Keep the newest N runs of each workflow")
      ->check(count_option(0, 1000000000))
      ->type_name("N");
  c.run = [a, &g] { return gc_command(g, *a); };
  return c;
}

}  // namespace wf::cli
