#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <map>

#include "commands.hpp"
#include "wf/slurm.hpp"

namespace wf::cli {

std::string local_time_text(TimeMs ms);
std::string span_text(TimeMs start, TimeMs end);
Json run_to_json(const RunRecord& r);

namespace {

struct ShowArgs {
  std::string run_id;
  bool json = false;
};

int show_command(Globals& g, const ShowArgs& a) {
  auto store = open_store(g);
  if (!store.ok()) return fail(kState, store.error().message);
  auto run = (*store)->find_run(a.run_id);
  if (!run.ok()) return fail(kUsage, run.error().message);
  auto instances = (*store)->job_instances(run->id, 0);
  if (!instances.ok()) return fail(kState, instances.error().message);
  Json out = run_to_json(*run);
  Json jobs = Json::array();
  for (const auto& ji : *instances) {
    auto stages = (*store)->stages(ji.id);
    if (!stages.ok()) return fail(kState, stages.error().message);
    Json js = Json::array();
    for (const auto& s : *stages) {
      Json sj = {{"index", s.index},         {"id", s.stage_key},          {"name", s.name},
                 {"attempt", s.attempt},     {"status", to_string(s.status)}, {"exit_code", s.exit_code},
                 {"started_at", s.started_at}, {"finished_at", s.finished_at}, {"outputs", s.outputs}};
      if (!s.error_name.empty()) sj["errors"] = {{"name", s.error_name}, {"message", s.error_message}};
      if (!s.external_id.empty()) sj["external_id"] = s.external_id;
      if (s.external_id.rfind("run:", 0) == 0) sj["child_run"] = s.external_id.substr(4);
      sj["row"] = s.id;
      if (s.parent_id != 0) {
        sj["parent_row"] = s.parent_id;
        sj["label"] = s.label;
      }
      js.push_back(sj);
    }
    Json jj = {{"job", ji.job},           {"name", ji.display_name},     {"run_attempt", ji.run_attempt},
               {"leg", ji.leg},           {"matrix", ji.matrix},         {"status", to_string(ji.status)},
               {"started_at", ji.started_at}, {"finished_at", ji.finished_at}, {"outputs", ji.outputs},
               {"stages", js}};
    if (!ji.skip_reason.empty()) jj["reason"] = ji.skip_reason;
    if (!ji.error_name.empty()) jj["errors"] = {{"name", ji.error_name}, {"message", ji.error_message}};
    jobs.push_back(jj);
  }
  // Slurm jobs that an interrupted wf left: what Slurm says about them now.
  std::vector<std::string> left;
  for (const auto& jj : jobs)
    for (const auto& sj : jj["stages"])
      if (sj.contains("external_id") && sj.contains("errors") && sj["errors"]["name"] == "Interrupted")
        if (auto ref = parse_slurm_external_id(sj["external_id"].get<std::string>())) left.push_back(ref->job_id);
  auto slurm_states = slurm_job_states(left);
  for (auto& jj : jobs)
    for (auto& sj : jj["stages"])
      if (sj.contains("external_id"))
        if (auto ref = parse_slurm_external_id(sj["external_id"].get<std::string>()))
          if (auto st = slurm_states.find(ref->job_id); st != slurm_states.end() && sj.contains("errors"))
            sj["slurm_state"] = st->second;
  out["jobs"] = jobs;
  auto attempts = (*store)->run_attempts(run->id);
  if (!attempts.ok()) return fail(kState, attempts.error().message);
  Json atts = Json::array();
  for (const auto& at : *attempts)
    atts.push_back({{"attempt", at.attempt}, {"status", to_string(at.status)}, {"exit_code", at.exit_code},
                    {"started_at", at.started_at}, {"finished_at", at.finished_at}});
  out["attempts"] = atts;
  if (a.json || g.json) {
    std::printf("%s\n", json_text(out, 2).c_str());
    return kOk;
  }
  std::printf("run       %s (attempt %d)\n", run->id.c_str(), run->attempt);
  std::printf("workflow  %s  (%s)\n", run->workflow.c_str(), run->file_path.c_str());
  if (!run->run_name.empty()) std::printf("name      %s\n", run->run_name.c_str());
  if (!run->parent_run_id.empty()) std::printf("parent    %s (triggered it)\n", run->parent_run_id.c_str());
  std::printf("status    %s", to_string(run->status).c_str());
  if (run->exit_code >= 0) std::printf(" (exit %d)", run->exit_code);
  std::printf("\nstarted   %s, took %s\n", local_time_text(run->started_at).c_str(),
              span_text(run->started_at, run->finished_at).c_str());
  if (!run->params.empty()) std::printf("params    %s\n", json_text(run->params).c_str());
  if (!run->error_name.empty()) std::printf("error     %s: %s\n", run->error_name.c_str(), run->error_message.c_str());
  int shown_attempt = 0;
  for (const auto& jj : jobs) {
    if (run->attempt > 1 && jj["run_attempt"].get<int>() != shown_attempt) {
      shown_attempt = jj["run_attempt"].get<int>();
      std::string st = "?";
      for (const auto& at : atts)
        if (at["attempt"] == shown_attempt) st = at["status"].get<std::string>();
      std::printf("\n== attempt %d: %s ==\n", shown_attempt, st.c_str());
    }
    std::printf("\n%s  %s  %s", jj["name"].get<std::string>().c_str(), jj["status"].get<std::string>().c_str(),
                span_text(jj["started_at"].get<TimeMs>(), jj["finished_at"].get<TimeMs>()).c_str());
    if (jj.contains("reason")) std::printf("  (%s)", jj["reason"].get<std::string>().c_str());
    std::printf("\n");
    if (jj.contains("errors"))
      std::printf("  error: %s: %s\n", jj["errors"]["name"].get<std::string>().c_str(),
                  jj["errors"]["message"].get<std::string>().c_str());
    if (!jj["outputs"].empty()) std::printf("  outputs: %s\n", json_text(jj["outputs"]).c_str());
    // Nested stages (parallel, foreach, until, case) stand indented under the stage they ran
    // in, grouped by branch/item/loop in the order those started.
    std::map<std::int64_t, std::vector<const Json*>> children;
    for (const auto& s : jj["stages"]) children[s.value("parent_row", std::int64_t{0})].push_back(&s);
    std::vector<std::pair<const Json*, int>> order;
    std::function<void(std::int64_t, int)> walk = [&](std::int64_t parent, int d) {
      auto it = children.find(parent);
      if (it == children.end()) return;
      std::vector<std::string> labels;
      for (const Json* s : it->second)
        if (std::find(labels.begin(), labels.end(), s->value("label", "")) == labels.end())
          labels.push_back(s->value("label", ""));
      for (const auto& l : labels)
        for (const Json* s : it->second)
          if (s->value("label", "") == l) {
            order.emplace_back(s, d);
            walk((*s)["row"].get<std::int64_t>(), d + 1);
          }
    };
    walk(0, 0);
    for (const auto& [sp, d] : order) {
      const Json& s = *sp;
      std::string indent(static_cast<std::size_t>(2 * d), ' ');
      std::string name = indent + (s.contains("label") ? "[" + s["label"].get<std::string>() + "] " : "") +
                         s["name"].get<std::string>();
      std::printf("  - %-30s %-7s %8s", name.c_str(), s["status"].get<std::string>().c_str(),
                  span_text(s["started_at"].get<TimeMs>(), s["finished_at"].get<TimeMs>()).c_str());
      if (s["attempt"].get<int>() > 1) std::printf("  attempt %d", s["attempt"].get<int>());
      if (s["exit_code"].get<int>() >= 0) std::printf("  exit %d", s["exit_code"].get<int>());
      if (s.contains("child_run")) std::printf("  run %s", s["child_run"].get<std::string>().c_str());
      if (s.contains("external_id") && s["external_id"].get<std::string>().rfind("slurm:", 0) == 0) {
        std::string ext = s["external_id"].get<std::string>();
        std::printf("  slurm job %s", ext.substr(6, ext.find(':', 6) - 6).c_str());
        if (s.contains("slurm_state")) std::printf(" (now %s)", s["slurm_state"].get<std::string>().c_str());
      }
      std::printf("\n");
      if (s.contains("errors"))
        std::printf("    %s  %s: %s\n", indent.c_str(), s["errors"]["name"].get<std::string>().c_str(),
                    s["errors"]["message"].get<std::string>().c_str());
    }
  }
  return kOk;
}

}  // namespace

Command add_show(CLI::App& app, Globals& g) {
  auto a = std::make_shared<ShowArgs>();
  Command c;
  c.app = app.add_subcommand("show", "Show one run: jobs, stages, statuses, durations, errors, outputs");
  c.app->add_option("run_id", a->run_id, "Run id or a unique prefix of it")->required()->type_name("RUN_ID");
  c.app->add_flag("--json", a->json, "Print JSON");
  c.run = [a, &g] { return show_command(g, *a); };
  return c;
}

}  // namespace wf::cli
