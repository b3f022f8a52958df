// Private to the expression module (expr.cpp): the value rules of FORMAT §7 (equality,
// ordering, membership, text) and the built-in functions and filters. The parser looks
// built-ins up by name once; the evaluator calls them with already evaluated arguments.
// Nothing here knows about syntax, offsets or the expression text: errors are plain
// messages ("format(): ...", "filter 'upper': ...") that the evaluator completes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wf/expr.hpp"
#include "wf/result.hpp"

namespace wf::expr_detail {

// "null", "boolean", "number", "string", "list" or "map", for error messages.
std::string type_name(const Json& v);
// Compact JSON that never throws (invalid UTF-8 is replaced).
std::string compact_json(const Json& v);

// `==`: JSON equality, except that a number and a numeric string compare as numbers.
bool values_equal(const Json& a, const Json& b);

// An integral number (a float too, if its value is integral) that fits in int64.
std::optional<std::int64_t> integer_value(const Json& v);

enum class Order { less, equal, greater, unordered };
// `< <= > >=`: numbers (a numeric string beside a number counts as one) and strings
// (bytewise); anything else is unordered, so every ordering test is false.
Order compare_values(const Json& a, const Json& b);

// `item in container`: list membership by ==, substring of a string, key of a map;
// false for a null container, an error for anything else.
Result<bool> contains_value(const Json& container, const Json& item);

// One built-in. For a filter, args[0] is the value being filtered and min/max count only
// the arguments in parentheses. `args` may be moved from.
struct Builtin {
  using Call = Result<Json> (*)(std::vector<Json>& args, const EvalContext& ctx);
  std::string_view name;
  std::size_t min_args = 0;
  std::size_t max_args = 0;
  Call call = nullptr;
  bool status = false;           // success() failure() always() cancelled()
  bool null_if_missing = false;  // default/coalesce: a missing last key reads as null
};

inline constexpr std::size_t kAnyCount = static_cast<std::size_t>(-1);

// Functions are found case-insensitively (as in GitHub Actions), filters exactly.
const Builtin* find_function(std::string_view name);
const Builtin* find_filter(std::string_view name);

}  // namespace wf::expr_detail
