#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "wf/concurrency.hpp"
#include "wf/dag.hpp"
#include "wf/datetime.hpp"
#include "wf/expr.hpp"
#include "wf/params.hpp"
#include "wf/reporter.hpp"
#include "wf/scheduler.hpp"
#include "wf/signals.hpp"
#include "wf/validate.hpp"

namespace wf::cli {

namespace {


std::string declared_params(const Workflow& w) {
  if (w.params.empty()) return "the workflow declares no params";
  std::string s = "declared params:";
  for (const auto& p : w.params) s += " " + p.name + " (" + to_string(p.type) + (p.required ? ", required" : "") + ")";
  return s;
}

std::optional<int> env_int(const Globals& g, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    std::string v = g.env_or(n);
    if (v.empty()) continue;
    try {
      std::size_t used = 0;
      int i = std::stoi(v, &used);
      if (used == v.size() && i > 0) return i;
    } catch (...) {
    }
  }
  return std::nullopt;
}

// Reads -p and --params-file into one object (the file first, -p wins).
Result<Json> given_params(const RunArgs& a) {
  Json given = Json::object();
  if (!a.params_file.empty()) {
    auto text = read_input_file(a.params_file, "params file " + a.params_file);
    if (!text.ok()) return text.error();
    auto m = parse_yaml_map(*text, a.params_file);
    if (!m.ok()) return m.error();
    given = *m;
  }
  for (const auto& p : a.params) {
    auto kv = parse_param_assignment(p);
    if (!kv.ok()) return kv.error();
    given[kv->first] = kv->second;
  }
  return given;
}

// The plan --dry-run prints: resolved params, then jobs in the order they can start.
void print_plan(const Workflow& w, const Json& masked, const RunArgs& a, bool json) {
  JobGraph g = build_job_graph(w);
  std::vector<int> level(w.jobs.size(), -1);
  bool changed = true;
  while (changed) {
    changed = false;
    for (std::size_t i = 0; i < w.jobs.size(); ++i) {
      int l = 0;
      bool ready = true;
      for (int n : g.needs[i]) {
        if (level[n] < 0) ready = false;
        else l = std::max(l, level[n] + 1);
      }
      if (ready && level[i] != l) {
        level[i] = l;
        changed = true;
      }
    }
  }
  std::vector<bool> keep(w.jobs.size(), true);
  if (!a.only.empty()) {
    std::vector<int> roots;
    for (const auto& j : a.only)
      for (std::size_t i = 0; i < w.jobs.size(); ++i)
        if (w.jobs[i].name == j) roots.push_back(static_cast<int>(i));
    keep = with_upstream(g, roots);
  }
  std::set<std::string> excluded(a.exclude.begin(), a.exclude.end());
  int max_level = 0;
  for (int l : level) max_level = std::max(max_level, l);
  if (json) {
    Json jobs = Json::array();
    for (int l = 0; l <= max_level; ++l)
      for (std::size_t i = 0; i < w.jobs.size(); ++i) {
        if (level[i] != l) continue;
        const Job& j = w.jobs[i];
        Json needs = Json::array(), stages = Json::array();
        for (const auto& n : j.needs) needs.push_back(n.job);
        for (const auto& s : j.stages)
          stages.push_back({{"name", s.name ? s.name->value : s.key()}, {"type", to_string(s.kind)}});
        jobs.push_back({{"name", j.name}, {"step", l + 1}, {"needs", needs}, {"selected", bool(keep[i])},
                        {"excluded", excluded.count(j.name) > 0}, {"strategy", j.strategy}, {"stages", stages}});
      }
    Json plan = {{"workflow", w.name}, {"file", w.file}, {"params", masked}, {"jobs", jobs}, {"dry_run", true}};
    std::printf("%s\n", json_text(plan, 2).c_str());
    return;
  }
  std::printf("workflow %s (%s)\n", w.name.c_str(), w.file.c_str());
  std::printf("params:\n");
  if (masked.empty()) std::printf("  (none)\n");
  for (auto it = masked.begin(); it != masked.end(); ++it) std::printf("  %s = %s\n", it.key().c_str(), json_text(it.value()).c_str());
  std::printf("jobs (in the order they can start):\n");
  for (int l = 0; l <= max_level; ++l) {
    for (std::size_t i = 0; i < w.jobs.size(); ++i) {
      if (level[i] != l) continue;
      const Job& j = w.jobs[i];
      std::string needs;
      for (const auto& n : j.needs) needs += (needs.empty() ? "" : ", ") + n.job;
      std::string note = !keep[i] ? "  [not selected]" : excluded.count(j.name) ? "  [excluded]" : "";
      std::printf("  %d. %s%s%s%s\n", l + 1, j.name.c_str(), needs.empty() ? "" : "  (needs ",
                  needs.c_str(), needs.empty() ? note.c_str() : (")" + note).c_str());
      for (const auto& s : j.stages)
        std::printf("       - %s [%s]\n", s.name ? s.name->value.c_str() : s.key().c_str(), to_string(s.kind).c_str());
    }
  }
  std::printf("nothing was run (--dry-run)\n");
}

}  // namespace

