#include "wf/workflow.hpp"

#include <array>

namespace wf {

namespace {
constexpr std::array<std::pair<ParamType, const char*>, 10> kParamTypes{{
    {ParamType::Str, "str"},         {ParamType::Int, "int"},
    {ParamType::Float, "float"},     {ParamType::Decimal, "decimal"},
    {ParamType::Bool, "bool"},       {ParamType::Date, "date"},
    {ParamType::Datetime, "datetime"}, {ParamType::Choice, "choice"},
    {ParamType::Array, "array"},     {ParamType::Map, "map"},
}};
constexpr std::array<std::pair<TriggerRule, const char*>, 7> kRules{{
    {TriggerRule::AllSuccess, "all_success"},   {TriggerRule::AllFailed, "all_failed"},
    {TriggerRule::AllDone, "all_done"},         {TriggerRule::OneSuccess, "one_success"},
    {TriggerRule::OneFailed, "one_failed"},     {TriggerRule::NoneFailed, "none_failed"},
    {TriggerRule::NoneSkipped, "none_skipped"},
}};
}  // namespace

std::string to_string(ParamType t) {
  for (const auto& [v, s] : kParamTypes)
    if (v == t) return s;
  return "str";
}

std::optional<ParamType> parse_param_type(std::string_view s) {
  for (const auto& [v, name] : kParamTypes)
    if (s == name) return v;
  return std::nullopt;
}

std::string to_string(TriggerRule r) {
  for (const auto& [v, s] : kRules)
    if (v == r) return s;
  return "all_success";
}

std::optional<TriggerRule> parse_trigger_rule(std::string_view s) {
  for (const auto& [v, name] : kRules)
    if (s == name) return v;
  return std::nullopt;
}

std::string to_string(StageKind k) {
  switch (k) {
    case StageKind::Empty: return "empty";
    case StageKind::Bash: return "bash";
    case StageKind::Raise: return "raise";
    case StageKind::Python: return "python";
    case StageKind::Call: return "call";
    case StageKind::Trigger: return "trigger";
    case StageKind::Parallel: return "parallel";
    case StageKind::Foreach: return "foreach";
    case StageKind::Until: return "until";
    case StageKind::Case: return "case";
  }
  return "empty";
}

const Job* Workflow::find_job(std::string_view job_name) const {
  for (const auto& j : jobs)
    if (j.name == job_name) return &j;
  return nullptr;
}

const ParamSpec* Workflow::find_param(std::string_view param_name) const {
  for (const auto& p : params)
    if (p.name == param_name) return &p;
  return nullptr;
}

}  // namespace wf
