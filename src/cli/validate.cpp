#include <filesystem>

#include "commands.hpp"
#include "wf/validate.hpp"

namespace wf::cli {

namespace {

struct ValidateArgs {
  std::vector<std::string> paths;
};

int validate_command(Globals& g, const ValidateArgs& a) {
  namespace fs = std::filesystem;
  DiagnosticList diags;
  Catalog catalog;
  std::vector<std::string> roots = a.paths.empty() ? config_dirs(g.conf, g.env) : a.paths;
  std::size_t files = 0;
  for (const auto& p : roots) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      for (const auto& f : workflow_files_in(p)) {
        catalog.add_file(load_workflow_file(f, diags), diags);
        ++files;
      }
    } else if (fs::exists(p, ec)) {
      catalog.add_file(load_workflow_file(p, diags), diags);
      ++files;
    } else {
      diags.error(SourcePos{p, 0, 0}, "no such file or directory");
    }
  }
  std::size_t workflows = 0;
  for (const auto& f : catalog.files())
    for (const auto& w : f.workflows) {
      validate_workflow(w, diags);
      ++workflows;
    }
  print_diagnostics(diags, g, g.quiet ? Severity::Error : Severity::Note);
  std::size_t errors = diags.error_count(), warnings = diags.warning_count();
  if (errors > 0) {
    std::fprintf(stderr, "wf: %zu error%s, %zu warning%s in %zu file%s\n", errors, errors == 1 ? "" : "s", warnings,
                 warnings == 1 ? "" : "s", files, files == 1 ? "" : "s");
    return kUsage;
  }
  if (!g.quiet)
    std::printf("ok: %zu workflow%s in %zu file%s%s\n", workflows, workflows == 1 ? "" : "s", files,
                files == 1 ? "" : "s",
                warnings ? (", " + std::to_string(warnings) + " warning" + (warnings == 1 ? "" : "s")).c_str() : "");
  return kOk;
}

}  // namespace

Command add_validate(CLI::App& app, Globals& g) {
  auto a = std::make_shared<ValidateArgs>();
  Command c;
  c.app = app.add_subcommand("validate", "Check workflow files without running anything; prints every problem");
  c.app->add_option("paths", a->paths, "Files or directories (default: the config path)")->type_name("FILE|DIR");
  c.run = [a, &g] { return validate_command(g, *a); };
  return c;
}

}  // namespace wf::cli
