// Param values (FORMAT §3): coercion of given values to their declared types, defaults,
// required and choice checks, and secret masking. Values given on the command line arrive
// as strings and are coerced; values from a params file or a trigger keep their JSON type
// and are checked (an int param accepts 12 and "12", never 1.5 or "1.5").
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "wf/result.hpp"
#include "wf/workflow.hpp"

namespace wf {

// Coerces one value to the spec's type. The error message names the param, its type and
// the value, e.g. "param 'batch-size' (int): cannot convert \"1.5\" to int".
// Canonical forms: str -> string; int -> integer; float -> number; decimal -> number rounded
// to `precision` digits when set; bool -> boolean; date -> "YYYY-MM-DD"; datetime ->
// "YYYY-MM-DDTHH:MM:SSZ" in UTC (offset converted, naive = UTC, date alone = midnight UTC);
// choice -> the matching option (compared after coercion to the option's JSON type);
// array -> list (a string is parsed as JSON); map -> object (a string is parsed as JSON).
Result<Json> coerce_param(const ParamSpec& spec, const Json& value);

// Resolves the whole params object for a run. `given` is an object of name -> value.
// Order of checks: undeclared names (error lists the declared params with their types and a
// did-you-mean), coercion of given values, defaults for the rest (a string default that
// holds `${{` is rendered with `render_default`, then coerced; a choice without default
// takes its first option), required params without a value. Declared params with no value
// and no default are null. The first problem found is returned.
using DefaultRenderer = std::function<Result<Json>(const ParamSpec&, const std::string& text)>;
Result<Json> resolve_params(const std::vector<ParamSpec>& specs, const Json& given,
                            const DefaultRenderer& render_default);

// Parses "-p name=value" into (name, value-string); error if there is no '='.
Result<std::pair<std::string, std::string>> parse_param_assignment(std::string_view text);

// The text forms of every secret param's value in `params` (for masking); empty strings
// are left out.
std::vector<std::string> secret_values(const std::vector<ParamSpec>& specs, const Json& params);
// `params` with every secret param's value replaced by "***".
Json mask_params(const std::vector<ParamSpec>& specs, const Json& params);
// `text` with every occurrence of any secret replaced by "***" (longest secrets first).
std::string mask_text(std::string text, const std::vector<std::string>& secrets);
// Masks every string inside a JSON value (keys are left as they are).
Json mask_json(const Json& value, const std::vector<std::string>& secrets);

// "did you mean 'x'?" helper shared by the loader, validator and CLI: the closest candidate
// by edit distance if it is close enough (distance <= max(1, len/3)), else empty.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace wf
