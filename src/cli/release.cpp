#include <pwd.h>
#include <unistd.h>

#include <algorithm>

#include "commands.hpp"
#include "wf/cron.hpp"
#include "wf/datetime.hpp"
#include "wf/recovery.hpp"

namespace wf::cli {

namespace {

struct ReleaseArgs {
  RunArgs run;
  std::string at;
  std::string type = "normal";
};

TimeMs to_ms(UtcSeconds t) { return static_cast<TimeMs>(t.time_since_epoch().count()) * 1000; }

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string user_name(const Globals& g) {
  std::string u = g.env_or("USER");
  if (u.empty())
    if (const struct passwd* pw = ::getpwuid(::getuid())) u = pw->pw_name;
  return u;
}

AuditRecord audit_record(const Globals& g, const std::string& workflow, UtcSeconds minute, const std::string& type,
                         const std::string& run_id, const Json& params, Status status, TimeMs started,
                         const std::string& command_line) {
  AuditRecord r;
  r.workflow = workflow;
  r.release_at = to_ms(minute);
  r.type = type;
  r.run_id = run_id;
  r.params = params;
  r.status = status;
  r.started_at = started;
  r.finished_at = now_ms();
  r.host = this_host();
  r.user = user_name(g);
  r.wf_version = WF_VERSION;
  r.command_line = command_line;
  return r;
}

bool audit_enabled(const Globals& g, const Workflow& w) {
  for (const char* name : {"WF_AUDIT", "WORKFLOW_CORE_AUDIT_ENABLED"}) {
    std::string v = g.env_or(name);
    std::transform(v.begin(), v.end(), v.begin(), ::tolower);
    if (v == "false" || v == "0" || v == "no") return false;
  }
  if (w.extras.is_object() && w.extras.contains("enable_write_audit") && w.extras["enable_write_audit"] == false)
    return false;
  return true;
}

std::string schedule_list(const Workflow& w) {
  std::string s;
  for (const auto& sc : w.schedules)
    s += (s.empty() ? "" : ", ") + sc.cron.value + " (" + (sc.tz.empty() ? "UTC" : sc.tz) + ")";
  return s;
}

// FORMAT §10: one logical minute of a workflow, with schedule check, dedupe and audit.
int release_command(Globals& g, const ReleaseArgs& a) {
  static const std::vector<std::string> types = {"normal", "force", "dryrun", "rerun", "event"};
  if (std::find(types.begin(), types.end(), a.type) == types.end())
    return fail(kUsage, "--type must be one of normal, force, dryrun, rerun, event; got '" + a.type + "'");
  auto at = parse_iso_datetime(a.at);
  if (!at.ok()) return fail(kUsage, "--at: " + at.error().message);
  UtcSeconds minute = std::chrono::floor<std::chrono::minutes>(*at);
  std::string logical = format_iso_datetime(minute);

  DiagnosticList diags;
  auto chosen = choose_workflow(g, a.run.target, a.run.name, diags);
  if (!chosen.ok()) return fail(kUsage, chosen.error().message);
  if (!chosen->workflow) {
    print_diagnostics(diags, g, Severity::Error);
    return kUsage;
  }
  const Workflow& w = *chosen->workflow;
  if (a.type != "event" && !w.schedules.empty()) {
    bool matches = false;
    for (const auto& sc : w.schedules) {
      auto s = CronSchedule::make(sc.cron.value, sc.tz);
      if (s.ok() && s->fires_at(minute)) matches = true;
    }
    if (!matches)
      return fail(kUsage, logical + " is not a fire time of workflow '" + w.name + "' (schedules: " + schedule_list(w) +
                              "); use --type event to release it anyway");
  }
  if (a.type == "rerun") {
    // The release row names the minute's last run, with or without audit records.
    auto store = open_store(g);
    if (!store.ok()) return fail(kState, store.error().message);
    auto rel = (*store)->find_release(w.name, to_ms(minute));
    if (!rel.ok()) return fail(kState, rel.error().message);
    if (!*rel || (*rel)->run_id.empty() || ((*rel)->status != Status::Failed && (*rel)->status != Status::Cancel))
      return fail(kUsage, "no failed release of '" + w.name + "' at " + logical + " to rerun");
    std::string run_id = (*rel)->run_id;
    TimeMs started = now_ms();
    int code = rerun_run(g, run_id, logical, "rerun");
    auto after = (*store)->find_run(run_id);
    if (after.ok() && after->status != Status::Wait) {
      (void)(*store)->finish_release(w.name, to_ms(minute), after->status);
      if (audit_enabled(g, w)) {
        AuditRecord r = audit_record(g, w.name, minute, "rerun", run_id, after->params, after->status, started,
                                     after->command_line);
        if (auto ins = (*store)->insert_audit(r); !ins.ok())
          std::fprintf(stderr, "wf: warning: audit record not written: %s\n", ins.error().message.c_str());
      }
    }
    return code;
  }
  RunArgs run = a.run;
  if (a.type == "dryrun") {
    run.dry_run = true;
    ReleaseHooks hooks;
    hooks.logical_date = logical;
    hooks.type = a.type;
    return run_command(g, run, &hooks);
  }
  bool audit = audit_enabled(g, w);
  TimeMs started = 0;
  ReleaseHooks hooks;
  hooks.logical_date = logical;
  hooks.type = a.type;
  hooks.before_run = [&](RunStore& store, const Workflow& wf, const Json&) -> int {
    auto claim = store.claim_release(wf.name, to_ms(minute), a.type == "force", static_cast<int>(::getpid()),
                                     process_start_ticks(::getpid()));
    if (!claim.ok()) return fail(kState, claim.error().message);
    if (!claim->claimed) {
      if (a.run.json || g.json) {
        Json j = {{"workflow", wf.name}, {"release", logical}, {"type", a.type}, {"status", "SKIP"},
                  {"reason", claim->status == Status::Wait ? "running" : "already " + to_string(claim->status)},
                  {"run_id", claim->run_id}};
        std::printf("%s\n", json_text(j).c_str());
      } else if (!g.quiet)
        std::printf("release of %s at %s skipped: run %s is %s\n", wf.name.c_str(), logical.c_str(),
                    claim->run_id.empty() ? "(starting)" : claim->run_id.c_str(),
                    claim->status == Status::Wait ? "running" : to_string(claim->status).c_str());
      return kOk;
    }
    started = now_ms();
    return -1;
  };
  hooks.after_run = [&](RunStore& store, const Workflow& wf, const Json& masked, const RunOutcome& out,
                        const std::string& command_line) {
    (void)store.set_release_run(wf.name, to_ms(minute), out.run_id);
    (void)store.finish_release(wf.name, to_ms(minute), out.status);
    if (!audit) return;
    AuditRecord r = audit_record(g, wf.name, minute, a.type, out.run_id, masked, out.status, started, command_line);
    auto ins = store.insert_audit(r);
    if (!ins.ok()) std::fprintf(stderr, "wf: warning: audit record not written: %s\n", ins.error().message.c_str());
  };
  return run_command(g, run, &hooks);
}

}  // namespace

Command add_release(CLI::App& app, Globals& g) {
  auto a = std::make_shared<ReleaseArgs>();
  Command c;
  c.app = app.add_subcommand("release", "Run a workflow for one logical minute (schedule check, dedupe, audit)");
  c.app->add_option("target", a->run.target, "Workflow name in the config path, or a workflow file")
      ->required()
      ->type_name("NAME");
  c.app->add_option("--at", a->at, "The logical minute, ISO 8601 (naive = UTC)")->required()->type_name("TIME");
  c.app->add_option("--type", a->type, "normal (default), force, dryrun, rerun or event")->type_name("TYPE");
  c.app->add_option("--exclude", a->run.exclude, "Leave this job out (repeatable)")->type_name("JOB");
  c.app->add_option("-p,--param", a->run.params, "Set a param (repeatable)")->type_name("NAME=VALUE");
  c.app->add_option("--params-file", a->run.params_file, "Read params from a JSON or YAML map")->type_name("FILE");
  c.app->add_option("-j,--jobs", a->run.jobs, "Job instances to run at once")->check(count_option(1, 100000))->type_name("N");
  c.app->add_option("--timeout", a->run.timeout, "Timeout of the run in seconds")->check(count_option(1, 1000000000))->type_name("S");
  c.app->add_flag("--json", a->run.json, "Print the run result as JSON on stdout, and nothing else");
  c.run = [a, &g] { return release_command(g, *a); };
  return c;
}

}  // namespace wf::cli
