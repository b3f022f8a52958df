#include "wf/params.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "wf/datetime.hpp"

namespace wf {

namespace {

// Where a value came from; messages say "default" for defaults so the fix is findable.
enum class Origin { Given, Default };

std::string show(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Options and values as a person would type them: strings bare, everything else as JSON.
std::string plain_text(const Json& v) { return v.is_string() ? v.get<std::string>() : show(v); }

std::string label(const ParamSpec& spec) {
  return "param '" + spec.name + "' (" + to_string(spec.type) + ")";
}

// `"1.5"`, `default "1.5"`, `the given (secret) value` or `the default (secret) value`.
std::string describe(const ParamSpec& spec, const Json& value, Origin origin) {
  if (spec.secret) return origin == Origin::Default ? "the default (secret) value" : "the given (secret) value";
  return (origin == Origin::Default ? "default " : "") + show(value);
}

Error cannot_convert(const ParamSpec& spec, const Json& value, Origin origin,
                     const std::string& reason = {}) {
  std::string msg = label(spec) + ": cannot convert " + describe(spec, value, origin) + " to " +
                    to_string(spec.type);
  if (!reason.empty() && !spec.secret) msg += ": " + reason;
  return Error(std::move(msg));
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s.front() == '-') return std::nullopt;
  }
  if (s.empty() || s.front() == '+') return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_float(std::string_view s) {
  if (!s.empty() && s.front() == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s.front() == '-') return std::nullopt;
  }
  if (s.empty() || s.front() == '+') return std::nullopt;
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::int64_t> to_int(const Json& v) {
  if (v.is_number_integer() && !v.is_number_unsigned()) return v.get<std::int64_t>();
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 is exactly representable; the range check keeps the cast defined.
    if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0)
      return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  if (v.is_string()) return parse_int(v.get_ref<const std::string&>());
  return std::nullopt;
}

std::optional<double> to_float(const Json& v) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
  }
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return parse_float(v.get_ref<const std::string&>());
  return std::nullopt;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == y;
         });
}

std::optional<bool> to_bool(const Json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) {
    const double d = v.get<double>();
    if (d == 0) return false;
    if (d == 1) return true;
    return std::nullopt;
  }
  if (!v.is_string()) return std::nullopt;
  const auto& s = v.get_ref<const std::string&>();
  for (const char* t : {"true", "yes", "1"})
    if (iequals(s, t)) return true;
  for (const char* f : {"false", "no", "0"})
    if (iequals(s, f)) return false;
  return std::nullopt;
}

std::optional<std::string> to_str(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return show(v);
  return std::nullopt;
}

// Rounds half away from zero on the shortest decimal text of `x`, so 2.675 becomes 2.68
// (binary rounding of 2.675 * 100 would give 2.67).
double round_decimal(double x, int precision) {
  std::array<char, 64> buf{};
  const auto [end, ec] =
      std::to_chars(buf.data(), buf.data() + buf.size(), x, std::chars_format::scientific);
  if (ec != std::errc()) return x;
  const std::string_view text(buf.data(), static_cast<std::size_t>(end - buf.data()));
  const auto e_at = text.find('e');
  if (e_at == std::string_view::npos) return x;
  std::string_view mantissa = text.substr(0, e_at);
  const bool negative = !mantissa.empty() && mantissa.front() == '-';
  if (negative) mantissa.remove_prefix(1);
  std::string digits;
  for (const char c : mantissa)
    if (c != '.') digits += c;
  const auto exp10 = parse_int(text.substr(e_at + 1));
  if (!exp10 || digits.empty()) return x;
  // value = digits * 10^scale
  const std::int64_t scale = *exp10 - static_cast<std::int64_t>(digits.size() - 1);
  if (scale >= -precision) return x;
  const std::int64_t drop = -precision - scale;
  const auto len = static_cast<std::int64_t>(digits.size());
  if (drop > len) return 0.0;
  std::string keep = digits.substr(0, static_cast<std::size_t>(len - drop));
  const bool round_up = digits[static_cast<std::size_t>(len - drop)] >= '5';
  if (keep.empty()) keep = "0";
  if (round_up) {
    std::size_t i = keep.size();
    while (i > 0 && keep[i - 1] == '9') keep[--i] = '0';
    if (i == 0)
      keep.insert(keep.begin(), '1');
    else
      ++keep[i - 1];
  }
  const std::string result = (negative ? "-" : "") + keep + "e" + std::to_string(-precision);
  const double r = std::strtod(result.c_str(), nullptr);
  return r == 0 ? 0.0 : r;
}

