#include "expr_functions.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>

#include "wf/datetime.hpp"

namespace wf {

namespace ed = expr_detail;

namespace {

// ---- small text helpers ---------------------------------------------------------------

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

bool is_ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// UTF-8 code points (a malformed byte counts as one), so `length` and `list` treat
// "é" as one character.
std::vector<std::string> code_points(std::string_view s) {
  std::vector<std::string> out;
  for (char c : s) {
    bool continuation = (static_cast<unsigned char>(c) & 0xC0) == 0x80;
    if (continuation && !out.empty() && out.back().size() < 4)
      out.back() += c;
    else
      out.emplace_back(1, c);
  }
  return out;
}

// A string that holds just a number (surrounding whitespace allowed), as a JSON number.
std::optional<Json> numeric_string(std::string_view s) {
  s = strip(s);
  if (s.empty()) return std::nullopt;
  std::size_t lead = s[0] == '-' ? 1 : 0;
  if (lead >= s.size() || !((s[lead] >= '0' && s[lead] <= '9') || s[lead] == '.'))
    return std::nullopt;  // also keeps out "inf" and "nan"
  const char* end = s.data() + s.size();
  std::int64_t i = 0;
  auto ri = std::from_chars(s.data(), end, i);
  if (ri.ec == std::errc() && ri.ptr == end) return Json(i);
  double d = 0;
  auto rd = std::from_chars(s.data(), end, d);
  if (rd.ec == std::errc() && rd.ptr == end && std::isfinite(d)) return Json(d);
  return std::nullopt;
}

long double as_long_double(const Json& n) {
  if (n.is_number_unsigned()) return static_cast<long double>(n.get<std::uint64_t>());
  if (n.is_number_integer()) return static_cast<long double>(n.get<std::int64_t>());
  return static_cast<long double>(n.get<double>());
}

// Both sides as numbers when `==` or `<` should compare them numerically.
std::optional<std::pair<long double, long double>> numeric_pair(const Json& a, const Json& b) {
  auto as_number = [](const Json& v, const Json& other) -> std::optional<Json> {
    if (v.is_number()) return v;
    if (v.is_string() && other.is_number()) return numeric_string(v.get_ref<const std::string&>());
    return std::nullopt;
  };
  if (!a.is_number() && !b.is_number()) return std::nullopt;
  auto x = as_number(a, b);
  auto y = as_number(b, a);
  if (!x || !y) return std::nullopt;
  return std::pair{as_long_double(*x), as_long_double(*y)};
}

bool is_scalar(const Json& v) { return !v.is_array() && !v.is_object(); }

Error function_error(std::string_view name, const std::string& msg) {
  return Error(std::string(name) + "(): " + msg);
}
Error filter_error(std::string_view name, const std::string& msg) {
  return Error("filter '" + std::string(name) + "': " + msg);
}
Error filter_type_error(std::string_view name, std::string_view wanted, const Json& got) {
  return filter_error(name, "expected " + std::string(wanted) + ", got " + ed::type_name(got));
}

// Deeply nested JSON would make nlohmann's recursive dump and destructor overflow the
// stack; reject it before parsing.
bool nesting_too_deep(std::string_view s, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

Result<Json> parse_json_text(const Json& v, std::string_view who) {
  if (!v.is_string()) return v;
  const auto& s = v.get_ref<const std::string&>();
  if (nesting_too_deep(s, 512)) return Error(std::string(who) + "invalid JSON: nested more than 512 levels");
  try {
    return Json::parse(s);
  } catch (const Json::exception& e) {
    std::string what = e.what();
    auto close = what.find("] ");
    if (close != std::string::npos) what.erase(0, close + 2);
    return Error(std::string(who) + "invalid JSON: " + what);
  }
}

std::string join_text(const Json& list, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& e : list) {
    if (!first) out += sep;
    out += to_text(e);
    first = false;
  }
  return out;
}

// Python's repr() of a string, as ddeutil's `rstr` gives it.
std::string python_repr(std::string_view s) {
  bool single = s.find('\'') != std::string_view::npos;
  bool dbl = s.find('"') != std::string_view::npos;
  char q = single && !dbl ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  out += q;
  return out;
}

// Python's shlex.quote: safe words stay as they are, anything else is single-quoted.
std::string shell_quote(std::string_view s) {
  if (s.empty()) return "''";
  auto safe = [](char c) {
    return is_ascii_alpha(c) || (c >= '0' && c <= '9') ||
           std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
  };
  if (std::all_of(s.begin(), s.end(), safe)) return std::string(s);
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\"'\"'";
    else
      out += c;
  }
  out += '\'';
  return out;
}

// ---- functions ------------------------------------------------------------------------

using Args = std::vector<Json>;

Result<Json> fn_success(Args&, const EvalContext& ctx) { return Json(!ctx.any_failed && !ctx.cancelled); }
Result<Json> fn_failure(Args&, const EvalContext& ctx) { return Json(ctx.any_failed); }
Result<Json> fn_cancelled(Args&, const EvalContext& ctx) { return Json(ctx.cancelled); }
Result<Json> fn_always(Args&, const EvalContext&) { return Json(true); }

Result<Json> fn_contains(Args& a, const EvalContext&) {
  const Json& hay = a[0];
  const Json& needle = a[1];
  if (hay.is_null()) return Json(false);
  if (hay.is_array()) {
    return Json(
        std::any_of(hay.begin(), hay.end(), [&](const Json& e) { return ed::values_equal(e, needle); }));
  }
  if (hay.is_object())
    return function_error("contains", "the first argument must be a string or a list, got map");
  if (!is_scalar(needle))
    return function_error("contains", "cannot look for a " + ed::type_name(needle) + " in a string");
  return Json(ascii_lower(to_text(hay)).find(ascii_lower(to_text(needle))) != std::string::npos);
}

Result<Json> affix_test(Args& a, std::string_view name, bool at_start) {
  for (const auto& v : a)
    if (!is_scalar(v)) return function_error(name, "expected text, got " + ed::type_name(v));
  std::string s = ascii_lower(to_text(a[0]));
  std::string x = ascii_lower(to_text(a[1]));
  if (x.size() > s.size()) return Json(false);
  return Json(at_start ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
}
Result<Json> fn_starts_with(Args& a, const EvalContext&) { return affix_test(a, "startsWith", true); }
Result<Json> fn_ends_with(Args& a, const EvalContext&) { return affix_test(a, "endsWith", false); }

Result<Json> fn_format(Args& a, const EvalContext&) {
  if (!is_scalar(a[0]))
    return function_error("format", "the format must be text, got " + ed::type_name(a[0]));
  const std::string f = to_text(a[0]);
  const std::size_t given = a.size() - 1;
  std::string out;
  for (std::size_t i = 0; i < f.size();) {
    char c = f[i];
    if (c == '{' && i + 1 < f.size() && f[i + 1] == '{') {
      out += '{';
      i += 2;
    } else if (c == '}' && i + 1 < f.size() && f[i + 1] == '}') {
      out += '}';
      i += 2;
    } else if (c == '}') {
      return function_error("format", "unmatched '}' at position " + std::to_string(i) + " in '" + f + "'");
    } else if (c == '{') {
      std::size_t j = i + 1;
      while (j < f.size() && f[j] >= '0' && f[j] <= '9' && j - i < 10) ++j;
      if (j == i + 1 || j >= f.size() || f[j] != '}')
        return function_error("format",
                              "invalid placeholder at position " + std::to_string(i) + " in '" + f + "'");
      std::size_t index = std::stoul(f.substr(i + 1, j - i - 1));
      if (index >= given)
        return function_error("format", "placeholder {" + std::to_string(index) + "} has no argument (" +
                                            std::to_string(given) + " given)");
      out += to_text(a[index + 1]);
      i = j + 1;
    } else {
      out += c;
      ++i;
    }
  }
  return Json(std::move(out));
}

Result<Json> fn_join(Args& a, const EvalContext&) {
  std::string sep = ",";
  if (a.size() > 1) {
    if (!is_scalar(a[1]))
      return function_error("join", "the separator must be text, got " + ed::type_name(a[1]));
    sep = to_text(a[1]);
  }
  if (a[0].is_array()) return Json(join_text(a[0], sep));
  if (a[0].is_object()) return function_error("join", "expected a list, got map");
  return Json(to_text(a[0]));
}

Result<Json> fn_to_json(Args& a, const EvalContext&) { return Json(ed::compact_json(a[0])); }
Result<Json> fn_from_json(Args& a, const EvalContext&) { return parse_json_text(a[0], "fromJson(): "); }

// ---- filters --------------------------------------------------------------------------

Result<Json> string_filter(Args& a, std::string_view name, std::string (*change)(std::string_view)) {
  if (!a[0].is_string()) return filter_type_error(name, "a string", a[0]);
  return Json(change(a[0].get_ref<const std::string&>()));
}

std::string title_case(std::string_view s) {
  // Python's str.title(): a letter after a letter is lower case, any other is upper case.
  std::string out;
  bool after_letter = false;
  for (char c : s) {
    bool letter = is_ascii_alpha(c);
    out += letter && after_letter ? ascii_lower({&c, 1}) : letter ? ascii_upper({&c, 1}) : std::string(1, c);
    after_letter = letter;
  }
  return out;
}

Result<Json> f_upper(Args& a, const EvalContext&) { return string_filter(a, "upper", ascii_upper); }
Result<Json> f_lower(Args& a, const EvalContext&) { return string_filter(a, "lower", ascii_lower); }
Result<Json> f_title(Args& a, const EvalContext&) { return string_filter(a, "title", title_case); }
Result<Json> f_trim(Args& a, const EvalContext&) {
  return string_filter(a, "trim", [](std::string_view s) { return std::string(strip(s)); });
}

Result<Json> f_abs(Args& a, const EvalContext&) {
  const Json& v = a[0];
  if (v.is_number_unsigned()) return v;
  if (v.is_number_integer()) {
    auto i = v.get<std::int64_t>();
    if (i >= 0) return v;
    return Json(static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(i));
  }
  if (v.is_number_float()) return Json(std::fabs(v.get<double>()));
  return filter_type_error("abs", "a number", v);
}

Result<Json> f_str(Args& a, const EvalContext&) { return Json(to_text(a[0])); }
Result<Json> f_rstr(Args& a, const EvalContext&) { return Json(python_repr(to_text(a[0]))); }

// The number a value stands for (int/float filters): numbers, numeric strings, booleans.
Result<Json> number_of(const Json& v, std::string_view name) {
  if (v.is_number()) return v;
  if (v.is_boolean()) return Json(v.get<bool>() ? 1 : 0);
  if (v.is_string()) {
    if (auto n = numeric_string(v.get_ref<const std::string&>())) return *n;
    return filter_error(name, "cannot convert '" + v.get<std::string>() + "' to a number");
  }
  return filter_type_error(name, "a number or a numeric string", v);
}

Result<Json> f_int(Args& a, const EvalContext&) {
  auto n = number_of(a[0], "int");
  if (!n.ok()) return n;
  if (!n->is_number_float()) return n;
  double d = n->get<double>();
  if (!std::isfinite(d) || std::fabs(d) >= 9.2e18)
    return filter_error("int", to_text(*n) + " is out of the integer range");
  return Json(static_cast<std::int64_t>(std::trunc(d)));
}

Result<Json> f_float(Args& a, const EvalContext&) {
  auto n = number_of(a[0], "float");
  if (!n.ok()) return n;
  return Json(static_cast<double>(as_long_double(*n)));
}

Result<Json> f_list(Args& a, const EvalContext&) {
  const Json& v = a[0];
  if (v.is_array()) return v;
  Json out = Json::array();
  if (v.is_object()) {
    for (const auto& [k, _] : v.items()) out.push_back(k);
  } else if (v.is_string()) {
    for (auto& cp : code_points(v.get_ref<const std::string&>())) out.push_back(std::move(cp));
  } else {
    return filter_type_error("list", "a list, map or string", v);
  }
  return out;
}

Result<Json> f_keys(Args& a, const EvalContext& ctx) {
  if (!a[0].is_object()) return filter_type_error("keys", "a map", a[0]);
  return f_list(a, ctx);
}

Result<Json> f_values(Args& a, const EvalContext&) {
  if (!a[0].is_object()) return filter_type_error("values", "a map", a[0]);
  Json out = Json::array();
  for (auto& [_, v] : a[0].items()) out.push_back(std::move(v));
  return out;
}

Result<Json> end_item(Args& a, std::string_view name, bool first) {
  const Json& v = a[0];
  if (v.is_array()) {
    if (v.empty()) return Json();
    return first ? v.front() : v.back();
  }
  if (v.is_string()) {
    auto cps = code_points(v.get_ref<const std::string&>());
    if (cps.empty()) return Json();
    return Json(first ? cps.front() : cps.back());
  }
  return filter_type_error(name, "a list or a string", v);
}
Result<Json> f_first(Args& a, const EvalContext&) { return end_item(a, "first", true); }
Result<Json> f_last(Args& a, const EvalContext&) { return end_item(a, "last", false); }

Result<Json> f_length(Args& a, const EvalContext&) {
  const Json& v = a[0];
  if (v.is_null()) return Json(0);
  if (v.is_array() || v.is_object()) return Json(v.size());
  if (v.is_string()) return Json(code_points(v.get_ref<const std::string&>()).size());
  return filter_type_error("length", "a list, map or string", v);
}

Result<Json> f_default(Args& a, const EvalContext&) { return a[0].is_null() ? a[1] : a[0]; }

Result<Json> f_getitem(Args& a, const EvalContext&) {
  if (!a[0].is_object()) return filter_type_error("getitem", "a map", a[0]);
  const Json& key = a[1];
  if (!key.is_string() && !ed::integer_value(key))
    return filter_error("getitem", "the key must be a string or an integer, got " + ed::type_name(key));
  auto it = a[0].find(key.is_string() ? key.get<std::string>() : std::to_string(*ed::integer_value(key)));
  if (it != a[0].end()) return *it;
  return a.size() > 2 ? a[2] : Json();
}

Result<Json> f_getindex(Args& a, const EvalContext&) {
  if (!a[0].is_array()) return filter_type_error("getindex", "a list", a[0]);
  auto index = ed::integer_value(a[1]);
  if (!index) return filter_error("getindex", "the index must be an integer, got " + ed::type_name(a[1]));
  auto size = static_cast<std::int64_t>(a[0].size());
  std::int64_t at = *index < 0 ? *index + size : *index;  // Python: -1 is the last item
  if (at < 0 || at >= size)
    return filter_error("getindex", "index " + std::to_string(*index) + " is out of range for a list of " +
                                        std::to_string(size) + " items");
  return a[0][static_cast<std::size_t>(at)];
}

Result<Json> f_join(Args& a, const EvalContext&) {
  if (!a[0].is_array()) return filter_type_error("join", "a list", a[0]);
  std::string sep = ",";
  if (a.size() > 1) {
    if (!a[1].is_string())
      return filter_error("join", "the separator must be a string, got " + ed::type_name(a[1]));
    sep = a[1].get<std::string>();
  }
  return Json(join_text(a[0], sep));
}

Result<Json> f_split(Args& a, const EvalContext&) {
  if (!a[0].is_string()) return filter_type_error("split", "a string", a[0]);
  const auto& s = a[0].get_ref<const std::string&>();
  Json out = Json::array();
  if (a.size() == 1) {  // Python's split(): runs of whitespace, no empty parts
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && is_space(s[i])) ++i;
      std::size_t j = i;
      while (j < s.size() && !is_space(s[j])) ++j;
      if (j > i) out.push_back(s.substr(i, j - i));
      i = j;
    }
    return out;
  }
  if (!a[1].is_string())
    return filter_error("split", "the separator must be a string, got " + ed::type_name(a[1]));
  const auto& sep = a[1].get_ref<const std::string&>();
  if (sep.empty()) return filter_error("split", "empty separator");
  std::size_t start = 0;
  for (std::size_t at; (at = s.find(sep, start)) != std::string::npos; start = at + sep.size())
    out.push_back(s.substr(start, at - start));
  out.push_back(s.substr(start));
  return out;
}

