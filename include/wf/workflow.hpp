// The workflow model: plain value types for workflows, jobs, stages and params.
// No YAML and no I/O here: yaml_loader builds these, the validator checks them and the
// scheduler runs them. Strings that may hold `${{ }}` templates are kept as Text, with the
// position of the YAML scalar they came from, so that later errors can point into the file.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wf/result.hpp"

namespace wf {

using Json = nlohmann::json;

// JSON text of a value; bytes that are not UTF-8 (a stage's output, a file in Latin-1) come
// out as U+FFFD instead of throwing. Every dump of user data goes through this.
inline std::string json_text(const Json& v, int indent = -1) {
  return v.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// A string value from the file and where it stands.
struct Text {
  std::string value;
  SourcePos pos;
};

// Ordered string map (YAML key order matters for env and outputs).
using TextMap = std::vector<std::pair<std::string, Text>>;

enum class ParamType { Str, Int, Float, Decimal, Bool, Date, Datetime, Choice, Array, Map };
std::string to_string(ParamType t);
std::optional<ParamType> parse_param_type(std::string_view s);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Str;
  std::string desc;
  std::optional<Json> default_value;  // may be a string holding templates
  bool required = false;
  std::vector<Json> options;  // choice
  std::optional<int> precision;  // decimal
  bool secret = false;
  SourcePos pos;
};

enum class StageKind { Empty, Bash, Raise, Python, Call, Trigger, Parallel, Foreach, Until, Case };
std::string to_string(StageKind k);

struct Stage;

// A stage list held by a nested stage: a `parallel` branch, the body of `foreach`/`until`,
// or one `match` entry of a `case` stage.
struct StageList {
  std::string label;           // branch name; for case: the entry's value as text
  Json value;                  // case: the entry's literal value (string/number/bool); else null
  std::optional<Text> value_text;  // case: the entry's value when it is a template
  bool catch_all = false;      // case: `case: _` or an `else:` entry
  std::vector<Stage> stages;
  SourcePos pos;
};

struct Stage {
  StageKind kind = StageKind::Empty;
  std::optional<Text> name;
  std::optional<Text> id;
  std::string desc;
  std::optional<Text> if_cond;  // YAML booleans arrive as "true"/"false"
  TextMap env;
  std::optional<Text> retry;
  std::optional<Text> timeout;
  bool continue_on_error = false;
  std::optional<Text> working_directory;
  // empty stage
  std::optional<Text> echo;
  std::optional<Text> sleep;
  // bash stage
  Text bash;
  std::optional<Text> shell;
  // raise stage
  Text raise;
  // python stage
  Text run;
  Json vars;  // raw `vars:` map (strings may hold templates)
  // call stage
  Text uses;
  Json with;  // raw `with:` map (strings may hold templates)
  // trigger stage: workflow name and its params (raw; strings may hold templates)
  Text trigger;
  Json trigger_params;
  // nested stages: parallel branches, the foreach/until body, case entries
  std::vector<StageList> lists;
  std::optional<Text> max_workers;  // parallel
  Json foreach_items;               // foreach: a list (raw) or a string template
  SourcePos foreach_pos;
  std::optional<Text> concurrent;   // foreach
  bool use_index_as_key = false;    // foreach
  Text until;                       // until: the condition
  Json until_item;                  // until: the initial item (raw; default 0)
  std::optional<Text> max_loop;     // until
  Text case_value;                  // case
  bool skip_not_match = false;      // case
  SourcePos pos;

  // The key other stages use: id, else name.
  std::string key() const { return id ? id->value : (name ? name->value : std::string()); }
};

enum class TriggerRule { AllSuccess, AllFailed, AllDone, OneSuccess, OneFailed, NoneFailed, NoneSkipped };
std::string to_string(TriggerRule r);
std::optional<TriggerRule> parse_trigger_rule(std::string_view s);

struct Need {
  std::string job;
  SourcePos pos;
};

struct Job {
  std::string name;
  std::string desc;
  std::vector<Need> needs;
  std::optional<Text> if_cond;
  TriggerRule trigger_rule = TriggerRule::AllSuccess;
  TextMap env;
  std::optional<Text> timeout;
  std::optional<Text> retry;
  bool continue_on_error = false;
  std::optional<TextMap> outputs;  // absent: merged stage outputs
  std::optional<Text> shell;  // defaults.shell of the job
  std::optional<Text> working_directory;  // defaults.working-directory of the job
  Json strategy;  // raw strategy map; null when absent
  std::vector<std::string> matrix_keys;  // matrix dimensions in file order
  Json runs_on;   // raw runs-on; null means local
  std::vector<Stage> stages;
  SourcePos pos;
};

// One entry of `on:` (FORMAT §4): a cron expression and its IANA time zone ("" = UTC).
struct ScheduleSpec {
  Text cron;
  std::string tz;
  SourcePos tz_pos;
};

struct Workflow {
  std::string name;
  std::string file;         // path it was loaded from
  std::string desc;
  std::vector<std::string> tags;
  std::vector<ParamSpec> params;
  TextMap env;
  std::optional<Text> shell;              // defaults.shell
  std::optional<Text> working_directory;  // defaults.working-directory
  std::optional<int> timeout;             // seconds
  std::optional<int> max_job_parallel;
  std::optional<Text> run_name;
  Json on;           // raw `on:` value
  std::vector<ScheduleSpec> schedules;
  Json concurrency;  // raw
  Json extras;       // raw
  std::vector<Job> jobs;  // file order
  SourcePos pos;

  const Job* find_job(std::string_view job_name) const;
  const ParamSpec* find_param(std::string_view param_name) const;
};

}  // namespace wf