// The part of a datetime.hpp error after `invalid <kind> "<text>": `.
std::string date_reason(const Error& e, std::string_view kind, const std::string& text) {
  const std::string prefix = "invalid " + std::string(kind) + " \"" + text + "\": ";
  if (e.message.rfind(prefix, 0) == 0) return e.message.substr(prefix.size());
  return e.message;
}

Result<Json> coerce_container(const ParamSpec& spec, const Json& value, Origin origin,
                              bool want_array) {
  const auto fits = [&](const Json& j) { return want_array ? j.is_array() : j.is_object(); };
  if (fits(value)) return value;
  const std::string hint = want_array ? R"(expected a JSON list, e.g. ["a", "b"])"
                                      : R"(expected a JSON object, e.g. {"key": "value"})";
  if (value.is_string()) {
    Json parsed = Json::parse(value.get_ref<const std::string&>(), nullptr, false);
    if (!parsed.is_discarded() && fits(parsed)) return parsed;
  }
  return cannot_convert(spec, value, origin, hint);
}

std::string options_list(const ParamSpec& spec) {
  std::string out;
  for (const auto& o : spec.options) {
    if (!out.empty()) out += ", ";
    out += plain_text(o);
  }
  return out;
}

// The value converted to the JSON type of `option`, for comparison.
std::optional<Json> like_option(const Json& value, const Json& option) {
  if (option.is_string()) {
    auto s = to_str(value);
    return s ? std::optional<Json>(*s) : std::nullopt;
  }
  if (option.is_number_integer()) {
    auto i = to_int(value);
    return i ? std::optional<Json>(*i) : std::nullopt;
  }
  if (option.is_number_float()) {
    auto d = to_float(value);
    return d ? std::optional<Json>(*d) : std::nullopt;
  }
  if (option.is_boolean()) {
    auto b = to_bool(value);
    return b ? std::optional<Json>(*b) : std::nullopt;
  }
  return value;
}

Result<Json> coerce_choice(const ParamSpec& spec, const Json& value, Origin origin) {
  if (spec.options.empty()) return Error(label(spec) + ": has no options to choose from");
  for (const auto& option : spec.options) {
    const auto converted = like_option(value, option);
    if (converted && *converted == option) return option;
  }
  return Error(label(spec) + ": " + describe(spec, value, origin) +
               " is not one of: " + options_list(spec));
}

Result<Json> coerce(const ParamSpec& spec, const Json& value, Origin origin) {
  switch (spec.type) {
    case ParamType::Str:
      if (auto s = to_str(value)) return Json(*s);
      break;
    case ParamType::Int:
      if (auto i = to_int(value)) return Json(*i);
      break;
    case ParamType::Float:
      if (auto d = to_float(value)) return Json(*d);
      break;
    case ParamType::Decimal:
      if (auto d = to_float(value)) {
        if (spec.precision && *spec.precision >= 0) return Json(round_decimal(*d, *spec.precision));
        return Json(*d);
      }
      break;
    case ParamType::Bool:
      if (auto b = to_bool(value)) return Json(*b);
      break;
    case ParamType::Date:
    case ParamType::Datetime: {
      const bool date_only = spec.type == ParamType::Date;
      if (!value.is_string()) break;
      const auto& text = value.get_ref<const std::string&>();
      auto t = date_only ? parse_iso_date(text) : parse_iso_datetime(text);
      if (!t) return cannot_convert(spec, value, origin, date_reason(t.error(), to_string(spec.type), text));
      return Json(date_only ? format_iso_date(*t) : format_iso_datetime(*t));
    }
    case ParamType::Choice:
      return coerce_choice(spec, value, origin);
    case ParamType::Array:
      return coerce_container(spec, value, origin, true);
    case ParamType::Map:
      return coerce_container(spec, value, origin, false);
  }
  return cannot_convert(spec, value, origin);
}

Error unknown_param(const std::vector<ParamSpec>& specs, const std::string& name) {
  std::string msg = "unknown param '" + name + "'; ";
  if (specs.empty()) return Error(msg + "the workflow declares no params");
  std::vector<std::string> names;
  std::string declared;
  for (const auto& s : specs) {
    names.push_back(s.name);
    if (!declared.empty()) declared += ", ";
    declared += s.name + " (" + to_string(s.type) + ")";
  }
  const auto guess = closest_match(name, names);
  if (!guess.empty()) msg += "did you mean '" + guess + "'? ";
  return Error(msg + "declared params: " + declared);
}

