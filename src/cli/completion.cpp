// `wf completion SHELL` prints a shell completion script, and the hidden `wf __complete KIND
// [ARG]` gives those scripts their dynamic values, one per line:
//   workflows         workflow names in the config path
//   workflows FILE    workflow names in that file
//   jobs TARGET       job names of a workflow file, of a workflow name in the config path, or
//                     of the workflow a stored run (id or unique prefix) was made from
//   runs              run ids in the state file, newest first
// `__complete` prints nothing on errors and always exits 0: a tab press must never print an
// error. It does not create a state file that does not exist, and opens an existing one
// without crash recovery (a tab press should not write to the state file).
//
// The scripts are the files in completions/ (which `cmake --install` installs), embedded at
// build time; tests/cli/test_docs.sh checks that `wf completion SHELL` prints exactly them.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "wf_completions.hpp"
#include "wf/yaml_loader.hpp"

namespace wf::cli {

namespace {

// The scripts are completions/wf.bash, completions/_wf and completions/wf.fish themselves,
// embedded at configure time (CMakeLists.txt writes wf_completions.hpp from them).
const char* const kBash = wf_completion_bash;
const char* const kZsh = wf_completion_zsh;
const char* const kFish = wf_completion_fish;

void print_unique(const std::vector<std::string>& values) {
  std::vector<std::string> seen;
  for (const auto& v : values) {
    if (v.empty() || std::find(seen.begin(), seen.end(), v) != seen.end()) continue;
    seen.push_back(v);
    std::printf("%s\n", v.c_str());
  }
}

bool is_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::vector<std::string> job_names(const Workflow& w) {
  std::vector<std::string> out;
  for (const auto& j : w.jobs) out.push_back(j.name);
  return out;
}

// The state file, opened only when it exists.
std::unique_ptr<RunStore> existing_store(const Globals& g) {
  std::string dir = state_dir(g);
  if (!is_file(dir + "/wf.db")) return nullptr;
  auto store = RunStore::open(dir);
  if (!store.ok()) return nullptr;
  return std::move(*store);
}

void complete_workflows(const Globals& g, const std::vector<std::string>& args) {
  DiagnosticList diags;
  if (!args.empty() && is_file(args[0])) {
    WorkflowFile f = load_workflow_file(args[0], diags);
    std::vector<std::string> names;
    for (const auto& w : f.workflows) names.push_back(w.name);
    print_unique(names);
    return;
  }
  if (!args.empty()) return;
  print_unique(Catalog::load(config_dirs(g.conf, g.env), diags).names());
}

void complete_jobs(const Globals& g, const std::vector<std::string>& args) {
  if (args.empty() || args[0].empty()) return;
  const std::string& target = args[0];
  DiagnosticList diags;
  if (is_file(target)) {
    WorkflowFile f = load_workflow_file(target, diags);
    std::vector<std::string> names;
    for (const auto& w : f.workflows)
      for (auto& n : job_names(w)) names.push_back(n);
    print_unique(names);
    return;
  }
  Catalog catalog = Catalog::load(config_dirs(g.conf, g.env), diags);
  if (const Workflow* w = catalog.find(target)) {
    print_unique(job_names(*w));
    return;
  }
  auto store = existing_store(g);
  if (!store) return;
  auto run = store->find_run(target);
  if (!run.ok()) return;
  WorkflowFile f = load_workflow_text(run->file_path, run->spec_text, diags);
  for (const auto& w : f.workflows)
    if (w.name == run->workflow) print_unique(job_names(w));
}

void complete_runs(const Globals& g) {
  auto store = existing_store(g);
  if (!store) return;
  RunFilter filter;
  filter.limit = 0;
  auto runs = store->list_runs(filter);
  if (!runs.ok()) return;
  std::vector<std::string> ids;
  for (const auto& r : *runs) ids.push_back(r.id);
  print_unique(ids);
}

struct CompleteArgs {
  std::string kind;
  std::vector<std::string> args;
};

int complete_command(const Globals& g, const CompleteArgs& a) {
  try {
    if (a.kind == "workflows") complete_workflows(g, a.args);
    else if (a.kind == "jobs") complete_jobs(g, a.args);
    else if (a.kind == "runs") complete_runs(g);
  } catch (...) {
    // Nothing on errors: completion must stay silent.
  }
  std::fflush(stdout);
  return kOk;
}

}  // namespace

Command add_completion(CLI::App& app, Globals&) {
  auto shell = std::make_shared<std::string>();
  Command c;
  c.app = app.add_subcommand("completion", "Print the completion script of a shell (bash, zsh or fish)");
  c.app->add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}))
      ->type_name("SHELL");
  c.run = [shell] {
    const char* text = *shell == "bash" ? kBash : *shell == "zsh" ? kZsh : kFish;
    std::fputs(text, stdout);
    return kOk;
  };
  return c;
}

Command add_complete_helper(CLI::App& app, Globals& g) {
  auto a = std::make_shared<CompleteArgs>();
  Command c;
  c.app = app.add_subcommand("__complete", "Values for the shell completion scripts");
  c.app->group("");
  c.app->add_option("kind", a->kind, "workflows, jobs or runs")->type_name("KIND");
  c.app->add_option("args", a->args, "A workflow file, workflow name or run id")->type_name("FILE");
  c.run = [a, &g] { return complete_command(g, *a); };
  return c;
}

}  // namespace wf::cli
