#include <nlohmann/json.hpp>

#include <algorithm>

#include "commands.hpp"
#include "wf/cron.hpp"
#include "wf/datetime.hpp"

namespace wf::cli {

namespace {

struct ListArgs {
  std::string tag;
  bool json = false;
};

int list_command(Globals& g, const ListArgs& a) {
  DiagnosticList diags;
  auto dirs = config_dirs(g.conf, g.env);
  Catalog catalog = Catalog::load(dirs, diags);
  print_diagnostics(diags, g, Severity::Error);
  Json out = Json::array();
  std::vector<const Workflow*> rows;
  for (const auto& f : catalog.files())
    for (const auto& w : f.workflows)
      if (a.tag.empty() || std::find(w.tags.begin(), w.tags.end(), a.tag) != w.tags.end()) rows.push_back(&w);
  std::sort(rows.begin(), rows.end(), [](const Workflow* x, const Workflow* y) { return x->name < y->name; });
  auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  std::vector<std::string> next_text;
  for (const Workflow* w : rows) {
    Json scheds = Json::array();
    std::optional<UtcMinute> next;
    for (const auto& sc : w->schedules) {
      auto s = CronSchedule::make(sc.cron.value, sc.tz);
      if (!s.ok()) continue;
      auto n = s->next(now);
      scheds.push_back({{"cron", sc.cron.value}, {"timezone", sc.tz.empty() ? "UTC" : sc.tz},
                        {"next", n ? Json(format_iso_datetime(*n)) : Json(nullptr)}});
      if (n && (!next || *n < *next)) next = n;
    }
    next_text.push_back(next ? format_iso_datetime(*next) : "-");
    out.push_back({{"name", w->name}, {"file", w->file}, {"desc", w->desc}, {"tags", w->tags}, {"jobs", w->jobs.size()},
                   {"schedules", scheds}, {"next", next ? Json(format_iso_datetime(*next)) : Json(nullptr)}});
  }
  if (a.json || g.json) {
    std::printf("%s\n", json_text(out, 2).c_str());
  } else {
    std::size_t width = 8;
    for (const Workflow* w : rows) width = std::max(width, w->name.size());
    if (!rows.empty())
      std::printf("%-*s  %-4s  %-20s  %-20s  %-20s  %s\n", static_cast<int>(width), "WORKFLOW", "JOBS", "TAGS",
                  "SCHEDULES", "NEXT (UTC)", "FILE");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Workflow* w = rows[i];
      std::string tags, scheds;
      for (const auto& t : w->tags) tags += (tags.empty() ? "" : ",") + t;
      for (const auto& sc : w->schedules) scheds += (scheds.empty() ? "" : "; ") + sc.cron.value + (sc.tz.empty() ? "" : " " + sc.tz);
      std::printf("%-*s  %-4zu  %-20s  %-20s  %-20s  %s\n", static_cast<int>(width), w->name.c_str(), w->jobs.size(),
                  tags.c_str(), scheds.empty() ? "-" : scheds.c_str(), next_text[i].c_str(), w->file.c_str());
    }
    if (rows.empty() && !g.quiet) std::fprintf(stderr, "wf: no workflows found in the config path\n");
  }
  return diags.has_errors() ? kUsage : kOk;
}

}  // namespace

Command add_list(CLI::App& app, Globals& g) {
  auto a = std::make_shared<ListArgs>();
  Command c;
  c.app = app.add_subcommand("list", "List the workflows in the config path");
  c.app->add_option("--tag", a->tag, "Only workflows with this tag")->type_name("TAG");
  c.app->add_flag("--json", a->json, "Print JSON");
  c.run = [a, &g] { return list_command(g, *a); };
  return c;
}

}  // namespace wf::cli