Result<Json> default_for(const ParamSpec& spec, const DefaultRenderer& render_default) {
  if (!spec.default_value) {
    if (spec.type == ParamType::Choice && !spec.required && !spec.options.empty())
      return spec.options.front();
    return Json(nullptr);
  }
  Json value = *spec.default_value;
  if (value.is_string() && render_default &&
      value.get_ref<const std::string&>().find("${{") != std::string::npos) {
    auto rendered = render_default(spec, value.get<std::string>());
    if (!rendered) {
      const std::string what =
          spec.secret ? "the default (secret) value" : "default " + show(value);
      return Error(label(spec) + ": cannot render " + what + ": " + rendered.error().message);
    }
    value = std::move(*rendered);
  }
  if (value.is_null()) return value;
  return coerce(spec, value, Origin::Default);
}

void collect_secret_text(const Json& v, std::vector<std::string>& out) {
  if (v.is_null()) return;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
    return;
  }
  out.push_back(show(v));
  if (v.is_structured())
    for (const auto& item : v) collect_secret_text(item, out);
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so that
// "alpah" is one step from "alpha".
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t n = a.size(), m = b.size();
  std::vector<std::vector<std::size_t>> d(n + 1, std::vector<std::size_t>(m + 1));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= n; ++i)
    for (std::size_t j = 1; j <= m; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[n][m];
}

}  // namespace

Result<Json> coerce_param(const ParamSpec& spec, const Json& value) {
  return coerce(spec, value, Origin::Given);
}

Result<Json> resolve_params(const std::vector<ParamSpec>& specs, const Json& given,
                            const DefaultRenderer& render_default) {
  if (!given.is_null() && !given.is_object())
    return Error("params must be a map of name to value, got " + std::string(given.type_name()));
  const Json none = Json::object();
  const Json& values = given.is_null() ? none : given;

  for (const auto& [name, value] : values.items()) {
    const bool declared =
        std::any_of(specs.begin(), specs.end(), [&](const ParamSpec& s) { return s.name == name; });
    if (!declared) return unknown_param(specs, name);
  }

  Json out = Json::object();
  std::vector<const ParamSpec*> missing;  // not given (or given as null)
  for (const auto& spec : specs) {
    const auto it = values.find(spec.name);
    if (it == values.end() || it->is_null()) {
      missing.push_back(&spec);
      continue;
    }
    auto coerced = coerce(spec, *it, Origin::Given);
    if (!coerced) return coerced.error();
    out[spec.name] = std::move(*coerced);
  }

  for (const ParamSpec* spec : missing) {
    auto value = default_for(*spec, render_default);
    if (!value) return value.error();
    out[spec->name] = std::move(*value);
  }

  for (const ParamSpec* spec : missing)
    if (spec->required && out[spec->name].is_null())
      return Error(label(*spec) + " is required but was not given");
  return out;
}

Result<std::pair<std::string, std::string>> parse_param_assignment(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return Error("-p expects name=value, got '" + std::string(text) + "'");
  if (eq == 0) return Error("-p expects name=value, but the name before '=' is empty");
  return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

std::vector<std::string> secret_values(const std::vector<ParamSpec>& specs, const Json& params) {
  std::vector<std::string> out;
  if (!params.is_object()) return out;
  for (const auto& spec : specs) {
    if (!spec.secret) continue;
    const auto it = params.find(spec.name);
    if (it != params.end()) collect_secret_text(*it, out);
  }
  std::erase_if(out, [](const std::string& s) { return s.empty(); });
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Json mask_params(const std::vector<ParamSpec>& specs, const Json& params) {
  Json out = params;
  if (!out.is_object()) return out;
  for (const auto& spec : specs) {
    if (!spec.secret) continue;
    const auto it = out.find(spec.name);
    if (it != out.end() && !it->is_null()) *it = "***";
  }
  return out;
}

std::string mask_text(std::string text, const std::vector<std::string>& secrets) {
  std::vector<std::string_view> ordered;
  for (const auto& s : secrets)
    if (!s.empty()) ordered.emplace_back(s);
  if (ordered.empty()) return text;
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  // One left-to-right pass, so a "***" already written is never matched again.
  std::string out;
  out.reserve(text.size());
  const std::string_view in(text);
  std::size_t i = 0;
  while (i < in.size()) {
    const auto hit = std::find_if(ordered.begin(), ordered.end(), [&](std::string_view s) {
      return in.compare(i, s.size(), s) == 0;
    });
    if (hit != ordered.end()) {
      out += "***";
      i += hit->size();
    } else {
      out += in[i++];
    }
  }
  return out;
}

Json mask_json(const Json& value, const std::vector<std::string>& secrets) {
  if (value.is_string()) return mask_text(value.get<std::string>(), secrets);
  if (value.is_object()) {
    Json out = Json::object();
    for (const auto& [key, item] : value.items()) out[key] = mask_json(item, secrets);
    return out;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const auto& item : value) out.push_back(mask_json(item, secrets));
    return out;
  }
  return value;
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string best;
  std::size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

}  // namespace wf
