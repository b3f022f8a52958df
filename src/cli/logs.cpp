#include <chrono>
#include <map>
#include <thread>

#include "commands.hpp"
#include "wf/recovery.hpp"

namespace wf::cli {

namespace {

struct LogsArgs {
  std::string run_id;
  std::string selector;
  int attempt = 0;
  bool follow = false;
};

// `wf logs -f`: prints chunks as another wf writes them, `job/stage | line`, until the run
// is no longer running.
// Nested stages (parallel, foreach, until, case) are named by their path, as the run printed
// them: "Route [case else] / Give up". A selector naming a stage also takes the stages inside it.
struct StageNames {
  std::map<std::int64_t, std::string> path;
  std::map<std::int64_t, bool> selected;
  void add(const StageRecord& s, const std::string& sel) {
    auto parent = path.find(s.parent_id);
    bool nested = s.parent_id != 0 && parent != path.end();
    path[s.id] = nested ? parent->second + " [" + s.label + "] / " + s.name : s.name;
    selected[s.id] = sel.empty() || s.stage_key == sel || s.name == sel || path[s.id] == sel ||
                     (nested && selected[s.parent_id]);
  }
};

int follow_logs(Globals& g, RunStore& store, const std::string& run_id, int attempt, const std::string& job_sel,
                const std::string& stage_sel) {
  std::map<std::int64_t, std::pair<std::string, std::string>> names;  // stage id -> job, stage
  std::map<std::int64_t, bool> wanted;
  StageNames paths;
  std::int64_t last = 0;
  auto refresh_names = [&]() -> Result<void> {
    auto instances = store.job_instances(run_id, attempt);
    if (!instances.ok()) return instances.error();
    for (const auto& ji : *instances) {
      auto stages = store.stages(ji.id);
      if (!stages.ok()) return stages.error();
      for (const auto& s : *stages) {
        paths.add(s, stage_sel);
        names[s.id] = {ji.display_name, paths.path[s.id]};
        wanted[s.id] = (job_sel.empty() || ji.job == job_sel || ji.display_name == job_sel) && paths.selected[s.id];
      }
    }
    return {};
  };
  while (true) {
    auto run = store.find_run(run_id);
    if (!run.ok()) return fail(kState, run.error().message);
    bool running = run->status == Status::Wait && run->attempt == attempt;
    auto chunks = store.run_logs_after(run_id, attempt, last);
    if (!chunks.ok()) return fail(kState, chunks.error().message);
    for (const auto& c : *chunks) {
      last = c.seq;
      if (!names.count(c.stage_id))
        if (auto r = refresh_names(); !r.ok()) return fail(kState, r.error().message);
      if (!wanted[c.stage_id]) continue;
      const auto& [job, stage] = names[c.stage_id];
      std::size_t start = 0;
      while (start < c.text.size()) {
        auto nl = c.text.find('\n', start);
        std::string line = c.text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        std::printf("%s/%s | %s\n", job.c_str(), stage.c_str(), line.c_str());
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
    }
    std::fflush(stdout);
    if (!running) {
      if (!g.quiet) std::fprintf(stderr, "wf: run %s %s\n", run_id.c_str(), to_string(run->status).c_str());
      return kOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    // A wf killed meanwhile leaves the run as WAIT: close it so that following ends.
    if (auto closed = close_interrupted_runs(store); !closed.ok()) return fail(kState, closed.error().message);
  }
}

int logs_command(Globals& g, const LogsArgs& a) {
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  auto run = (*store)->find_run(a.run_id);
  if (!run.ok()) return fail(kUsage, run.error().message);
  int attempt = a.attempt > 0 ? a.attempt : run->attempt;
  if (attempt > run->attempt) return fail(kUsage, "run " + run->id + " has " + std::to_string(run->attempt) + " attempt(s)");
  std::string job_sel = a.selector, stage_sel;
  auto slash = a.selector.find('/');
  if (slash != std::string::npos) {
    job_sel = a.selector.substr(0, slash);
    stage_sel = a.selector.substr(slash + 1);
  }
  if (a.follow) return follow_logs(g, **store, run->id, attempt, job_sel, stage_sel);
  auto instances = (*store)->job_instances(run->id, attempt);
  if (!instances.ok()) return fail(kState, instances.error().message);
  bool matched_job = job_sel.empty(), matched_stage = stage_sel.empty();
  for (const auto& ji : *instances) {
    if (!job_sel.empty() && ji.job != job_sel && ji.display_name != job_sel) continue;
    matched_job = true;
    auto stages = (*store)->stages(ji.id);
    if (!stages.ok()) return fail(kState, stages.error().message);
    StageNames paths;
    for (const auto& s : *stages) {
      paths.add(s, stage_sel);
      if (!paths.selected[s.id]) continue;
      matched_stage = true;
      auto chunks = (*store)->logs(s.id);
      if (!chunks.ok()) return fail(kState, chunks.error().message);
      if (chunks->empty()) continue;
      std::printf("==> %s/%s (attempt %d, %s) <==\n", ji.display_name.c_str(), paths.path[s.id].c_str(), s.attempt,
                  to_string(s.status).c_str());
      for (const auto& c : *chunks) {
        std::fwrite(c.text.data(), 1, c.text.size(), stdout);
        if (!c.text.empty() && c.text.back() != '\n') std::fputc('\n', stdout);
      }
    }
  }
  if (!matched_job) return fail(kUsage, "run " + run->id + " has no job '" + job_sel + "'");
  if (!matched_stage) return fail(kUsage, "job '" + job_sel + "' of run " + run->id + " has no stage '" + stage_sel + "'");
  return kOk;
}

}  // namespace

Command add_logs(CLI::App& app, Globals& g) {
  auto a = std::make_shared<LogsArgs>();
  Command c;
  c.app = app.add_subcommand("logs", "Print the captured output of a run");
  c.app->add_option("run_id", a->run_id, "Run id or a unique prefix of it")->required()->type_name("RUN_ID");
  c.app->add_option("selector", a->selector, "Only this job, or this job's stage")->type_name("JOB[/STAGE]");
  c.app->add_option("--attempt", a->attempt, "Logs of attempt N (default: the latest)")->type_name("N");
  c.app->add_flag("-f,--follow", a->follow, "Keep printing output as the running run writes it, until it ends");
  c.run = [a, &g] { return logs_command(g, *a); };
  return c;
}

}  // namespace wf::cli
