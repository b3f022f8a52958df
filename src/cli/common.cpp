#include "common.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <unistd.h>

#include <filesystem>

#include "commands.hpp"
#include "wf/params.hpp"
#include "wf/recovery.hpp"

namespace wf::cli {

bool Globals::color_stdout() const {
  if (color == "always") return true;
  if (color == "never" || env.count("NO_COLOR")) return false;
  return ::isatty(STDOUT_FILENO) && env_or("TERM") != "dumb";
}

bool Globals::color_stderr() const {
  if (color == "always") return true;
  if (color == "never" || env.count("NO_COLOR")) return false;
  return ::isatty(STDERR_FILENO) && env_or("TERM") != "dumb";
}

std::string Globals::env_or(const std::string& name, const std::string& fallback) const {
  auto it = env.find(name);
  return it == env.end() ? fallback : it->second;
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "wf: error: %s\n", message.c_str());
  return code;
}

void print_diagnostics(const DiagnosticList& diags, const Globals& g, Severity min) {
  for (const auto& d : diags.sorted()) {
    if (static_cast<int>(d.severity) > static_cast<int>(min)) continue;
    std::fputs(diags.format(d, g.color_stderr()).c_str(), stderr);
  }
}

Result<TimeMs> parse_duration_ms(const std::string& s, const std::string& what) {
  Error bad(what + " expects a duration such as 1d, 12h, 30m or 45s, got '" + s + "'");
  if (s.size() < 2) return bad;
  char unit = s.back();
  long long n = 0;
  try {
    std::size_t used = 0;
    n = std::stoll(s.substr(0, s.size() - 1), &used);
    if (used != s.size() - 1 || n < 0) return bad;
  } catch (...) {
    return bad;
  }
  long long mult = unit == 'd' ? 86400000LL : unit == 'h' ? 3600000LL : unit == 'm' ? 60000LL : unit == 's' ? 1000LL : 0;
  if (!mult) return bad;
  if (n > 36500LL * 86400000LL / mult) return Error(what + " accepts at most 36500d (100 years), got '" + s + "'");
  return n * mult;
}

std::string state_dir(const Globals& g) {
  if (!g.state_dir.empty()) return g.state_dir;
  std::string d = g.env_or("WF_STATE_DIR");
  if (!d.empty()) return d;
  std::string xdg = g.env_or("XDG_STATE_HOME");
  if (!xdg.empty()) return xdg + "/wf";
  std::string home = g.env_or("HOME");
  if (home.empty()) home = ".";
  return home + "/.local/state/wf";
}

Result<std::unique_ptr<RunStore>> open_store(const Globals& g) {
  auto store = RunStore::open(state_dir(g));
  if (!store.ok()) return store;
  // Every command that reads or writes runs first closes those whose wf died.
  auto closed = close_interrupted_runs(**store);
  if (!closed.ok()) return closed.error();
  return store;
}

namespace {
bool looks_like_file(const std::string& target) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(target, ec)) return true;
  auto ext = fs::path(target).extension().string();
  return ext == ".yml" || ext == ".yaml" || target.find('/') != std::string::npos;
}
}  // namespace

Result<Chosen> choose_workflow(const Globals& g, const std::string& target, const std::string& name,
                               DiagnosticList& diags) {
  Chosen c;
  if (looks_like_file(target)) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(target, ec)) return Error("no such workflow file: " + target);
    c.catalog.add_file(load_workflow_file(target, diags), diags);
    const WorkflowFile& f = c.catalog.files().back();
    if (diags.has_errors() && f.workflows.empty()) return c;
    std::vector<std::string> names;
    for (const auto& w : f.workflows) names.push_back(w.name);
    if (!name.empty()) {
      for (const auto& w : f.workflows)
        if (w.name == name) c.workflow = &w;
      if (!c.workflow) {
        std::string msg = "no workflow '" + name + "' in " + target;
        std::string hint = closest_match(name, names);
        if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        return Error(msg + " (it has: " + (list.empty() ? "none" : list) + ")");
      }
    } else if (f.workflows.size() == 1) {
      c.workflow = &f.workflows[0];
    } else if (f.workflows.empty()) {
      if (!diags.has_errors()) return Error(target + " holds no workflow (no entry with 'type: Workflow')");
      return c;
    } else {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      return Error(target + " holds several workflows; name one: " + list);
    }
    c.file = &f;
    return c;
  }
  auto dirs = config_dirs(g.conf, g.env);
  c.catalog = Catalog::load(dirs, diags);
  const Workflow* w = c.catalog.find(target);
  if (!w) {
    auto names = c.catalog.names();
    std::string msg = "no workflow named '" + target + "' in the config path (";
    for (std::size_t i = 0; i < dirs.size(); ++i) msg += (i ? ":" : "") + dirs[i];
    msg += ")";
    std::string hint = closest_match(target, names);
    if (!hint.empty()) msg += "; did you mean '" + hint + "'?";
    if (!names.empty()) {
      msg += "\navailable workflows:";
      if (!hint.empty()) msg += " " + hint;
      for (const auto& n : names)
        if (n != hint) msg += " " + n;
    }
    return Error(msg);
  }
  // The same name in two files: refuse rather than pick one.
  std::vector<std::string> places;
  for (const auto& f : c.catalog.files())
    for (const auto& x : f.workflows)
      if (x.name == target) places.push_back(f.path + ":" + std::to_string(x.pos.line));
  if (places.size() > 1)
    return Error("workflow '" + target + "' is defined twice: in " + places[0] + " and in " + places[1]);
  c.workflow = w;
  c.file = c.catalog.file_of(*w);
  return c;
}

CLI::Validator seconds_option(bool positive) {
  return CLI::Validator(
      [positive](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        double v = std::strtod(text.c_str(), &end);
        bool number = !text.empty() && end && *end == '\0' && errno == 0 && std::isfinite(v);
        if (number && (positive ? v > 0 : v >= 0) && v <= kMaxOptionSeconds) return "";
        return "expects a number of seconds " + std::string(positive ? "above 0" : "from 0") +
               " up to 1000000000, got '" + text + "'";
      },
      "");
}

CLI::Validator count_option(long long min, long long max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        long long v = std::strtoll(text.c_str(), &end, 10);
        bool number = !text.empty() && end && *end == '\0' && errno == 0;
        if (number && v >= min && v <= max) return "";
        return "expects a whole number from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" + text + "'";
      },
      "");
}

}  // namespace wf::cli
