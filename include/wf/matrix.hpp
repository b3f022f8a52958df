// Matrix strategy expansion (FORMAT §5.3) with GitHub Actions semantics: cartesian product
// in key order (first key slowest), `exclude` by partial match, `include` merged into the
// matching original combinations or appended, and the naming of legs. Pure functions over
// JSON; templates are rendered by the caller before expansion.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "wf/result.hpp"

namespace wf {

using Json = nlohmann::json;

// The parts of a strategy's matrix, separated: `dims` is the ordered list of
// (key, values) pairs; `include`/`exclude` are lists of objects.
struct MatrixParts {
  std::vector<std::pair<std::string, Json>> dims;  // each value is a JSON array
  Json include = Json::array();
  Json exclude = Json::array();
};

// Splits a `matrix:` object (include/exclude may be inside it, GitHub style) plus
// strategy-level include/exclude (ddeutil style) into MatrixParts. `key_order` gives the
// keys in file order (nlohmann::json objects sort their keys, so the caller passes the
// YAML order). Errors: a dimension that is not a list, include/exclude that are not lists
// of maps.
Result<MatrixParts> split_matrix(const Json& matrix, const std::vector<std::string>& key_order,
                                 const Json& strategy_include, const Json& strategy_exclude);

// Expands into legs (each a JSON object). An exclude key that is not a dimension is an
// error ("exclude key 'x' is not a matrix key (keys: a, b)"). More than `max_legs` legs is
// an error naming the count and `--max-legs`. No combinations at all gives one empty leg.
Result<std::vector<Json>> expand_matrix(const MatrixParts& parts, std::size_t max_legs);

// The key order for leg_display_name: the dimension keys, then keys that include entries
// add, in the order the entries first name them (within one entry, sorted).
std::vector<std::string> matrix_key_order(const MatrixParts& parts);

// "job (v1, v2)": values in the leg's key order (dims first, then keys added by include);
// strings without quotes, other values as compact JSON. An empty leg gives "job".
std::string leg_display_name(const std::string& job, const Json& leg, const std::vector<std::string>& key_order);

// WF_MATRIX_<KEY>: key upper-cased, every character other than letters and digits -> '_'.
std::string matrix_env_name(const std::string& key);

}  // namespace wf
