#include "wf/yaml_loader.hpp"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "wf/params.hpp"
#include "yaml_document.hpp"

namespace wf {

namespace {

// Keys of each section, in the hyphen spelling; ddeutil's underscore spellings are
// normalised to these before the lookup.
const std::vector<std::string> kWorkflowKeys = {
    "type", "name", "desc", "description", "tags", "params", "on", "env", "defaults", "timeout",
    "max-job-parallel", "run-name", "concurrency", "extras", "jobs"};
const std::vector<std::string> kJobKeys = {
    "id", "desc", "description", "runs-on", "env", "timeout", "retry", "outputs", "stages", "needs", "if",
    "trigger-rule", "strategy", "continue-on-error", "defaults", "extras"};
const std::vector<std::string> kParamKeys = {"type", "desc", "description", "default", "required",
                                             "options", "precision", "secret"};
const std::vector<std::string> kDefaultsKeys = {"shell", "working-directory"};
const std::vector<std::string> kStageCommonKeys = {
    "name", "id", "desc", "description", "if", "env", "retry", "timeout", "continue-on-error",
    "working-directory", "extras"};

struct KindKeys {
  const char* key;  // the distinguishing key
  StageKind kind;
  std::vector<std::string> own;  // keys this kind adds to the common ones
};
const std::vector<KindKeys> kStageKinds = {
    {"bash", StageKind::Bash, {"bash", "shell"}},
    {"run", StageKind::Python, {"run", "vars"}},
    {"uses", StageKind::Call, {"uses", "with"}},
    {"trigger", StageKind::Trigger, {"trigger", "params"}},
    {"raise", StageKind::Raise, {"raise"}},
    {"parallel", StageKind::Parallel, {"parallel", "max-workers"}},
    {"foreach", StageKind::Foreach, {"foreach", "stages", "concurrent", "use-index-as-key"}},
    {"until", StageKind::Until, {"until", "item", "max-loop", "stages"}},
    {"case", StageKind::Case, {"case", "match", "skip-not-match"}},
};

std::string normalise_key(std::string k) {
  std::replace(k.begin(), k.end(), '_', '-');
  return k;
}

bool is_user_key(const std::string& k) { return k.rfind("x-", 0) == 0; }

bool is_plain(const ydoc::Node& n) { return n.Tag() == "?" || n.Tag().empty(); }

std::size_t skip_digits(std::string_view s, std::size_t i) {
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i;
}

// [-+]?[0-9]+
bool is_int_text(std::string_view s) {
  std::size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  std::size_t end = skip_digits(s, i);
  return end > i && end == s.size();
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_float_text(std::string_view s) {
  std::size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size() && s[i] == '.') {
    std::size_t end = skip_digits(s, i + 1);
    if (end == i + 1) return false;
    i = end;
  } else {
    std::size_t end = skip_digits(s, i);
    if (end == i) return false;
    i = end;
    if (i < s.size() && s[i] == '.') i = skip_digits(s, i + 1);
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
    std::size_t end = skip_digits(s, j);
    if (end == j) return false;
    i = end;
  }
  return i == s.size();
}

// A number that no JSON number holds (past the range of a double); thrown by scalar_to_json
// and reported at its position by whoever started the loading.
struct NumberOutOfRange {
  ydoc::SourceMark mark;
  std::string text;
};
std::string out_of_range_message(const NumberOutOfRange& e) {
  std::string shown = e.text.size() > 40 ? e.text.substr(0, 37) + "..." : e.text;
  return "number " + shown + " is out of range (wf numbers are 64-bit integers or doubles; quote it to keep it as text)";
}

double to_double(const ydoc::Node& n, const std::string& s) {
  errno = 0;
  double v = std::strtod(s.c_str(), nullptr);
  // Too small to hold is a zero (or a denormal); too large is an error, not infinity.
  if (errno == ERANGE && std::isinf(v)) throw NumberOutOfRange{n.Mark(), s};
  return v;
}

Json scalar_to_json(const ydoc::Node& n) {
  const std::string& s = n.Scalar();
  const std::string& tag = n.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return s;
  if (!is_plain(n) && tag != "tag:yaml.org,2002:int" && tag != "tag:yaml.org,2002:float" &&
      tag != "tag:yaml.org,2002:bool" && tag != "tag:yaml.org,2002:null")
    return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (is_int_text(s)) {
    try {
      return std::stoll(s);
    } catch (const std::out_of_range&) {
      return to_double(n, s);  // past 64 bits: a double, as in JSON
    }
  }
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    bool hex = s[1] == 'x';
    std::string digits = s.substr(2);
    bool okd = !digits.empty() && std::all_of(digits.begin(), digits.end(), [&](char c) {
      return hex ? std::isxdigit(static_cast<unsigned char>(c)) : (c >= '0' && c <= '7');
    });
    if (okd) {
      try {
        return std::stoll(digits, nullptr, hex ? 16 : 8);
      } catch (...) {
      }
    }
  }
  if (is_float_text(s)) return to_double(n, s);
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") return "inf";
  return s;
}

// The entries of one YAML map in order, keys read once. yaml-cpp finds a key by walking the
// map and building Node objects on the way, which made loading a big file slow.
struct YamlError {
  int line = 0, column = 0;  // 0-based
  std::string message;
};

// A copy of a yaml-cpp tree; throws DeepTree past kMaxYamlDepth (also where an alias
// makes the tree contain itself).
struct DeepTree {
  YAML::Mark mark;
};
ydoc::Node copy_tree(const YAML::Node& n, ydoc::Document& doc, int depth = 0) {
  ydoc::NodeType type = n.IsMap()        ? ydoc::NodeType::Map
                        : n.IsSequence() ? ydoc::NodeType::Sequence
                        : n.IsScalar()   ? ydoc::NodeType::Scalar
                        : n.IsNull()     ? ydoc::NodeType::Null
                                         : ydoc::NodeType::Undefined;
  if (type == ydoc::NodeType::Undefined) return ydoc::Node();
  if (depth > ydoc::kMaxYamlDepth) throw DeepTree{n.Mark()};
  ydoc::NodeData& d = doc.add(type, {n.Mark().line, n.Mark().column});
  d.tag = n.Tag();
  if (type == ydoc::NodeType::Scalar) d.scalar = n.Scalar();
  if (type == ydoc::NodeType::Map)
    for (auto it = n.begin(); it != n.end(); ++it)
      d.items.emplace_back(copy_tree(it->first, doc, depth + 1), copy_tree(it->second, doc, depth + 1));
  if (type == ydoc::NodeType::Sequence)
    for (const auto& e : n) d.items.emplace_back(copy_tree(e, doc, depth + 1));
  return ydoc::Node(&d);
}

// The tree of `text`, read with libyaml. On a syntax error yaml-cpp reads it again: its
// messages and positions are the ones users and tests know, and where it accepts what
// libyaml refuses, its tree is used.
std::optional<ydoc::Document> read_yaml(const std::string& text, YamlError& error) {
  ydoc::ParseError parse_error;
  if (auto doc = ydoc::parse_document(text, parse_error)) return doc;
  if (parse_error.limit) {
    error = {parse_error.mark.line, parse_error.mark.column, parse_error.message};
    return std::nullopt;
  }
  try {
    YAML::Node root = YAML::Load(text);
    ydoc::Document doc;
    doc.set_root(copy_tree(root, doc));
    return doc;
  } catch (const YAML::Exception& e) {
    error = {e.mark.line, e.mark.column, e.msg};
    return std::nullopt;
  } catch (const DeepTree& e) {
    error = {e.mark.line, e.mark.column,
             "nested deeper than " + std::to_string(ydoc::kMaxYamlDepth) + " levels (or an alias inside the node it refers to)"};
    return std::nullopt;
  }
}

struct Fields {
  struct Entry {
    bool scalar = false;  // the key is a scalar (else `raw` and `key` are empty)
    std::string raw;      // the key as written
    std::string key;      // normalised (hyphen spelling)
    ydoc::Node key_node, value;
  };
  std::vector<Entry> entries;