Result<Json> f_replace(Args& a, const EvalContext&) {
  if (!a[0].is_string()) return filter_type_error("replace", "a string", a[0]);
  for (std::size_t i = 1; i < 3; ++i)
    if (!is_scalar(a[i]))
      return filter_error("replace",
                          "argument " + std::to_string(i) + " must be text, got " + ed::type_name(a[i]));
  const auto& s = a[0].get_ref<const std::string&>();
  const std::string from = to_text(a[1]);
  const std::string to = to_text(a[2]);
  std::string out;
  if (from.empty()) {  // Python: the replacement goes between every character
    out = to;
    for (char c : s) {
      out += c;
      out += to;
    }
    return Json(std::move(out));
  }
  std::size_t start = 0;
  for (std::size_t at; (at = s.find(from, start)) != std::string::npos; start = at + from.size()) {
    out.append(s, start, at - start);
    out += to;
  }
  out.append(s, start);
  return Json(std::move(out));
}

Result<Json> f_fmt(Args& a, const EvalContext&) {
  if (!a[0].is_string()) return filter_type_error("fmt", "a date or datetime string", a[0]);
  std::string pattern = "%Y-%m-%d %H:%M:%S";
  if (a.size() > 1) {
    if (!a[1].is_string())
      return filter_error("fmt", "the pattern must be a string, got " + ed::type_name(a[1]));
    pattern = a[1].get<std::string>();
  }
  auto t = parse_iso_datetime(a[0].get_ref<const std::string&>());
  if (!t.ok()) return filter_error("fmt", t.error().message);
  return Json(format_time(*t, pattern));
}

