// Matrix expansion works on value indices rather than JSON copies: each exclude and include
// entry is compiled once into "which values of which dimension it accepts", so walking the
// product is cheap and only the legs that are kept become JSON objects.
#include "wf/matrix.hpp"
#include "wf/workflow.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

namespace wf {

namespace {

// The most combinations expand_matrix walks. Past the leg limit a bigger product is not
// walked to the end: the error gives an exact count only when one is cheap.
constexpr std::size_t kWalkLimit = 1'000'000;

std::string kind_of(const Json& v) {
  switch (v.type()) {
    case Json::value_t::object: return "a map";
    case Json::value_t::array: return "a list";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "a number";
    case Json::value_t::null: return "null";
    default: return "a value";
  }
}

Result<void> check_entries(const Json& list, const std::string& what) {
  if (!list.is_array()) return Error(what + " must be a list of maps, not " + kind_of(list));
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_object()) {
      return Error(what + " entry " + std::to_string(i + 1) + " must be a map, not " + kind_of(list[i]));
    }
  }
  return ok();
}

Error not_a_list(const std::string& key) { return Error("matrix key '" + key + "' must be a list of values"); }

// One entry's demands on one dimension: allowed[i] is whether the dimension's i-th value
// equals the entry's value.
struct Constraint {
  std::size_t dim = 0;
  std::vector<char> allowed;
};

// An exclude or include entry compiled against the dimensions.
struct Pattern {
  std::vector<Constraint> on_dims;
  std::size_t span = 0;  // 1 + the last dimension constrained; 0 when none is

  bool matches(const std::vector<std::size_t>& combo) const {
    return std::all_of(on_dims.begin(), on_dims.end(),
                       [&](const Constraint& c) { return c.allowed[combo[c.dim]] != 0; });
  }
  // Whether some combination of a complete (nothing excluded, non-empty) product matches.
  bool satisfiable() const {
    return std::all_of(on_dims.begin(), on_dims.end(), [](const Constraint& c) {
      return std::find(c.allowed.begin(), c.allowed.end(), 1) != c.allowed.end();
    });
  }
};

std::optional<std::size_t> dim_index(const MatrixParts& parts, const std::string& key) {
  for (std::size_t d = 0; d < parts.dims.size(); ++d) {
    if (parts.dims[d].first == key) return d;
  }
  return std::nullopt;
}

// Keys of `entry` that are dimensions become constraints; other keys are ignored here.
Pattern compile(const MatrixParts& parts, const Json& entry) {
  Pattern p;
  for (const auto& [key, value] : entry.items()) {
    auto d = dim_index(parts, key);
    if (!d) continue;
    const Json& values = parts.dims[*d].second;
    Constraint c{*d, std::vector<char>(values.size(), 0)};
    for (std::size_t i = 0; i < values.size(); ++i) c.allowed[i] = values[i] == value ? 1 : 0;
    p.span = std::max(p.span, *d + 1);
    p.on_dims.push_back(std::move(c));
  }
  return p;
}

std::string legs_word(std::size_t n) { return n == 1 ? " leg" : " legs"; }

Error too_many(const std::string& count, std::size_t max_legs) {
  return Error("job matrix has " + count + ", more than the limit of " + std::to_string(max_legs) +
               "; raise it with --max-legs");
}

std::string value_text(const Json& v) { return v.is_string() ? v.get<std::string>() : json_text(v); }

}  // namespace