  Fields() = default;
  explicit Fields(const ydoc::Node& map) {
    if (!map.IsMap()) return;
    entries.reserve(map.size());
    for (auto it = map.begin(); it != map.end(); ++it) {
      Entry e;
      e.scalar = it->first.IsScalar();
      if (e.scalar) {
        e.raw = it->first.Scalar();
        e.key = normalise_key(e.raw);
      }
      e.key_node = it->first;
      e.value = it->second;
      entries.push_back(std::move(e));
    }
  }
};

class Loader {
 public:
  Loader(std::string path, const std::string& text, DiagnosticList& diags)
      : path_(std::move(path)), text_(text), diags_(diags) {}

  std::vector<Workflow> load() {
    std::vector<Workflow> out;
    YamlError error;
    std::optional<ydoc::Document> doc = read_yaml(text_, error);
    if (!doc) {
      diags_.error(SourcePos{path_, error.line + 1, error.column + 1}, "invalid YAML: " + error.message);
      return out;
    }
    ydoc::Node root = doc->root();
    if (!root || root.IsNull()) return out;  // an empty file holds nothing
    if (!root.IsMap()) {
      diags_.error(pos(root), "expected a map of workflows (name: {type: Workflow, ...}) or one workflow with 'name:'");
      return out;
    }
    check_duplicate_keys(root);
    if (root["type"] && root["type"].IsScalar()) {
      // One workflow body with a top-level name.
      if (!root["name"] || !root["name"].IsScalar() || root["name"].Scalar().empty()) {
        diags_.error(pos(root), "a workflow written at the top level of a file needs 'name:'");
        return out;
      }
      load_body(root["name"].Scalar(), root, pos(root["name"]), true, out);
      return out;
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      std::string name = it->first.Scalar();
      if (is_user_key(name)) continue;
      load_body(name, it->second, pos(it->first), false, out);
    }
    return out;
  }

  Json to_json(const ydoc::Node& n) {
    switch (n.Type()) {
      case ydoc::NodeType::Null:
      case ydoc::NodeType::Undefined:
        return nullptr;
      case ydoc::NodeType::Scalar:
        return scalar_to_json(n);
      case ydoc::NodeType::Sequence: {
        Json a = Json::array();
        for (const auto& e : n) a.push_back(to_json(e));
        return a;
      }
      case ydoc::NodeType::Map: {
        Json o = Json::object();
        for (auto it = n.begin(); it != n.end(); ++it) o[it->first.Scalar()] = to_json(it->second);
        return o;
      }
    }
    return nullptr;
  }

