#include <nlohmann/json.hpp>
#include <spdlog/version.h>

#include "commands.hpp"
#include "wf/run_store.hpp"

namespace wf::cli {

std::string version_text() {
  std::string s = std::string("wf ") + WF_VERSION + "\n";
  s += "  state schema " + std::to_string(RunStore::schema_version()) + "\n";
  s += std::string("  CLI11 ") + CLI11_VERSION + ", nlohmann_json " +
       std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." + std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
       std::to_string(NLOHMANN_JSON_VERSION_PATCH) + ", spdlog " + std::to_string(SPDLOG_VER_MAJOR) + "." +
       std::to_string(SPDLOG_VER_MINOR) + "." + std::to_string(SPDLOG_VER_PATCH) + ", yaml-cpp 0.7\n";
  return s;
}

Command add_version(CLI::App& app, Globals&) {
  Command c;
  c.app = app.add_subcommand("version", "Show the version of wf and of the libraries it was built with");
  c.run = [] {
    std::fputs(version_text().c_str(), stdout);
    return kOk;
  };
  return c;
}

}  // namespace wf::cli