RunOptions base_run_options(const Globals& g, const Workflow& w, int jobs, std::optional<int> timeout,
                            double kill_grace, int max_legs, bool fail_fast) {
  RunOptions opts;
  opts.max_parallel = jobs > 0 ? jobs
                      : w.max_job_parallel ? *w.max_job_parallel
                      : env_int(g, {"WF_MAX_JOB_PARALLEL", "WORKFLOW_CORE_MAX_JOB_PARALLEL"})
                          .value_or(std::max(1u, std::thread::hardware_concurrency()));
  opts.timeout_seconds = timeout ? *timeout
                         : w.timeout ? *w.timeout
                         : env_int(g, {"WF_TIMEOUT", "WORKFLOW_CORE_TIMEOUT"}).value_or(3600);
  opts.fail_fast = fail_fast;
  opts.max_legs = max_legs;
  opts.kill_grace = std::chrono::milliseconds(static_cast<long long>(kill_grace * 1000));
  char cwd[4096];
  opts.cwd = ::getcwd(cwd, sizeof cwd) ? cwd : "";
  opts.command_line = g.command_line;
  // A trigger stage's child (FORMAT §6): the parent hands over the run id, itself and the
  // chain of workflows above it. These variables are not passed on to stages.
  opts.run_id = g.env_or("WF_TRIGGER_RUN_ID");
  opts.parent_run_id = g.env_or("WF_PARENT_RUN_ID");
  std::string chain = g.env_or("WF_TRIGGER_CHAIN");
  for (std::size_t start = 0; !chain.empty() && start <= chain.size();) {
    auto nl = chain.find('\n', start);
    opts.trigger_chain.push_back(chain.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  for (const auto& e : g.environ_list)
    if (e.rfind("WF_TRIGGER_RUN_ID=", 0) != 0 && e.rfind("WF_PARENT_RUN_ID=", 0) != 0 &&
        e.rfind("WF_TRIGGER_CHAIN=", 0) != 0)
      opts.base_env.push_back(e);
  opts.state_dir = state_dir(g);
  opts.conf_dirs = g.conf;
  return opts;
}

std::unique_ptr<Reporter> run_reporter(const Globals& g, bool json) {
  ReportMode mode = json || g.json ? ReportMode::Json
                    : g.quiet      ? ReportMode::Quiet
                    : ::isatty(STDOUT_FILENO) ? ReportMode::Terminal
                                              : ReportMode::Plain;
  return make_reporter(mode, stdout, mode == ReportMode::Terminal && g.color_stdout());
}

int run_command(Globals& g, const RunArgs& a, const ReleaseHooks* hooks) {
  DiagnosticList diags;
  auto chosen = choose_workflow(g, a.target, a.name, diags);
  if (!chosen.ok()) {
    print_diagnostics(diags, g, Severity::Error);
    return fail(kUsage, chosen.error().message);
  }
  if (!chosen->workflow) {
    print_diagnostics(diags, g, Severity::Error);
    return kUsage;
  }
  const Workflow& w = *chosen->workflow;
  spdlog::info("workflow '{}' from {} ({} job{})", w.name, w.file, w.jobs.size(), w.jobs.size() == 1 ? "" : "s");
  validate_workflow(w, diags, static_cast<std::size_t>(a.max_legs));
  // Problems in other workflows of the config path do not stop this one.
  DiagnosticList own;
  for (const auto& d : diags.items())
    if (d.pos.file == w.file || d.pos.file.empty()) {
      if (d.severity == Severity::Error) own.error(d.pos, d.message);
      else if (d.severity == Severity::Warning) own.warning(d.pos, d.message);
    }
  if (const std::string* src = diags.source(w.file)) own.add_source(w.file, *src);
  if (own.has_errors()) {
    print_diagnostics(own, g, Severity::Error);
    return fail(kUsage, "workflow '" + w.name + "' is not valid (" + std::to_string(own.error_count()) +
                            " error" + (own.error_count() == 1 ? "" : "s") + "); nothing was run");
  }
  if (g.verbose > 0) print_diagnostics(own, g, Severity::Warning);

  for (const auto* list : {&a.only, &a.exclude})
    for (const auto& j : *list)
      if (!w.find_job(j)) {
        std::vector<std::string> names;
        for (const auto& job : w.jobs) names.push_back(job.name);
        std::string msg = "no job '" + j + "' in workflow '" + w.name + "'";
        std::string hint = closest_match(j, names);
        if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
        return fail(kUsage, msg);
      }

  auto given = given_params(a);
  if (!given.ok()) return fail(kUsage, given.error().message);
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(
      std::chrono::floor<std::chrono::minutes>(std::chrono::system_clock::now()));
  std::string logical = hooks ? hooks->logical_date : format_iso_datetime(now);
  std::string release_type = hooks ? hooks->type : "manual";
  Json default_vars = {{"release", {{"logical_date", logical}, {"execute_date", format_iso_datetime(now)}, {"type", release_type}}},
                       {"run", {{"workflow", w.name}}},
                       {"env", g.env}};
  auto renderer = [&](const ParamSpec&, const std::string& text) -> Result<Json> {
    auto t = Template::parse(text);
    if (!t.ok()) return t.error();
    EvalContext ctx{&default_vars, false, false};
    return t->render(ctx);
  };
  auto params = resolve_params(w.params, *given, renderer);
  if (!params.ok()) {
    std::string msg = params.error().message;
    if (msg.find("declared params") == std::string::npos && msg.find("declares no params") == std::string::npos)
      msg += "\n" + declared_params(w);
    return fail(kUsage, msg);
  }
  std::vector<std::string> secrets = secret_values(w.params, *params);
  Json masked = mask_params(w.params, *params);

  if (a.dry_run) {
    print_plan(w, masked, a, a.json || g.json);
    return kOk;
  }

  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  spdlog::info("state file {}", (*store)->path());
  if (hooks && hooks->before_run) {
    int stop = hooks->before_run(**store, w, masked);
    if (stop >= 0) return stop;
  }

  // From here on SIGINT/SIGTERM are wf's to handle (also while queued for a slot, and when
  // the shell that started wf in the background had them ignored).
  install_signal_handlers();
  // Concurrency group (FORMAT §9.2): a slot is held for the whole run.
  std::unique_ptr<ConcurrencySlot> slot;
  if (w.concurrency.is_object()) {
    std::string group = w.name;
    if (w.concurrency.contains("group") && w.concurrency["group"].is_string()) {
      Json vars = {{"params", *params}, {"env", g.env}};
      auto t = Template::parse(w.concurrency["group"].get<std::string>());
      if (!t.ok()) return fail(kUsage, "concurrency.group: " + t.error().message);
      EvalContext ctx{&vars, false, false};
      auto r = t->render_string(ctx);
      if (!r.ok()) return fail(kUsage, "concurrency.group: " + r.error().message);
      group = *r;
    }
    int limit = w.concurrency.value("limit", 1);
    bool queue = w.concurrency.value("strategy", std::string("queue")) == "queue";
    auto got = ConcurrencySlot::acquire(state_dir(g), group, limit, queue);
    if (!got.ok()) return fail(kState, got.error().message);
    if (!*got) {
      if (queue)
        return fail(first_interrupt_signal() == SIGTERM ? 143 : 130,
                    "interrupted while waiting for a slot of concurrency group '" + group + "'");
      std::fprintf(stderr, "wf: run of '%s' not started: concurrency group '%s' already runs %d run%s (strategy cancel-new)\n",
                   w.name.c_str(), group.c_str(), limit, limit == 1 ? "" : "s");
      return kConcurrency;
    }
    slot = std::move(*got);
  }

  RunOptions opts = base_run_options(g, w, a.jobs, a.timeout, a.kill_grace, a.max_legs, a.fail_fast);
  if (std::find(opts.trigger_chain.begin(), opts.trigger_chain.end(), w.name) != opts.trigger_chain.end()) {
    std::string path;
    for (const auto& c : opts.trigger_chain) path += c + " -> ";
    return fail(kUsage, "trigger cycle: " + path + w.name);
  }
  opts.logical_date = hooks ? hooks->logical_date : "";
  opts.release_type = release_type;
  opts.only_jobs = a.only;
  opts.exclude_jobs = a.exclude;
  auto reporter = run_reporter(g, a.json);
  const std::string* text = diags.source(w.file);
  spdlog::debug("max parallel {}, timeout {}s, kill grace {}ms", opts.max_parallel, opts.timeout_seconds.value_or(0),
                opts.kill_grace.count());
  auto outcome = run_workflow(w, text ? *text : "", *params, secrets, masked, opts, **store, *reporter);
  if (!outcome.ok()) {
    if (outcome.error().name == "TemplateError") return fail(kUsage, outcome.error().message);
    return fail(kState, outcome.error().message);
  }
  if (hooks && hooks->after_run) hooks->after_run(**store, w, masked, *outcome, mask_text(g.command_line, secrets));
  return outcome->exit_code;
}

Command add_run(CLI::App& app, Globals& g) {
  auto a = std::make_shared<RunArgs>();
  Command c;
  c.app = app.add_subcommand("run", "Run a workflow now");
  c.app->add_option("target", a->target, "Workflow file (.yml/.yaml) or workflow name in the config path")
      ->required()
      ->type_name("FILE|NAME");
  c.app->add_option("workflow", a->name, "Which workflow of FILE to run, when it holds several")->type_name("WORKFLOW");
  c.app->add_option("-p,--param", a->params, "Set a param (repeatable)")->type_name("NAME=VALUE");
  c.app->add_option("--params-file", a->params_file, "Read params from a JSON or YAML map")->type_name("FILE");
  c.app->add_option("-j,--jobs", a->jobs, "Job instances to run at once (default: the workflow's max-job-parallel, else CPUs)")
      ->check(count_option(1, 100000))
      ->type_name("N");
  c.app->add_option("--timeout", a->timeout, "Timeout of the whole run in seconds (default: the workflow's, else 3600)")
      ->check(count_option(1, 1000000000))
      ->type_name("S");
  c.app->add_flag("--fail-fast", a->fail_fast, "Cancel everything after the first failed job");
  c.app->add_option("--job", a->only, "Run only this job and what it needs (repeatable)")->type_name("JOB");
  c.app->add_option("--exclude", a->exclude, "Leave this job out; jobs that need it are skipped (repeatable)")
      ->type_name("JOB");
  c.app->add_flag("--dry-run", a->dry_run, "Print the plan (jobs, order, resolved params) and run nothing");
  c.app->add_flag("--json", a->json, "Print the run result as JSON on stdout, and nothing else");
  c.app->add_option("--max-legs", a->max_legs, "Most matrix legs allowed in one job (default 256)")
      ->check(count_option(1, 1000000))
      ->type_name("N");
  c.app->add_option("--kill-grace", a->kill_grace, "Seconds between SIGTERM and SIGKILL when stopping a stage (default 10)")
      ->check(seconds_option(false))
      ->type_name("S");
  c.run = [a, &g] { return run_command(g, *a, nullptr); };
  return c;
}

}  // namespace wf::cli
