// The config path and the workflows found in it (FORMAT §1): which directories to search
// (--conf, WF_CONF_PATH, WORKFLOW_CORE_CONF_PATH, ./conf), walking them for *.yml/*.yaml,
// skipping what `.confignore` lists (gitignore rules), and finding a workflow by name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "wf/diagnostic.hpp"
#include "wf/yaml_loader.hpp"

namespace wf {

// The directories to search, from the command line or the environment (in that order of
// preference); `env` is a lookup so tests need not touch the process environment.
std::vector<std::string> config_dirs(const std::vector<std::string>& from_cli,
                                     const std::map<std::string, std::string>& env);

// Every *.yml/*.yaml file under `dir` (recursively, sorted), without those `.confignore` at
// the root of `dir` excludes.
std::vector<std::string> workflow_files_in(const std::string& dir);

// gitignore-style matching of one pattern against a path relative to the root
// (`is_dir` for directories); exposed for tests.
bool ignore_pattern_matches(const std::string& pattern, const std::string& rel_path, bool is_dir);

class Catalog {
 public:
  // Loads every workflow file in `dirs`; problems (including the same name in two files)
  // go to `diags`.
  static Catalog load(const std::vector<std::string>& dirs, DiagnosticList& diags);
  // Adds one file given on the command line.
  void add_file(WorkflowFile f, DiagnosticList& diags);

  const Workflow* find(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::vector<WorkflowFile>& files() const { return files_; }
  const WorkflowFile* file_of(const Workflow& w) const;

 private:
  std::vector<WorkflowFile> files_;
};

}  // namespace wf
