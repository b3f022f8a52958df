#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "commands.hpp"
#include "wf/cron.hpp"
#include "wf/datetime.hpp"
#include "wf/process.hpp"
#include "wf/recovery.hpp"
#include "wf/signals.hpp"

namespace wf::cli {

namespace {

struct TickArgs {
  std::string catchup = "latest";
  std::string window = "1d";
  std::string now;
  int jobs = 0;
};

struct Due {
  std::string workflow;
  UtcSeconds minute;
};

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "wf";
}

// FORMAT §10: every scheduled workflow of the config path, the minutes due since the last
// tick, released as `normal` by child `wf release` processes (claims in the state file make
// overlapping ticks safe).
int tick_command(Globals& g, const TickArgs& a) {
  if (a.catchup != "none" && a.catchup != "latest" && a.catchup != "all")
    return fail(kUsage, "--catchup must be none, latest or all; got '" + a.catchup + "'");
  auto window = parse_duration_ms(a.window, "--window");
  if (!window.ok()) return fail(kUsage, window.error().message);
  UtcSeconds now;
  if (!a.now.empty()) {
    auto t = parse_iso_datetime(a.now);
    if (!t.ok()) return fail(kUsage, "--now: " + t.error().message);
    now = *t;
  } else {
    now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  }
  UtcSeconds minute = std::chrono::floor<std::chrono::minutes>(now);
  auto to_ms = [](UtcSeconds t) { return static_cast<TimeMs>(t.time_since_epoch().count()) * 1000; };

  DiagnosticList diags;
  auto dirs = config_dirs(g.conf, g.env);
  Catalog catalog = Catalog::load(dirs, diags);
  print_diagnostics(diags, g, Severity::Error);
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);

  std::vector<Due> due;
  for (const auto& f : catalog.files())
    for (const auto& w : f.workflows) {
      if (w.schedules.empty()) continue;
      std::vector<CronSchedule> scheds;
      for (const auto& sc : w.schedules)
        if (auto s = CronSchedule::make(sc.cron.value, sc.tz); s.ok()) scheds.push_back(*s);
      auto fires = [&](UtcSeconds m) {
        return std::any_of(scheds.begin(), scheds.end(), [&](const CronSchedule& s) { return s.fires_at(m); });
      };
      auto last = (*store)->last_tick(w.name);
      if (!last.ok()) return fail(kState, last.error().message);
      std::vector<UtcSeconds> missed;
      if (last->has_value()) {
        UtcSeconds from = UtcSeconds(std::chrono::seconds(**last / 1000)) + std::chrono::minutes(1);
        UtcSeconds oldest = minute - std::chrono::milliseconds(*window) / std::chrono::minutes(1) * std::chrono::minutes(1);
        if (from < oldest) from = oldest;
        // Walk fire times, not minutes: next() jumps straight to each one.
        for (const auto& s : scheds) {
          for (auto t = s.next(from); t && *t < minute; t = s.next(*t + std::chrono::minutes(1)))
            if (std::find(missed.begin(), missed.end(), *t) == missed.end()) missed.push_back(*t);
        }
        std::sort(missed.begin(), missed.end());
      }
      if (auto r = (*store)->set_last_tick(w.name, to_ms(minute)); !r.ok()) return fail(kState, r.error().message);
      std::vector<UtcSeconds> run;
      if (a.catchup == "all") run = missed;
      else if (a.catchup == "latest" && !missed.empty()) run.push_back(missed.back());
      for (const auto& m : missed) {
        if (std::find(run.begin(), run.end(), m) != run.end()) continue;
        AuditRecord r;
        r.workflow = w.name;
        r.release_at = to_ms(m);
        r.type = "misfire";
        r.status = Status::Skip;
        r.host = this_host();
        r.wf_version = WF_VERSION;
        r.command_line = g.command_line;
        r.note = "missed while no tick ran; --catchup " + a.catchup;
        // Overlapping ticks may both see the minute as missed: record it once.
        RunStore::Transaction txn(**store);
        AuditFilter af;
        af.workflow = w.name;
        af.release_at = r.release_at;
        af.limit = 0;
        auto existing = (*store)->list_audit(af);
        bool known = existing.ok() && std::any_of(existing->begin(), existing->end(),
                                                  [](const AuditRecord& x) { return x.type == "misfire"; });
        if (!known) (void)(*store)->insert_audit(r);
        (void)txn.commit();
      }
      if (fires(minute)) run.push_back(minute);
      for (const auto& m : run) due.push_back({w.name, m});
    }
  store->reset();

  // Run the due releases as child processes, at most -j at once.
  int limit = a.jobs > 0 ? a.jobs : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  install_signal_handlers();
  ProcessSet procs;
  std::map<ProcessId, std::string> labels;
  std::string exe = self_exe();
  std::size_t next = 0;
  int failed = 0;
  while (next < due.size() || procs.running() > 0) {
    while (next < due.size() && static_cast<int>(procs.running()) < limit) {
      const Due& d = due[next++];
      std::vector<std::string> argv = {exe};
      for (const auto& dir : dirs) {
        argv.push_back("--conf");
        argv.push_back(dir);
      }
      if (!g.state_dir.empty()) {
        argv.push_back("--state-dir");
        argv.push_back(g.state_dir);
      }
      argv.push_back("--color");
      argv.push_back("never");
      if (g.quiet) argv.push_back("-q");
      for (const char* s : {"release", "--type", "normal"}) argv.push_back(s);
      argv.push_back(d.workflow);
      argv.push_back("--at");
      argv.push_back(format_iso_datetime(d.minute));
      ProcessId id = procs.spawn({argv, g.environ_list, "", std::nullopt, "", {}});
      labels[id] = d.workflow + " at " + format_iso_datetime(d.minute);
    }
    for (const auto& e : procs.wait(std::nullopt)) {
      bool ok = e.spawn_error.empty() && e.term_signal == 0 && e.exit_code == 0;
      if (!ok) ++failed;
      if (!ok || !g.quiet) {
        std::printf("== %s: %s\n", labels[e.id].c_str(),
                    ok ? "ok" : e.spawn_error.empty() ? ("exit " + std::to_string(e.exit_code)).c_str() : e.spawn_error.c_str());
        std::fputs(e.out.c_str(), stdout);
        std::fputs(e.err.c_str(), stderr);
      }
    }
    if (interrupt_count() > 0) procs.cancel_all(false);
  }
  if (due.empty() && !g.quiet) std::printf("nothing due at %s\n", format_iso_datetime(minute).c_str());
  return failed > 0 ? kFailed : kOk;
}

}  // namespace

Command add_tick(CLI::App& app, Globals& g) {
  auto a = std::make_shared<TickArgs>();
  Command c;
  c.app = app.add_subcommand("tick", "Release every scheduled workflow that is due (the one crontab line)");
  c.app->add_option("--catchup", a->catchup, "Missed minutes: none, latest (default) or all")->type_name("MODE");
  c.app->add_option("--window", a->window, "How far back to look for missed minutes (default 1d)")->type_name("D");
  c.app->add_option("--now", a->now, "Use this time instead of the clock (ISO 8601)")->type_name("TIME");
  c.app->add_option("-j,--jobs", a->jobs, "Releases to run at once (default: CPUs)")->check(count_option(1, 100000))->type_name("N");
  c.run = [a, &g] { return tick_command(g, *a); };
  return c;
}

}  // namespace wf::cli
