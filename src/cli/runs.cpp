#include <nlohmann/json.hpp>

#include <chrono>
#include <ctime>

#include "commands.hpp"

namespace wf::cli {

std::string local_time_text(TimeMs ms) {
  if (ms <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string span_text(TimeMs start, TimeMs end) {
  if (start <= 0 || end <= 0) return "-";
  double s = static_cast<double>(end - start) / 1000.0;
  char buf[32];
  if (s < 1) std::snprintf(buf, sizeof buf, "%dms", static_cast<int>(s * 1000 + 0.5));
  else if (s < 60) std::snprintf(buf, sizeof buf, "%.2fs", s);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return buf;
}

Json run_to_json(const RunRecord& r) {
  Json j = {{"run_id", r.id},           {"workflow", r.workflow},       {"status", to_string(r.status)},
            {"attempt", r.attempt},     {"exit_code", r.exit_code},     {"params", r.params},
            {"created_at", r.created_at}, {"started_at", r.started_at}, {"finished_at", r.finished_at},
            {"file", r.file_path},      {"host", r.host},               {"user", r.user}};
  if (!r.run_name.empty()) j["run_name"] = r.run_name;
  if (!r.parent_run_id.empty()) j["parent_run_id"] = r.parent_run_id;
  if (!r.error_name.empty()) j["errors"] = {{"name", r.error_name}, {"message", r.error_message}};
  return j;
}

namespace {

struct RunsArgs {
  std::string name;
  std::string status;
  std::string since;
  int limit = 20;
  bool json = false;
};

int runs_command(Globals& g, const RunsArgs& a) {
  RunFilter f;
  if (!a.name.empty()) f.workflow = a.name;
  if (!a.status.empty()) {
    auto s = parse_status(a.status);
    if (!s) return fail(kUsage, "unknown status '" + a.status + "' (SUCCESS, FAILED, SKIP, CANCEL, WAIT)");
    f.status = *s;
  }
  if (!a.since.empty()) {
    auto age = parse_duration_ms(a.since, "--since");
    if (!age.ok()) return fail(kUsage, age.error().message);
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    f.since = now - *age;
  }
  f.limit = a.limit;
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  auto runs = (*store)->list_runs(f);
  if (!runs.ok()) return fail(kState, runs.error().message);
  if (a.json || g.json) {
    Json out = Json::array();
    for (const auto& r : *runs) out.push_back(run_to_json(r));
    std::printf("%s\n", json_text(out, 2).c_str());
    return kOk;
  }
  if (runs->empty()) {
    if (!g.quiet) std::fprintf(stderr, "wf: no runs recorded in %s\n", (*store)->path().c_str());
    return kOk;
  }
  std::printf("%-24s  %-20s  %-7s  %-19s  %9s\n", "RUN ID", "WORKFLOW", "STATUS", "STARTED", "DURATION");
  for (const auto& r : *runs)
    std::printf("%-24s  %-20s  %-7s  %-19s  %9s\n", r.id.c_str(), r.workflow.c_str(), to_string(r.status).c_str(),
                local_time_text(r.started_at).c_str(), span_text(r.started_at, r.finished_at).c_str());
  return kOk;
}

}  // namespace

Command add_runs(CLI::App& app, Globals& g) {
  auto a = std::make_shared<RunsArgs>();
  Command c;
  c.app = app.add_subcommand("runs", "Run history from the state file, newest first");
  c.app->add_option("name", a->name, "Only runs of this workflow")->type_name("NAME");
  c.app->add_option("--status", a->status, "Only runs with this status (any case)")->type_name("S");
  c.app->add_option("--since", a->since, "Only runs started within this long (7d, 12h, 30m)")->type_name("AGE");
  c.app->add_option("--limit", a->limit, "At most this many runs (default 20; 0 for all)")->type_name("N");
  c.app->add_flag("--json", a->json, "Print JSON");
  c.run = [a, &g] { return runs_command(g, *a); };
  return c;
}

}  // namespace wf::cli