Result<Json> f_to_json(Args& a, const EvalContext&) { return Json(ed::compact_json(a[0])); }
Result<Json> f_from_json(Args& a, const EvalContext&) {
  return parse_json_text(a[0], "filter 'from_json': ");
}
Result<Json> f_shell_quote(Args& a, const EvalContext&) { return Json(shell_quote(to_text(a[0]))); }

constexpr std::size_t kAny = ed::kAnyCount;

const std::array kFunctions = {
    ed::Builtin{"success", 0, 0, fn_success, true},
    ed::Builtin{"failure", 0, 0, fn_failure, true},
    ed::Builtin{"always", 0, 0, fn_always, true},
    ed::Builtin{"cancelled", 0, 0, fn_cancelled, true},
    ed::Builtin{"contains", 2, 2, fn_contains},
    ed::Builtin{"startsWith", 2, 2, fn_starts_with},
    ed::Builtin{"endsWith", 2, 2, fn_ends_with},
    ed::Builtin{"format", 1, kAny, fn_format},
    ed::Builtin{"join", 1, 2, fn_join},
    ed::Builtin{"toJson", 1, 1, fn_to_json},
    ed::Builtin{"fromJson", 1, 1, fn_from_json},
};

const std::array kFilters = {
    ed::Builtin{"upper", 0, 0, f_upper},
    ed::Builtin{"lower", 0, 0, f_lower},
    ed::Builtin{"title", 0, 0, f_title},
    ed::Builtin{"trim", 0, 0, f_trim},
    ed::Builtin{"abs", 0, 0, f_abs},
    ed::Builtin{"str", 0, 0, f_str},
    ed::Builtin{"int", 0, 0, f_int},
    ed::Builtin{"float", 0, 0, f_float},
    ed::Builtin{"list", 0, 0, f_list},
    ed::Builtin{"keys", 0, 0, f_keys},
    ed::Builtin{"values", 0, 0, f_values},
    ed::Builtin{"first", 0, 0, f_first},
    ed::Builtin{"last", 0, 0, f_last},
    ed::Builtin{"length", 0, 0, f_length},
    ed::Builtin{"rstr", 0, 0, f_rstr},
    ed::Builtin{"default", 1, 1, f_default, false, true},
    ed::Builtin{"coalesce", 1, 1, f_default, false, true},
    ed::Builtin{"getitem", 1, 2, f_getitem},
    ed::Builtin{"getindex", 1, 1, f_getindex},
    ed::Builtin{"join", 0, 1, f_join},
    ed::Builtin{"split", 0, 1, f_split},
    ed::Builtin{"replace", 2, 2, f_replace},
    ed::Builtin{"fmt", 0, 1, f_fmt},
    ed::Builtin{"to_json", 0, 0, f_to_json},
    ed::Builtin{"from_json", 0, 0, f_from_json},
    ed::Builtin{"shell_quote", 0, 0, f_shell_quote},
};

}  // namespace