Result<MatrixParts> split_matrix(const Json& matrix, const std::vector<std::string>& key_order,
                                 const Json& strategy_include, const Json& strategy_exclude) {
  MatrixParts parts;
  if (!matrix.is_null() && !matrix.is_object()) return Error("matrix must be a map, not " + kind_of(matrix));

  auto is_dim_key = [&](const std::string& key) {
    return key != "include" && key != "exclude" && matrix.is_object() && matrix.contains(key);
  };
  std::set<std::string> seen;
  auto add_dim = [&](const std::string& key) -> Result<void> {
    if (!is_dim_key(key) || !seen.insert(key).second) return ok();
    const Json& values = matrix.at(key);
    if (!values.is_array()) return not_a_list(key);
    parts.dims.emplace_back(key, values);
    return ok();
  };
  for (const auto& key : key_order) {
    if (auto r = add_dim(key); !r) return r.error();
  }
  if (matrix.is_object()) {
    for (const auto& [key, value] : matrix.items()) {  // nlohmann objects iterate sorted
      if (auto r = add_dim(key); !r) return r.error();
    }
  }

  // Matrix-level entries come first, then strategy-level ones: include order matters
  // (a later entry may overwrite what an earlier one added).
  auto gather = [&](Json& into, const char* name, const Json& outer) -> Result<void> {
    if (matrix.is_object() && matrix.contains(name) && !matrix.at(name).is_null()) {
      const Json& inner = matrix.at(name);
      if (auto r = check_entries(inner, std::string("matrix ") + name); !r) return r;
      for (const auto& e : inner) into.push_back(e);
    }
    if (!outer.is_null()) {
      if (auto r = check_entries(outer, std::string("strategy ") + name); !r) return r;
      for (const auto& e : outer) into.push_back(e);
    }
    return ok();
  };
  if (auto r = gather(parts.include, "include", strategy_include); !r) return r.error();
  if (auto r = gather(parts.exclude, "exclude", strategy_exclude); !r) return r.error();
  return parts;
}

Result<std::vector<Json>> expand_matrix(const MatrixParts& parts, std::size_t max_legs) {
  for (const auto& [key, values] : parts.dims) {
    if (!values.is_array()) return not_a_list(key);
  }
  if (auto r = check_entries(parts.include, "include"); !r) return r.error();
  if (auto r = check_entries(parts.exclude, "exclude"); !r) return r.error();

  std::vector<Pattern> excludes;
  for (const auto& entry : parts.exclude) {
    for (const auto& [key, value] : entry.items()) {
      if (dim_index(parts, key)) continue;
      std::string keys;
      for (const auto& dim : parts.dims) keys += (keys.empty() ? "" : ", ") + dim.first;
      return Error("exclude key '" + key + "' is not a matrix key (keys: " + (keys.empty() ? "none" : keys) + ")");
    }
    excludes.push_back(compile(parts, entry));
  }
  std::vector<Pattern> includes;
  for (const auto& entry : parts.include) includes.push_back(compile(parts, entry));

  // Size of the product; no dimensions means no original combinations at all.
  std::size_t product = parts.dims.empty() ? 0 : 1;
  bool overflow = false;
  for (const auto& dim : parts.dims) {
    if (__builtin_mul_overflow(product, dim.second.size(), &product)) {
      overflow = true;
      product = std::numeric_limits<std::size_t>::max();
    }
  }

  // Walk the product (first key slowest), keeping at most max_legs combinations but
  // counting all of them, and noting which include entries matched an original one. An
  // excluded combination skips the whole block sharing its prefix up to the excluding
  // entry's last key, so excluding a value of an early key costs one step, not thousands.
  std::vector<std::vector<std::size_t>> kept;
  std::size_t kept_count = 0;
  std::vector<char> include_matched(includes.size(), 0);
  bool walked_all = true;
  std::vector<std::size_t> combo(parts.dims.size(), 0);
  auto advance = [&](std::size_t span) {  // to the next combination whose first `span` keys differ
    for (std::size_t d = span; d < combo.size(); ++d) combo[d] = 0;
    for (std::size_t d = span; d-- > 0;) {
      if (++combo[d] < parts.dims[d].second.size()) return true;
      combo[d] = 0;
    }
    return false;
  };
  bool more = product > 0;
  for (std::size_t steps = 0; more; ++steps) {
    if (steps == kWalkLimit || (kept_count > max_legs && (overflow || product > kWalkLimit))) {
      walked_all = false;
      break;
    }
    const Pattern* hit = nullptr;
    for (const auto& p : excludes) {
      if (p.matches(combo) && (!hit || p.span < hit->span)) hit = &p;
    }
    if (hit) {
      more = advance(hit->span);
      continue;
    }
    ++kept_count;
    if (kept.size() < max_legs) kept.push_back(combo);
    for (std::size_t i = 0; i < includes.size(); ++i) {
      if (!include_matched[i] && includes[i].matches(combo)) include_matched[i] = 1;
    }
    more = advance(combo.size());
  }

  if (!walked_all && kept_count <= max_legs) {
    return Error("job matrix has too many combinations to expand (more than " + std::to_string(kWalkLimit) +
                 " before exclude)");
  }
  if (!walked_all) {
    // Too big to count by walking. Without excludes the product is complete, so the count
    // is still exact unless it overflows; with excludes, report what was seen so far.
    if (excludes.empty() && !overflow) {
      std::size_t appended = 0;
      for (const auto& p : includes) appended += p.satisfiable() ? 0 : 1;
      if (product <= std::numeric_limits<std::size_t>::max() - appended) {
        return too_many(std::to_string(product + appended) + legs_word(product + appended), max_legs);
      }
    }
    std::size_t seen = excludes.empty() ? product : kept_count;
    return too_many("at least " + std::to_string(seen) + legs_word(seen), max_legs);
  }

  std::size_t appended = static_cast<std::size_t>(std::count(include_matched.begin(), include_matched.end(), 0));
  std::size_t total = kept_count + appended;
  if (total == 0) total = 1;  // the single empty leg
  if (total > max_legs) return too_many(std::to_string(total) + legs_word(total), max_legs);

  std::vector<Json> legs;
  legs.reserve(total);
  for (const auto& c : kept) {
    Json leg = Json::object();
    for (std::size_t d = 0; d < c.size(); ++d) leg[parts.dims[d].first] = parts.dims[d].second[c[d]];
    for (std::size_t i = 0; i < includes.size(); ++i) {
      if (!includes[i].matches(c)) continue;
      for (const auto& [key, value] : parts.include[i].items()) {
        if (!dim_index(parts, key)) leg[key] = value;  // original values are never overwritten
      }
    }
    legs.push_back(std::move(leg));
  }
  for (std::size_t i = 0; i < includes.size(); ++i) {
    if (!include_matched[i]) legs.push_back(parts.include[i]);
  }
  if (legs.empty()) legs.push_back(Json::object());
  return legs;
}

