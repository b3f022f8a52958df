#include <unistd.h>

#include <functional>
#include <thread>

#include "commands.hpp"
#include "wf/dag.hpp"
#include "wf/params.hpp"
#include "wf/recovery.hpp"
#include "wf/reporter.hpp"
#include "wf/scheduler.hpp"
#include "wf/signals.hpp"
#include "wf/validate.hpp"
#include "wf/yaml_loader.hpp"

namespace wf::cli {

namespace {

struct RerunArgs {
  std::string run_id;
  std::vector<std::string> params;
  std::string params_file;
  bool use_current_spec = false;
  std::vector<std::string> from;
  int jobs = 0;
  std::optional<int> timeout;
  bool fail_fast = false;
  bool json = false;
  double kill_grace = 10;
  int max_legs = 256;
  std::string logical_date;  // set by wf release --type rerun
  std::string release_type = "manual";
};

// Each job's definition as JSON text, to tell which jobs a changed file changed.
std::map<std::string, std::string> job_definitions(const std::string& text, const std::string& workflow) {
  std::map<std::string, std::string> out;
  auto root = parse_yaml_map(text, "spec");
  if (!root.ok()) return out;
  const Json* body = nullptr;
  if (root->contains(workflow) && (*root)[workflow].is_object()) body = &(*root)[workflow];
  else if (root->value("name", "") == workflow) body = &*root;
  if (!body || !body->contains("jobs") || !(*body)["jobs"].is_object()) return out;
  for (auto it = (*body)["jobs"].begin(); it != (*body)["jobs"].end(); ++it) out[it.key()] = json_text(it.value());
  return out;
}

std::string env_param_name(const std::string& name) {
  std::string out = "WF_PARAM_";
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  return out;
}

int rerun_command(Globals& g, const RerunArgs& a) {
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  auto found = (*store)->find_run(a.run_id);
  if (!found.ok()) return fail(kUsage, found.error().message);
  RunRecord run = *found;
  if (run.status == Status::Wait && run_process_alive(run))
    return fail(kUsage, "run " + run.id + " is still running (pid " + std::to_string(run.pid) +
                            "); wait for it or stop it with 'wf cancel " + run.id + "'");

  // The workflow: the stored snapshot, or the file as it is now.
  DiagnosticList diags;
  std::string text = run.spec_text;
  if (a.use_current_spec) {
    auto current = read_input_file(run.file_path);
    if (!current.ok()) return fail(kUsage, current.error().message + " (for --use-current-spec)");
    text = std::move(*current);
  }
  WorkflowFile file = load_workflow_text(run.file_path, text, diags);
  const Workflow* w = nullptr;
  for (const auto& x : file.workflows)
    if (x.name == run.workflow) w = &x;
  if (!w) {
    print_diagnostics(diags, g, Severity::Error);
    return fail(kUsage, "workflow '" + run.workflow + "' is not in " +
                            (a.use_current_spec ? run.file_path : "the stored snapshot of run " + run.id));
  }
  validate_workflow(*w, diags, static_cast<std::size_t>(a.max_legs));
  if (diags.has_errors()) {
    print_diagnostics(diags, g, Severity::Error);
    return fail(kUsage, "workflow '" + w->name + "' is not valid; nothing was run");
  }

  // Params: the stored ones, then -p / --params-file; secrets were never stored.
  Json given = run.params.is_object() ? run.params : Json::object();
  // Drop stored values of params the (current) workflow no longer declares; what -p gives
  // below is checked like on `wf run`.
  for (auto it = given.begin(); it != given.end();) {
    if (!w->find_param(it.key())) it = given.erase(it);
    else ++it;
  }
  if (!a.params_file.empty()) {
    auto file = read_input_file(a.params_file, "params file " + a.params_file);
    if (!file.ok()) return fail(kUsage, file.error().message);
    auto m = parse_yaml_map(*file, a.params_file);
    if (!m.ok()) return fail(kUsage, m.error().message);
    for (auto it = m->begin(); it != m->end(); ++it) given[it.key()] = it.value();
  }
  for (const auto& p : a.params) {
    auto kv = parse_param_assignment(p);
    if (!kv.ok()) return fail(kUsage, kv.error().message);
    given[kv->first] = kv->second;
  }
  std::vector<std::string> missing;
  for (const auto& spec : w->params) {
    if (!spec.secret) continue;
    bool from_cli = false;
    for (const auto& p : a.params)
      if (p.rfind(spec.name + "=", 0) == 0) from_cli = true;
    if (from_cli) continue;
    std::string env_name = env_param_name(spec.name);
    if (g.env.count(env_name)) {
      given[spec.name] = g.env.at(env_name);
    } else if (given.contains(spec.name) && given[spec.name] == "***") {
      missing.push_back(spec.name + " (-p " + spec.name + "=... or " + env_name + ")");
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) list += "\n  " + m;
    return fail(kUsage, "run " + run.id + " has secret params that were not stored; give them again:" + list);
  }
  auto params = resolve_params(w->params, given, nullptr);
  if (!params.ok()) return fail(kUsage, params.error().message);

  // What to keep: instances that succeeded in the last attempt, unless forced.
  JobGraph graph = build_job_graph(*w);
  std::vector<int> forced_roots;
  for (const auto& j : a.from) {
    bool ok = false;
    for (std::size_t i = 0; i < w->jobs.size(); ++i)
      if (w->jobs[i].name == j) {
        forced_roots.push_back(static_cast<int>(i));
        ok = true;
      }
    if (!ok) return fail(kUsage, "no job '" + j + "' in workflow '" + w->name + "'");
  }
  if (a.use_current_spec) {
    auto before = job_definitions(run.spec_text, run.workflow), after = job_definitions(text, run.workflow);
    std::string changed;
    for (std::size_t i = 0; i < w->jobs.size(); ++i) {
      auto b = before.find(w->jobs[i].name);
      auto c = after.find(w->jobs[i].name);
      if (b == before.end() || c == after.end() || b->second != c->second) {
        forced_roots.push_back(static_cast<int>(i));
        changed += (changed.empty() ? "" : ", ") + w->jobs[i].name;
      }
    }
    if (!g.quiet && !(a.json || g.json))
      std::printf("changed jobs: %s\n", changed.empty() ? "none" : changed.c_str());
  }
  std::vector<bool> forced(w->jobs.size(), false);
  std::vector<int> todo = forced_roots;
  while (!todo.empty()) {
    int j = todo.back();
    todo.pop_back();
    if (forced[j]) continue;
    forced[j] = true;
    for (int d : graph.dependents[j]) todo.push_back(d);
  }
  if (run.status == Status::Success && forced_roots.empty()) {
    if (!g.quiet) std::printf("run %s already succeeded; nothing to rerun (use --from JOB to run jobs again)\n", run.id.c_str());
    return kOk;
  }
  auto previous = (*store)->job_instances(run.id, run.attempt);
  if (!previous.ok()) return fail(kState, previous.error().message);
  ResumeInfo resume;
  resume.run = run;
  resume.run.attempt = run.attempt + 1;
  // Jobs are visited in an order where needs come first.
  std::vector<int> order;
  std::vector<int> indeg(w->jobs.size(), 0);
  for (std::size_t i = 0; i < w->jobs.size(); ++i) indeg[i] = static_cast<int>(graph.needs[i].size());
  for (std::size_t i = 0; i < w->jobs.size(); ++i)
    if (indeg[i] == 0) order.push_back(static_cast<int>(i));
  for (std::size_t k = 0; k < order.size(); ++k)
    for (int d : graph.dependents[order[k]])
      if (--indeg[d] == 0) order.push_back(d);
  for (int i : order) {
    const Job& j = w->jobs[i];
    if (forced[i]) continue;
    bool needs_kept = std::all_of(graph.needs[i].begin(), graph.needs[i].end(),
                                  [&](int n) { return resume.kept_whole.count(w->jobs[n].name) > 0; });
    if (!needs_kept) continue;
    // A leg is kept when one of its rows succeeded (a job retry leaves several rows per leg).
    std::vector<KeptLeg> kept;
    std::vector<Json> seen;
    bool all_ok = true;
    for (const auto& ji : *previous) {
      if (ji.job != j.name) continue;
      if (std::find(seen.begin(), seen.end(), ji.matrix) != seen.end()) continue;
      seen.push_back(ji.matrix);
      const JobInstanceRecord* ok_row = nullptr;
      for (const auto& other : *previous)
        if (other.job == j.name && other.matrix == ji.matrix && other.status == Status::Success) ok_row = &other;
      if (ok_row) kept.push_back({ok_row->matrix, ok_row->outputs, ok_row->display_name});
      else all_ok = false;
    }
    if (kept.empty()) continue;
    resume.kept[j.name] = kept;
    if (all_ok) resume.kept_whole.insert(j.name);
  }

  RunOptions opts = base_run_options(g, *w, a.jobs, a.timeout, a.kill_grace, a.max_legs, a.fail_fast);
  opts.resume = resume;
  opts.logical_date = a.logical_date;
  opts.release_type = a.release_type;

  std::vector<std::string> secrets = secret_values(w->params, *params);
  Json masked = mask_params(w->params, *params);
  auto reporter = run_reporter(g, a.json);
  install_signal_handlers();
  auto outcome = run_workflow(*w, text, *params, secrets, masked, opts, **store, *reporter);
  if (!outcome.ok()) return fail(kState, outcome.error().message);
  return outcome->exit_code;
}

}  // namespace

int rerun_run(Globals& g, const std::string& run_id, const std::string& logical_date, const std::string& type) {
  RerunArgs a;
  a.run_id = run_id;
  a.logical_date = logical_date;
  a.release_type = type;
  return rerun_command(g, a);
}

Command add_rerun(CLI::App& app, Globals& g) {
  auto a = std::make_shared<RerunArgs>();
  Command c;
  c.app = app.add_subcommand("rerun", "Run again what did not succeed in a stored run, as its next attempt");
  c.app->add_option("run_id", a->run_id, "Run id or a unique prefix of it")->required()->type_name("RUN_ID");
  c.app->add_option("-p,--param", a->params, "Override a stored param (repeatable)")->type_name("NAME=VALUE");
  c.app->add_option("--params-file", a->params_file, "Override stored params from a JSON or YAML map")
      ->type_name("FILE");
  c.app->add_flag("--use-current-spec", a->use_current_spec,
                  "Use the workflow file as it is now (changed jobs and their downstream run again)");
  c.app->add_option("--from", a->from, "Also run this job and everything downstream of it (repeatable)")
      ->type_name("JOB");
  c.app->add_option("-j,--jobs", a->jobs, "Job instances to run at once")->check(count_option(1, 100000))->type_name("N");
  c.app->add_option("--timeout", a->timeout, "Timeout of this attempt in seconds")
      ->check(count_option(1, 1000000000))
      ->type_name("S");
  c.app->add_flag("--fail-fast", a->fail_fast, "Cancel everything after the first failed job");
  c.app->add_flag("--json", a->json, "Print the run result as JSON on stdout, and nothing else");
  c.app->add_option("--kill-grace", a->kill_grace, "Seconds between SIGTERM and SIGKILL (default 10)")
      ->check(seconds_option(false))
      ->type_name("S");
  c.app->add_option("--max-legs", a->max_legs, "Most matrix legs allowed in one job (default 256)")
      ->check(count_option(1, 1000000))
      ->type_name("N");
  c.run = [a, &g] { return rerun_command(g, *a); };
  return c;
}

}  // namespace wf::cli