// ---- value rules ----------------------------------------------------------------------

std::string ed::type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "boolean";
    case Json::value_t::string: return "string";
    case Json::value_t::array: return "list";
    case Json::value_t::object: return "map";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "number";
    default: return "value";
  }
}

std::string ed::compact_json(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

bool ed::values_equal(const Json& a, const Json& b) {
  if (auto n = numeric_pair(a, b)) return n->first == n->second;
  if (a.is_number() || b.is_number()) return false;  // a number beside a non-numeric value
  return a == b;
}

ed::Order ed::compare_values(const Json& a, const Json& b) {
  if (auto n = numeric_pair(a, b)) {
    if (n->first < n->second) return Order::less;
    if (n->first > n->second) return Order::greater;
    if (n->first == n->second) return Order::equal;
    return Order::unordered;  // NaN
  }
  if (a.is_string() && b.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? Order::less : c > 0 ? Order::greater : Order::equal;
  }
  return Order::unordered;
}

Result<bool> ed::contains_value(const Json& container, const Json& item) {
  if (container.is_null()) return false;
  if (container.is_array()) {
    return std::any_of(container.begin(), container.end(),
                       [&](const Json& e) { return values_equal(e, item); });
  }
  if (container.is_string()) {
    if (item.is_null()) return false;
    if (!is_scalar(item)) return Error("'in' cannot look for a " + type_name(item) + " in a string");
    return container.get_ref<const std::string&>().find(to_text(item)) != std::string::npos;
  }
  if (container.is_object()) {
    if (item.is_string()) return container.contains(item.get_ref<const std::string&>());
    auto i = ed::integer_value(item);
    return i && container.contains(std::to_string(*i));
  }
  return Error("'in' needs a list, string or map on its right, got " + type_name(container));
}

std::optional<std::int64_t> ed::integer_value(const Json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.2e18) return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

const ed::Builtin* ed::find_function(std::string_view name) {
  for (const auto& f : kFunctions)
    if (ascii_lower(f.name) == ascii_lower(name)) return &f;
  return nullptr;
}

const ed::Builtin* ed::find_filter(std::string_view name) {
  for (const auto& f : kFilters)
    if (f.name == name) return &f;
  return nullptr;
}

bool truthy(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return false;
    case Json::value_t::boolean: return v.get<bool>();
    case Json::value_t::number_integer: return v.get<std::int64_t>() != 0;
    case Json::value_t::number_unsigned: return v.get<std::uint64_t>() != 0;
    case Json::value_t::number_float: {
      double d = v.get<double>();
      return d != 0.0 && !std::isnan(d);
    }
    case Json::value_t::string: return !v.get_ref<const std::string&>().empty();
    default: return true;
  }
}

std::string to_text(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "";
    case Json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case Json::value_t::string: return v.get<std::string>();
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
      return v.dump();
    }
    default: return ed::compact_json(v);
  }
}

}  // namespace wf
