#include <algorithm>
#include <cstdio>
#include <cstring>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "wf/params.hpp"
#include "wf/cli.hpp"

extern char** environ;

namespace wf {

int run_cli(int argc, char** argv) {
  // `wf --version` and `wf version` alone: answered before the command line parser is built
  // (a fifth of the instructions of starting wf; the rest is the dynamic linker).
  if (argc == 2 && (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "version") == 0)) {
    std::fputs(cli::version_text().c_str(), stdout);
    return cli::kOk;
  }
  cli::Globals g;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    g.environ_list.push_back(kv);
    auto eq = kv.find('=');
    if (eq != std::string::npos) g.env.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  for (int i = 0; i < argc; ++i) g.command_line += (i ? " " : "") + std::string(argv[i]);

  CLI::App app{"wf — a workflow runner for the command line", "wf"};
  app.set_help_flag("-h,--help", "Show help and exit");
  app.fallthrough();
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version, "Show the version and exit");
  app.add_option("--conf", g.conf, "Config directory to search for workflows (repeatable)")->type_name("DIR");
  app.add_option("--state-dir", g.state_dir, "Directory of the state file (default $WF_STATE_DIR, else $XDG_STATE_HOME/wf)")
      ->type_name("DIR");
  app.add_flag("-q,--quiet", g.quiet, "Print nothing on success; on failure, a short summary");
  app.add_flag("-v,--verbose", g.verbose, "More diagnostics on stderr (repeat for more)");
  app.add_flag("--json", g.json, "JSON output, for the commands that have it");
  app.add_option("--color", g.color, "Colour output: auto, always or never (NO_COLOR is honoured)")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->type_name("WHEN");

  std::vector<cli::Command> commands = {
      cli::add_run(app, g),  cli::add_rerun(app, g), cli::add_validate(app, g), cli::add_list(app, g),    cli::add_runs(app, g),
      cli::add_show(app, g), cli::add_logs(app, g),     cli::add_graph(app, g), cli::add_cancel(app, g), cli::add_gc(app, g), cli::add_release(app, g), cli::add_tick(app, g), cli::add_schedule(app, g), cli::add_audit(app, g), cli::add_completion(app, g), cli::add_complete_helper(app, g), cli::add_version(app, g),
  };
  for (auto& c : commands) c.app->fallthrough();

  // The command word: an unknown one is an error even with --help after it (CLI11 would
  // print the general help and exit 0 for `wf bogus --help`).
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--") break;
    if (word == "--conf" || word == "--state-dir" || word == "--color") {
      ++i;
      continue;
    }
    if (word.empty() || word[0] == '-') continue;
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), word) == names.end()) {
      std::string hint = closest_match(word, names);
      std::fprintf(stderr, "wf: error: unknown command '%s'%s\n", word.c_str(),
                   hint.empty() ? "" : ("; did you mean '" + hint + "'?").c_str());
      std::fprintf(stderr, "Run 'wf --help' for the list of commands.\n");
      return cli::kUsage;
    }
    break;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::fprintf(stderr, "wf: error: %s\n", msg.c_str());
    std::fprintf(stderr, "Run 'wf --help' (or 'wf COMMAND --help') for usage.\n");
    return cli::kUsage;
  }

  auto logger = spdlog::stderr_color_mt("wf");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("wf: %l: %v");
  spdlog::set_level(g.verbose >= 2 ? spdlog::level::debug : g.verbose == 1 ? spdlog::level::info : spdlog::level::warn);

  if (show_version) {
    std::fputs(cli::version_text().c_str(), stdout);
    return cli::kOk;
  }
  for (auto& c : commands)
    if (c.app->parsed()) return c.run();
  std::fputs(app.help().c_str(), stdout);
  return cli::kUsage;
}

}  // namespace wf