 private:
  SourcePos pos(const ydoc::Node& n) const {
    auto m = n.Mark();
    if (m.line < 0) return SourcePos{path_, 0, 0};
    return SourcePos{path_, m.line + 1, m.column + 1};
  }

  // `normalise`: the hyphen and underscore spellings of a schema key are the same key.
  void check_duplicate_keys(const ydoc::Node& map, bool normalise = false) {
    std::set<std::string_view> seen;
    for (const auto& e : fields(map).entries) {
      if (!e.scalar) {
        diags_.error(pos(e.key_node), "map keys must be plain strings");
        continue;
      }
      if (!seen.insert(normalise ? std::string_view(e.key) : std::string_view(e.raw)).second)
        diags_.error(pos(e.key_node), "duplicate key '" + e.raw + "'");
    }
  }

  // Reports keys of `map` that are not in `allowed` (after normalisation); `hints` are
  // extra names worth suggesting (another stage kind's keys, say).
  void check_keys(const ydoc::Node& map, const std::vector<std::string>& allowed, const std::string& where,
                  const std::vector<std::string>& hints = {}, bool check_duplicates = true) {
    if (check_duplicates) check_duplicate_keys(map, true);
    for (const auto& e : fields(map).entries) {
      if (!e.scalar) continue;
      const std::string& raw = e.raw;
      if (is_user_key(raw)) continue;
      const std::string& k = e.key;
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string msg = "unknown key '" + raw + "' in " + where;
      if (std::find(hints.begin(), hints.end(), k) != hints.end()) {
        diags_.error(pos(e.key_node), msg + "; '" + k + "' belongs to another kind of stage");
        continue;
      }
      std::vector<std::string> candidates = allowed;
      candidates.insert(candidates.end(), hints.begin(), hints.end());
      std::string hint = closest_match(k, candidates);
      if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
      diags_.error(pos(e.key_node), msg);
    }
  }

  // The entries of `map`, read once per map for the many lookups the loader makes in it.
  const Fields& fields(const ydoc::Node& map) const {
    for (const auto& [node, f] : fields_cache_)
      if (node && node->is(map)) return f;
    // Round robin: the maps being loaded nest (workflow, job, stage, ...) a few levels deep.
    auto& slot = fields_cache_[fields_next_++ % fields_cache_.size()];
    slot.first = map;
    slot.second = Fields(map);
    return slot.second;
  }

  // The value of `key` in `map`, accepting the underscore spelling too.
  ydoc::Node get(const ydoc::Node& map, std::string_view key) const {
    for (const auto& e : fields(map).entries)
      if (e.scalar && e.key == key) return e.value;
    return ydoc::Node(ydoc::NodeType::Undefined);
  }

  ydoc::Node key_node(const ydoc::Node& map, std::string_view key) const {
    for (const auto& e : fields(map).entries)
      if (e.scalar && e.key == key) return e.key_node;
    return ydoc::Node(ydoc::NodeType::Undefined);
  }

  static bool present(const ydoc::Node& n) { return n.IsDefined() && !n.IsNull(); }

  std::optional<Text> text(const ydoc::Node& n, const std::string& what) {
    if (!present(n)) return std::nullopt;
    if (!n.IsScalar()) {
      diags_.error(pos(n), what + " must be a single value, not a " + (n.IsMap() ? "map" : "list"));
      return std::nullopt;
    }
    return Text{n.Scalar(), pos(n)};
  }

  std::string plain_string(const ydoc::Node& n, const std::string& what) {
    auto t = text(n, what);
    return t ? t->value : std::string();
  }

  std::optional<bool> boolean(const ydoc::Node& n, const std::string& what) {
    if (!present(n)) return std::nullopt;
    Json v = n.IsScalar() ? scalar_to_json(n) : Json();
    if (!v.is_boolean()) {
      diags_.error(pos(n), what + " must be true or false");
      return std::nullopt;
    }
    return v.get<bool>();
  }

  std::optional<int> integer(const ydoc::Node& n, const std::string& what, int min_value) {
    if (!present(n)) return std::nullopt;
    Json v = n.IsScalar() ? scalar_to_json(n) : Json();
    if (!v.is_number_integer() || v.get<long long>() < min_value || v.get<long long>() > 1000000000) {
      diags_.error(pos(n), what + " must be a whole number >= " + std::to_string(min_value));
      return std::nullopt;
    }
    return static_cast<int>(v.get<long long>());
  }

