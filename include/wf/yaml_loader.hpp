// Reading workflow YAML into the model (workflow.hpp). The only includer of yaml-cpp.
// It knows the keys of every section (strict keys, did-you-mean, `x-` keys free), both file
// layouts, YAML 1.2 scalars, and records a position for every value it keeps. Problems go
// to a DiagnosticList; cross-object checks (needs, cycles, expressions) are the validator's.
#pragma once

#include <string>
#include <vector>

#include "wf/diagnostic.hpp"
#include "wf/result.hpp"
#include "wf/workflow.hpp"

namespace wf {

struct WorkflowFile {
  std::string path;
  std::string text;
  std::vector<Workflow> workflows;
};

// The text of a workflow or params file the user named: a regular file, or a pipe or device
// (`--params-file <(...)`), read to its end but no further than kMaxInputBytes. A directory,
// or more text than that, is an error: "cannot read WHAT: why" (`what`: the path if empty).
inline constexpr std::size_t kMaxInputBytes = 64u << 20;
Result<std::string> read_input_file(const std::string& path, const std::string& what = "");

// Reads and parses `path`; an unreadable file is an error in `diags`.
WorkflowFile load_workflow_file(const std::string& path, DiagnosticList& diags);
// Parses `text` as if read from `path` (used by tests and by rerun of a stored snapshot).
WorkflowFile load_workflow_text(const std::string& path, std::string text, DiagnosticList& diags);

// Parses a YAML or JSON document holding a map (for --params-file); YAML 1.2 scalars.
Result<Json> parse_yaml_map(const std::string& text, const std::string& path);

}  // namespace wf
