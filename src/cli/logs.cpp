#include "commands.hpp"

namespace wf::cli {

namespace {

struct LogsArgs {
  std::string run_id;
  std::string selector;
  int attempt = 0;
};

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
  auto instances = (*store)->job_instances(run->id, attempt);
  if (!instances.ok()) return fail(kState, instances.error().message);
  bool matched_job = job_sel.empty(), matched_stage = stage_sel.empty();
  for (const auto& ji : *instances) {
    if (!job_sel.empty() && ji.job != job_sel && ji.display_name != job_sel) continue;
    matched_job = true;
    auto stages = (*store)->stages(ji.id);
    if (!stages.ok()) return fail(kState, stages.error().message);
    for (const auto& s : *stages) {
      if (!stage_sel.empty() && s.stage_key != stage_sel && s.name != stage_sel) continue;
      matched_stage = true;
      auto chunks = (*store)->logs(s.id);
      if (!chunks.ok()) return fail(kState, chunks.error().message);
      if (chunks->empty()) continue;
      std::printf("==> %s/%s (attempt %d, %s) <==\n", ji.display_name.c_str(), s.name.c_str(), s.attempt,
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
  c.run = [a, &g] { return logs_command(g, *a); };
  return c;
}

}  // namespace wf::cli