std::vector<std::string> matrix_key_order(const MatrixParts& parts) {
  std::vector<std::string> order;
  std::set<std::string> seen;
  for (const auto& dim : parts.dims) {
    if (seen.insert(dim.first).second) order.push_back(dim.first);
  }
  if (parts.include.is_array()) {
    for (const auto& entry : parts.include) {
      if (!entry.is_object()) continue;
      for (const auto& [key, value] : entry.items()) {
        if (seen.insert(key).second) order.push_back(key);
      }
    }
  }
  return order;
}

std::string leg_display_name(const std::string& job, const Json& leg, const std::vector<std::string>& key_order) {
  if (!leg.is_object() || leg.empty()) return job;
  std::vector<std::string> values;
  std::set<std::string> seen;
  for (const auto& key : key_order) {
    if (leg.contains(key) && seen.insert(key).second) values.push_back(value_text(leg.at(key)));
  }
  for (const auto& [key, value] : leg.items()) {  // keys the caller did not order: sorted
    if (seen.insert(key).second) values.push_back(value_text(value));
  }
  std::string name = job + " (";
  for (std::size_t i = 0; i < values.size(); ++i) name += (i ? ", " : "") + values[i];
  return name + ")";
}

std::string matrix_env_name(const std::string& key) {
  std::string name = "WF_MATRIX_";
  for (unsigned char ch : key) {
    bool digit = ch >= '0' && ch <= '9';
    bool lower = ch >= 'a' && ch <= 'z';
    bool upper = ch >= 'A' && ch <= 'Z';
    name += digit || upper ? static_cast<char>(ch) : lower ? static_cast<char>(ch - 'a' + 'A') : '_';
  }
  return name;
}

}  // namespace wf
