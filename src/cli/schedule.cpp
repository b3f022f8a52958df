#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "wf/cron.hpp"
#include "wf/datetime.hpp"

namespace wf::cli {

namespace {

struct ScheduleArgs {
  std::string name;
  int next = 5;
  std::string from;
  bool json = false;
};

struct AuditArgs {
  std::string name;
  std::string release;
  bool json = false;
  int limit = 50;
};

int schedule_command(Globals& g, const ScheduleArgs& a) {
  UtcSeconds from = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  if (!a.from.empty()) {
    auto t = parse_iso_datetime(a.from);
    if (!t.ok()) return fail(kUsage, "--from: " + t.error().message);
    from = *t;
  }
  DiagnosticList diags;
  Catalog catalog = Catalog::load(config_dirs(g.conf, g.env), diags);
  print_diagnostics(diags, g, Severity::Error);
  if (!a.name.empty() && !catalog.find(a.name)) return fail(kUsage, "no workflow named '" + a.name + "' in the config path");
  Json out = Json::array();
  for (const auto& name : catalog.names()) {
    if (!a.name.empty() && name != a.name) continue;
    const Workflow& w = *catalog.find(name);
    for (const auto& sc : w.schedules) {
      auto s = CronSchedule::make(sc.cron.value, sc.tz);
      if (!s.ok()) continue;
      Json times = Json::array();
      std::optional<UtcMinute> t = s->next(from);
      for (int i = 0; i < a.next && t; ++i) {
        times.push_back({{"utc", format_iso_datetime(*t)}, {"local", s->local_text(*t)}});
        t = s->next(*t + std::chrono::minutes(1));
      }
      out.push_back({{"workflow", name}, {"cron", sc.cron.value}, {"timezone", sc.tz.empty() ? "UTC" : sc.tz},
                     {"next", times}});
    }
  }
  if (a.json || g.json) {
    std::printf("%s\n", json_text(out, 2).c_str());
    return kOk;
  }
  if (out.empty() && !g.quiet) std::fprintf(stderr, "wf: no schedules in the config path\n");
  for (const auto& s : out) {
    std::printf("%s  %s  (%s)\n", s["workflow"].get<std::string>().c_str(), s["cron"].get<std::string>().c_str(),
                s["timezone"].get<std::string>().c_str());
    if (s["next"].empty()) std::printf("  never fires again\n");
    for (const auto& t : s["next"])
      std::printf("  %s   %s\n", t["local"].get<std::string>().c_str(), t["utc"].get<std::string>().c_str());
  }
  return kOk;
}

int audit_command(Globals& g, const AuditArgs& a) {
  AuditFilter f;
  if (!a.name.empty()) f.workflow = a.name;
  if (!a.release.empty()) {
    auto t = parse_iso_datetime(a.release);
    if (!t.ok()) return fail(kUsage, "--release: " + t.error().message);
    f.release_at = static_cast<TimeMs>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::floor<std::chrono::minutes>(*t).time_since_epoch())
            .count());
  }
  f.limit = a.limit;
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  auto rows = (*store)->list_audit(f);
  if (!rows.ok()) return fail(kState, rows.error().message);
  auto iso = [](TimeMs ms) { return ms > 0 ? format_iso_datetime(UtcSeconds(std::chrono::seconds(ms / 1000))) : std::string("-"); };
  if (a.json || g.json) {
    Json out = Json::array();
    for (const auto& r : *rows)
      out.push_back({{"workflow", r.workflow}, {"release", iso(r.release_at)}, {"type", r.type}, {"run_id", r.run_id},
                     {"parent_run_id", r.parent_run_id}, {"params", r.params}, {"status", to_string(r.status)},
                     {"started_at", r.started_at}, {"finished_at", r.finished_at},
                     {"latency_ms", r.finished_at > 0 && r.started_at > 0 ? r.finished_at - r.started_at : 0},
                     {"host", r.host}, {"user", r.user}, {"wf_version", r.wf_version}, {"command_line", r.command_line},
                     {"note", r.note}});
    std::printf("%s\n", json_text(out, 2).c_str());
    return kOk;
  }
  if (rows->empty()) {
    if (!g.quiet) std::fprintf(stderr, "wf: no audit records\n");
    return kOk;
  }
  std::printf("%-20s  %-20s  %-7s  %-7s  %s\n", "RELEASE", "WORKFLOW", "TYPE", "STATUS", "RUN ID");
  for (const auto& r : *rows)
    std::printf("%-20s  %-20s  %-7s  %-7s  %s%s\n", iso(r.release_at).c_str(), r.workflow.c_str(), r.type.c_str(),
                to_string(r.status).c_str(), r.run_id.c_str(), r.note.empty() ? "" : ("  (" + r.note + ")").c_str());
  return kOk;
}

}  // namespace

Command add_schedule(CLI::App& app, Globals& g) {
  auto a = std::make_shared<ScheduleArgs>();
  Command c;
  c.app = app.add_subcommand("schedule", "Next fire times of the schedules in the config path");
  c.app->add_option("name", a->name, "Only this workflow")->type_name("NAME");
  c.app->add_option("--next", a->next, "How many fire times to show (default 5)")->check(count_option(0, 100000))->type_name("N");
  c.app->add_option("--from", a->from, "Start from this time instead of now (ISO 8601)")->type_name("TIME");
  c.app->add_flag("--json", a->json, "Print JSON");
  c.run = [a, &g] { return schedule_command(g, *a); };
  return c;
}

Command add_audit(CLI::App& app, Globals& g) {
  auto a = std::make_shared<AuditArgs>();
  Command c;
  c.app = app.add_subcommand("audit", "Audit records of releases (and misfires)");
  c.app->add_option("name", a->name, "Only this workflow")->type_name("NAME");
  c.app->add_option("--release", a->release, "Only the release of this minute (ISO 8601)")->type_name("TIME");
  c.app->add_option("--limit", a->limit, "At most N records (default 50; 0 for all)")->type_name("N");
  c.app->add_flag("--json", a->json, "Print JSON");
  c.run = [a, &g] { return audit_command(g, *a); };
  return c;
}

}  // namespace wf::cli