  TextMap text_map(const ydoc::Node& n, const std::string& what) {
    TextMap out;
    if (!present(n)) return out;
    if (!n.IsMap()) {
      diags_.error(pos(n), what + " must be a map of names to values");
      return out;
    }
    check_duplicate_keys(n);
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!it->first.IsScalar()) continue;
      if (!it->second.IsScalar() && !it->second.IsNull()) {
        diags_.error(pos(it->second), what + " value '" + it->first.Scalar() + "' must be a single value");
        continue;
      }
      out.emplace_back(it->first.Scalar(), Text{it->second.IsNull() ? "" : it->second.Scalar(), pos(it->second)});
    }
    return out;
  }

  std::vector<std::string> string_list(const ydoc::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (!present(n)) return out;
    if (n.IsScalar()) return {n.Scalar()};
    if (!n.IsSequence()) {
      diags_.error(pos(n), what + " must be a string or a list of strings");
      return out;
    }
    for (const auto& e : n) {
      if (!e.IsScalar()) {
        diags_.error(pos(e), what + " entries must be strings");
        continue;
      }
      out.push_back(e.Scalar());
    }
    return out;
  }

  void load_defaults(const ydoc::Node& n, std::optional<Text>& shell, std::optional<Text>& wd) {
    if (!present(n)) return;
    if (!n.IsMap()) {
      diags_.error(pos(n), "'defaults' must be a map with 'shell' and/or 'working-directory'");
      return;
    }
    check_keys(n, kDefaultsKeys, "defaults");
    shell = text(get(n, "shell"), "defaults.shell");
    wd = text(get(n, "working-directory"), "defaults.working-directory");
  }

  void load_body(const std::string& name, const ydoc::Node& body, SourcePos name_pos, bool top_level,
                 std::vector<Workflow>& out) {
    if (!body.IsMap()) {
      diags_.error(name_pos, "'" + name + "' must be a map with 'type: Workflow'");
      return;
    }
    ydoc::Node type = body["type"];
    if (!present(type)) {
      diags_.error(name_pos, "'" + name + "' has no 'type:'; a workflow needs 'type: Workflow'");
      return;
    }
    if (!type.IsScalar() || type.Scalar() != "Workflow") {
      diags_.note(pos(type), "'" + name + "' is skipped: type '" + (type.IsScalar() ? type.Scalar() : "?") +
                                 "' is not a workflow");
      return;
    }
    Workflow w;
    w.name = name;
    w.file = path_;
    w.pos = name_pos;
    std::vector<std::string> keys = kWorkflowKeys;
    if (!top_level) keys.erase(std::find(keys.begin(), keys.end(), "name"));
    check_keys(body, keys, "workflow '" + name + "'", {}, !top_level);

    w.desc = plain_string(present(get(body, "desc")) ? get(body, "desc") : get(body, "description"), "desc");
    w.tags = string_list(get(body, "tags"), "tags");
    load_params(get(body, "params"), w);
    w.on = to_json(get(body, "on"));
    load_schedules(get(body, "on"), w);
    w.env = text_map(get(body, "env"), "env");
    load_defaults(get(body, "defaults"), w.shell, w.working_directory);
    w.timeout = integer(get(body, "timeout"), "timeout", 1);
    w.max_job_parallel = integer(get(body, "max-job-parallel"), "max-job-parallel", 1);
    w.run_name = text(get(body, "run-name"), "run-name");
    w.concurrency = to_json(get(body, "concurrency"));
    if (ydoc::Node c = get(body, "concurrency"); present(c)) {
      if (!c.IsMap()) {
        diags_.error(pos(c), "'concurrency' must be a map: {group: ..., limit: N, strategy: cancel-new|queue}");
      } else {
        check_keys(c, {"group", "limit", "strategy"}, "concurrency");
        integer(get(c, "limit"), "concurrency.limit", 1);
        ydoc::Node st = get(c, "strategy");
        if (present(st) && (!st.IsScalar() || (st.Scalar() != "cancel-new" && st.Scalar() != "queue")))
          diags_.error(pos(st), "concurrency.strategy must be 'cancel-new' or 'queue'");
      }
    }
    w.extras = to_json(get(body, "extras"));
    load_extras(get(body, "extras"), w);

    ydoc::Node jobs = get(body, "jobs");
    if (!present(jobs)) {
      diags_.error(name_pos, "workflow '" + name + "' has no 'jobs:'");
    } else if (!jobs.IsMap()) {
      diags_.error(pos(jobs), "'jobs' must be a map of job names to jobs");
    } else {
      check_duplicate_keys(jobs);
      for (auto it = jobs.begin(); it != jobs.end(); ++it) {
        if (!it->first.IsScalar() || is_user_key(it->first.Scalar())) continue;
        load_job(it->first.Scalar(), it->second, pos(it->first), w);
      }
    }
    out.push_back(std::move(w));
  }

  // `on:` as the seed reference writes it (a list of {cron, timezone} and {manual: true})
  // or as ddeutil does ({schedule: [{cronjob, timezone|tz}]}).
  void load_schedules(const ydoc::Node& n, Workflow& w) {
    if (!present(n)) return;
    auto entry = [&](const ydoc::Node& e, const char* cron_key, const std::vector<std::string>& keys) {
      if (!e.IsMap()) {
        diags_.error(pos(e), std::string("a schedule must be a map with '") + cron_key + ":'");
        return;
      }
      check_keys(e, keys, "schedule");
      ydoc::Node manual = get(e, "manual");
      ydoc::Node cron = get(e, cron_key);
      if (!present(cron)) {
        if (!present(manual)) diags_.error(pos(e), std::string("a schedule needs '") + cron_key + ":'");
        else boolean(manual, "manual");
        return;
      }
      ScheduleSpec spec;
      if (auto t = text(cron, cron_key)) spec.cron = *t;
      else return;
      ydoc::Node tz = present(get(e, "timezone")) ? get(e, "timezone") : get(e, "tz");
      if (present(tz)) {
        spec.tz = plain_string(tz, "timezone");
        spec.tz_pos = pos(tz);
      }
      w.schedules.push_back(spec);
    };
    if (n.IsSequence()) {
      for (const auto& e : n) entry(e, "cron", {"cron", "timezone", "tz", "manual"});
    } else if (n.IsMap()) {
      check_keys(n, {"schedule"}, "on");
      ydoc::Node list = get(n, "schedule");
      if (present(list)) {
        if (!list.IsSequence()) diags_.error(pos(list), "'schedule' must be a list of {cronjob: ..., timezone: ...}");
        else
          for (const auto& e : list) entry(e, "cronjob", {"cronjob", "timezone", "tz"});
      }
    } else {
      diags_.error(pos(n), "'on' must be a list of schedules ({cron: ..., timezone: ...}) or {schedule: [...]}");
    }
  }

  void load_extras(const ydoc::Node& n, Workflow& w) {
    if (!present(n)) return;
    if (!n.IsMap()) {
      diags_.error(pos(n), "'extras' must be a map");
      return;
    }
    static const std::set<std::string> known = {"max_job_parallel", "timeout", "conf_path",
                                                "registry_caller", "enable_write_audit"};
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.Scalar();
      std::replace(k.begin(), k.end(), '-', '_');
      if (!known.count(k)) {
        diags_.warning(pos(it->first), "extras key '" + it->first.Scalar() +
                                           "' configures ddeutil-workflow and is ignored by wf");
        continue;
      }
      if (k == "max_job_parallel" && !w.max_job_parallel)
        w.max_job_parallel = integer(it->second, "extras.max_job_parallel", 1);
      if (k == "timeout" && !w.timeout) w.timeout = integer(it->second, "extras.timeout", 1);
    }
  }

  void load_params(const ydoc::Node& n, Workflow& w) {
    if (!present(n)) return;
    if (!n.IsMap()) {
      diags_.error(pos(n), "'params' must be a map of param names to types");
      return;
    }
    check_duplicate_keys(n);
    for (auto it = n.begin(); it != n.end(); ++it) {
      ParamSpec p;
      p.name = it->first.Scalar();
      p.pos = pos(it->first);
      const ydoc::Node v = it->second;
      ydoc::Node type_node;
      if (v.IsScalar()) {
        type_node = v;
      } else if (v.IsMap()) {
        check_keys(v, kParamKeys, "param '" + p.name + "'");
        type_node = get(v, "type");
        p.desc = plain_string(present(get(v, "desc")) ? get(v, "desc") : get(v, "description"), "desc");
        if (get(v, "default").IsDefined()) p.default_value = to_json(get(v, "default"));
        p.required = boolean(get(v, "required"), "required").value_or(false);
        p.secret = boolean(get(v, "secret"), "secret").value_or(false);
        p.precision = integer(get(v, "precision"), "precision", 0);
        ydoc::Node opts = get(v, "options");
        if (present(opts)) {
          if (!opts.IsSequence() || opts.size() == 0) {
            diags_.error(pos(opts), "options of param '" + p.name + "' must be a non-empty list");
          } else {
            for (const auto& o : opts) p.options.push_back(to_json(o));
          }
        }
      } else {
        diags_.error(pos(v), "param '" + p.name + "' must be a type name (str, int, ...) or a map with 'type:'");
        continue;
      }
      if (!present(type_node) || !type_node.IsScalar()) {
        diags_.error(p.pos, "param '" + p.name + "' has no 'type:'");
        continue;
      }
      std::string tname = type_node.Scalar();
      auto t = parse_param_type(tname);
      if (!t) {
        std::vector<std::string> names = {"str", "int", "float", "decimal", "bool", "date", "datetime",
                                          "choice", "array", "map"};
        std::string msg = "unknown param type '" + tname + "' for param '" + p.name + "'";
        std::string hint = closest_match(tname, names);
        if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
        msg += " (types: str int float decimal bool date datetime choice array map)";
        diags_.error(pos(type_node), msg);
        continue;
      }
      p.type = *t;
      if (p.type == ParamType::Choice && p.options.empty())
        diags_.error(p.pos, "choice param '" + p.name + "' needs 'options:'");
      if (p.type != ParamType::Choice && !p.options.empty())
        diags_.error(pos(get(v, "options")), "'options' is only for choice params");
      if (p.precision && p.type != ParamType::Decimal)
        diags_.error(pos(get(v, "precision")), "'precision' is only for decimal params");
      w.params.push_back(std::move(p));
    }
  }

  void load_job(const std::string& name, const ydoc::Node& n, SourcePos name_pos, Workflow& w) {
    Job j;
    j.name = name;
    j.pos = name_pos;
    if (n.IsNull()) {
      diags_.error(name_pos, "job '" + name + "' is empty; it needs 'stages:'");
      return;
    }
    if (!n.IsMap()) {
      diags_.error(pos(n), "job '" + name + "' must be a map");
      return;
    }
    check_keys(n, kJobKeys, "job '" + name + "'");
    j.desc = plain_string(present(get(n, "desc")) ? get(n, "desc") : get(n, "description"), "desc");
    ydoc::Node needs = get(n, "needs");
    if (present(needs)) {
      if (needs.IsScalar()) {
        j.needs.push_back({needs.Scalar(), pos(needs)});
      } else if (needs.IsSequence()) {
        for (const auto& e : needs) {
          if (e.IsScalar()) j.needs.push_back({e.Scalar(), pos(e)});
          else diags_.error(pos(e), "'needs' entries must be job names");
        }
      } else {
        diags_.error(pos(needs), "'needs' must be a job name or a list of job names");
      }
    }
    j.if_cond = text(get(n, "if"), "if");
    ydoc::Node rule = get(n, "trigger-rule");
    if (present(rule)) {
      std::string r = rule.IsScalar() ? rule.Scalar() : "";
      std::replace(r.begin(), r.end(), '-', '_');
      auto tr = parse_trigger_rule(r);
      if (!tr) {
        std::vector<std::string> rules = {"all_success", "all_failed", "all_done", "one_success",
                                          "one_failed", "none_failed", "none_skipped"};
        std::string msg = "unknown trigger-rule '" + r + "'";
        std::string hint = closest_match(r, rules);
        if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
        diags_.error(pos(rule), msg);
      } else {
        j.trigger_rule = *tr;
      }
    }
    j.env = text_map(get(n, "env"), "env");
    j.timeout = text(get(n, "timeout"), "timeout");
    j.retry = retry_text(get(n, "retry"));
    j.continue_on_error = boolean(get(n, "continue-on-error"), "continue-on-error").value_or(false);
    ydoc::Node outputs = get(n, "outputs");
    if (outputs.IsDefined()) j.outputs = text_map(outputs, "outputs");
    load_defaults(get(n, "defaults"), j.shell, j.working_directory);
    load_strategy(get(n, "strategy"), j);
    ydoc::Node runs_on = get(n, "runs-on");
    j.runs_on = to_json(runs_on);
    check_runs_on(runs_on);
    ydoc::Node stages = get(n, "stages");
    if (present(stages)) {
      if (!stages.IsSequence()) diags_.error(pos(stages), "'stages' must be a list of stages");
      else
        for (const auto& s : stages) j.stages.push_back(load_stage(s));
    }
    w.jobs.push_back(std::move(j));
  }

  void load_strategy(const ydoc::Node& n, Job& j) {
    if (!present(n)) return;
    if (!n.IsMap()) {
      diags_.error(pos(n), "'strategy' must be a map with 'matrix:'");
      return;
    }
    check_keys(n, {"matrix", "include", "exclude", "max-parallel", "fail-fast"}, "strategy");
    j.strategy = to_json(n);
    // Normalise ddeutil spellings so the scheduler sees one form.
    Json norm = Json::object();
    for (auto it = j.strategy.begin(); it != j.strategy.end(); ++it) norm[normalise_key(it.key())] = it.value();
    j.strategy = norm;
    ydoc::Node m = get(n, "matrix");
    if (m.IsMap()) {
      check_duplicate_keys(m);
      for (auto it = m.begin(); it != m.end(); ++it) {
        const std::string& k = it->first.Scalar();
        if (k == "include" || k == "exclude") continue;
        j.matrix_keys.push_back(k);
        if (!it->second.IsSequence() && !(it->second.IsScalar() && it->second.Scalar().find("${{") != std::string::npos))
          diags_.error(pos(it->second), "matrix key '" + k + "' must be a list of values (or a ${{ }} expression giving one)");
      }
    } else if (present(m) && !(m.IsScalar() && m.Scalar().find("${{") != std::string::npos)) {
      diags_.error(pos(m), "'matrix' must be a map of keys to lists (or a ${{ }} expression giving one)");
    }
    for (const char* k : {"include", "exclude"}) {
      ydoc::Node e = get(n, k);
      if (present(e) && !e.IsSequence()) diags_.error(pos(e), std::string("'") + k + "' must be a list of maps");
    }
  }

  std::optional<Text> retry_text(const ydoc::Node& n) {
    if (!present(n)) return std::nullopt;
    if (n.IsMap()) {
      // The long form is part of the retry issue; keep it as JSON text.
      return Text{json_text(to_json(n)), pos(n)};
    }
    return text(n, "retry");
  }

  void check_runs_on(const ydoc::Node& n) {
    if (!present(n)) return;
    std::string type;
    if (n.IsScalar()) {
      type = n.Scalar();
    } else if (n.IsMap()) {
      check_keys(n, {"type", "with"}, "runs-on");
      type = plain_string(get(n, "type"), "runs-on.type");
    } else {
      diags_.error(pos(n), "'runs-on' must be 'local' or a map with 'type:'");
      return;
    }
    if (type != "local" && type != "slurm")
      diags_.error(pos(n), "runs-on type '" + type + "' is not supported (supported: local, slurm)");
  }

  Stage load_stage(const ydoc::Node& n) {
    Stage s;
    s.pos = pos(n);
    if (!n.IsMap()) {
      diags_.error(pos(n), "a stage must be a map (for example {name: ..., bash: ...})");
      return s;
    }
    // Which kind: the one distinguishing key; image: is docker, which wf does not run.
    std::vector<const KindKeys*> kinds;
    for (const auto& k : kStageKinds)
      if (get(n, k.key).IsDefined()) kinds.push_back(&k);
    if (get(n, "image").IsDefined()) {
      diags_.error(pos(key_node(n, "image")), "docker stages ('image:') are not supported by wf");
      return s;
    }
    if (kinds.size() > 1) {
      diags_.error(pos(key_node(n, kinds[1]->key)), std::string("ambiguous stage: it has both '") +
                                                        kinds[0]->key + "' and '" + kinds[1]->key +
                                                        "'; a stage has exactly one type key");
      return s;
    }
    std::vector<std::string> allowed = kStageCommonKeys;
    if (kinds.empty()) {
      s.kind = StageKind::Empty;
      allowed.push_back("echo");
      allowed.push_back("sleep");
    } else {
      s.kind = kinds[0]->kind;
      allowed.insert(allowed.end(), kinds[0]->own.begin(), kinds[0]->own.end());
    }
    std::string label = "stage";
    s.name = text(get(n, "name"), "name");
    s.id = text(get(n, "id"), "id");
    if (s.name) label = "stage '" + s.name->value + "'";
    else if (s.id) label = "stage '" + s.id->value + "'";
    std::vector<std::string> kind_keys = {"echo", "sleep"};
    for (const auto& k : kStageKinds) kind_keys.push_back(k.key);
    check_keys(n, allowed, label, kind_keys);
    if (!s.name && !s.id) diags_.error(s.pos, "a stage needs 'name:' or 'id:'");
    s.desc = plain_string(present(get(n, "desc")) ? get(n, "desc") : get(n, "description"), "desc");
    s.if_cond = text(get(n, "if"), "if");
    s.env = text_map(get(n, "env"), "env");
    s.retry = retry_text(get(n, "retry"));
    s.timeout = text(get(n, "timeout"), "timeout");
    s.continue_on_error = boolean(get(n, "continue-on-error"), "continue-on-error").value_or(false);
    s.working_directory = text(get(n, "working-directory"), "working-directory");
    switch (s.kind) {
      case StageKind::Empty:
        s.echo = text(get(n, "echo"), "echo");
        s.sleep = text(get(n, "sleep"), "sleep");
        break;
      case StageKind::Bash:
        if (auto t = text(get(n, "bash"), "bash")) s.bash = *t;
        else diags_.error(s.pos, "'bash' must hold the script to run");
        s.shell = text(get(n, "shell"), "shell");
        break;
      case StageKind::Raise:
        if (auto t = text(get(n, "raise"), "raise")) s.raise = *t;
        else diags_.error(s.pos, "'raise' must hold the error message");
        break;
      case StageKind::Python: {
        if (auto t = text(get(n, "run"), "run")) s.run = *t;
        else diags_.error(s.pos, "'run' must hold the Python code to run");
        ydoc::Node v = get(n, "vars");
        if (present(v) && !v.IsMap()) diags_.error(pos(v), "'vars' must be a map of names to values");
        s.vars = present(v) ? to_json(v) : Json::object();
        break;
      }
      case StageKind::Call: {
        if (auto t = text(get(n, "uses"), "uses")) s.uses = *t;
        else diags_.error(s.pos, "'uses' must name what to call, e.g. tasks/add@v1");
        ydoc::Node v = get(n, "with");
        if (present(v) && !v.IsMap()) diags_.error(pos(v), "'with' must be a map of argument names to values");
        s.with = present(v) ? to_json(v) : Json::object();
        break;
      }
      case StageKind::Trigger: {
        if (auto t = text(get(n, "trigger"), "trigger")) s.trigger = *t;
        else diags_.error(s.pos, "'trigger' must name the workflow to run");
        ydoc::Node v = get(n, "params");
        if (present(v) && !v.IsMap()) diags_.error(pos(v), "'params' must be a map of param names to values");
        s.trigger_params = present(v) ? to_json(v) : Json::object();
        break;
      }
      case StageKind::Parallel: {
        ydoc::Node branches = get(n, "parallel");
        if (!branches.IsMap() || branches.size() == 0) {
          diags_.error(pos(branches), "'parallel' must be a map of branch names to stage lists");
          break;
        }
        check_duplicate_keys(branches);
        for (auto it = branches.begin(); it != branches.end(); ++it) {
          StageList l;
          l.label = it->first.Scalar();
          l.pos = pos(it->first);
          l.stages = stage_list(it->second, "branch '" + l.label + "'", l.pos);
          s.lists.push_back(std::move(l));
        }
        s.max_workers = text(get(n, "max-workers"), "max-workers");
        break;
      }
      case StageKind::Foreach: {
        ydoc::Node items = get(n, "foreach");
        s.foreach_pos = pos(items);
        if (items.IsSequence() || (items.IsScalar() && !items.IsNull())) {
          s.foreach_items = items.IsSequence() ? to_json(items) : Json(items.Scalar());
        } else {
          diags_.error(pos(items), "'foreach' must be a list of items or an expression that gives one");
        }
        StageList l;
        l.pos = pos(get(n, "stages"));
        l.stages = stage_list(get(n, "stages"), "foreach", s.pos);
        s.lists.push_back(std::move(l));
        s.concurrent = text(get(n, "concurrent"), "concurrent");
        s.use_index_as_key = boolean(get(n, "use-index-as-key"), "use-index-as-key").value_or(false);
        break;
      }
      case StageKind::Until: {
        if (auto t = text(get(n, "until"), "until")) s.until = *t;
        else diags_.error(s.pos, "'until' must hold the condition that ends the loop");
        ydoc::Node item = get(n, "item");
        s.until_item = present(item) ? to_json(item) : Json(0);
        s.max_loop = text(get(n, "max-loop"), "max-loop");
        StageList l;
        l.pos = pos(get(n, "stages"));
        l.stages = stage_list(get(n, "stages"), "until", s.pos);
        s.lists.push_back(std::move(l));
        break;
      }
      case StageKind::Case: {
        if (auto t = text(get(n, "case"), "case")) s.case_value = *t;
        else diags_.error(s.pos, "'case' must hold the value to match");
        s.skip_not_match = boolean(get(n, "skip-not-match"), "skip-not-match").value_or(false);
        ydoc::Node match = get(n, "match");
        if (!match.IsSequence()) {
          diags_.error(pos(present(match) ? match : n),
                       "'match' must be a list of entries {case: VALUE, stages: [...]} (or {else: [...]})");
          break;
        }
        for (const auto& e : match) {
          StageList l;
          l.pos = pos(e);
          if (!e.IsMap()) {
            diags_.error(pos(e), "a 'match' entry must be a map {case: VALUE, stages: [...]} or {else: [...]}");
            continue;
          }
          check_duplicate_keys(e, true);
          if (present(get(e, "else"))) {
            check_keys(e, {"else"}, "match entry");
            l.catch_all = true;
            l.label = "else";
            l.stages = stage_list(get(e, "else"), "else", l.pos);
          } else {
            check_keys(e, {"case", "stages"}, "match entry");
            ydoc::Node c = get(e, "case");
            if (!present(c) || !c.IsScalar()) {
              diags_.error(pos(e), "a 'match' entry needs 'case:' with a value (use '_' to match anything)");
              continue;
            }
            l.label = c.Scalar();
            l.catch_all = l.label == "_";
            if (l.label.find("${{") != std::string::npos) l.value_text = Text{c.Scalar(), pos(c)};
            l.value = scalar_to_json(c);
            l.stages = stage_list(get(e, "stages"), "case '" + l.label + "'", l.pos);
          }
          s.lists.push_back(std::move(l));
        }
        break;
      }
      default:
        break;
    }
    return s;
  }

  std::vector<Stage> stage_list(const ydoc::Node& n, const std::string& what, const SourcePos& owner) {
    std::vector<Stage> out;
    if (!present(n) || !n.IsSequence()) {
      diags_.error(n.IsDefined() ? pos(n) : owner, what + ": 'stages' must be a list of stages");
      return out;
    }
    for (const auto& e : n) out.push_back(load_stage(e));
    return out;
  }

  std::string path_;
  const std::string& text_;
  DiagnosticList& diags_;
  mutable std::array<std::pair<std::optional<ydoc::Node>, Fields>, 8> fields_cache_;
  mutable std::size_t fields_next_ = 0;
};

}  // namespace

WorkflowFile load_workflow_text(const std::string& path, std::string text, DiagnosticList& diags) {
  WorkflowFile f;
  f.path = path;
  f.text = std::move(text);
  diags.add_source(path, f.text);
  Loader loader(path, f.text, diags);
  try {
    f.workflows = loader.load();
  } catch (const NumberOutOfRange& e) {
    diags.error(SourcePos{path, e.mark.line + 1, e.mark.column + 1}, out_of_range_message(e));
    f.workflows.clear();
  }
  return f;
}

Result<std::string> read_input_file(const std::string& path, const std::string& what) {
  auto fail = [&](const std::string& why) { return Error("cannot read " + (what.empty() ? path : what) + ": " + why); };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fail("it is a directory");
  std::string text;
  if (S_ISREG(st.st_mode)) {
    if (static_cast<std::uint64_t>(st.st_size) > kMaxInputBytes) return fail("it is larger than 64 MiB");
    text.reserve(static_cast<std::size_t>(st.st_size));
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(std::strerror(errno));
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > kMaxInputBytes) return fail("it is larger than 64 MiB");
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

WorkflowFile load_workflow_file(const std::string& path, DiagnosticList& diags) {
  auto text = read_input_file(path, "file");
  if (!text.ok()) {
    diags.error(SourcePos{path, 0, 0}, text.error().message);
    WorkflowFile f;
    f.path = path;
    return f;
  }
  return load_workflow_text(path, std::move(*text), diags);
}

Result<Json> parse_yaml_map(const std::string& text, const std::string& path) {
  DiagnosticList diags;
  YamlError error;
  std::optional<ydoc::Document> doc = read_yaml(text, error);
  if (!doc) {
    return Error(path + ":" + std::to_string(error.line + 1) + ":" + std::to_string(error.column + 1) +
                 ": invalid YAML/JSON: " + error.message);
  }
  ydoc::Node root = doc->root();
  if (!root || root.IsNull()) return Json::object();
  if (!root.IsMap()) return Error(path + ": expected a map of param names to values");
  std::string t = text;
  Loader loader(path, t, diags);
  try {
    return loader.to_json(root);
  } catch (const NumberOutOfRange& e) {
    return Error(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " +
                 out_of_range_message(e));
  }
}

}  // namespace wf
