#include "wf/catalog.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace wf {

namespace fs = std::filesystem;

std::vector<std::string> config_dirs(const std::vector<std::string>& from_cli,
                                     const std::map<std::string, std::string>& env) {
  if (!from_cli.empty()) return from_cli;
  for (const char* name : {"WF_CONF_PATH", "WORKFLOW_CORE_CONF_PATH"}) {
    auto it = env.find(name);
    if (it == env.end() || it->second.empty()) continue;
    std::vector<std::string> dirs;
    std::size_t start = 0;
    while (start <= it->second.size()) {
      auto colon = it->second.find(':', start);
      std::string d = it->second.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!d.empty()) dirs.push_back(d);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
    if (!dirs.empty()) return dirs;
  }
  return {"./conf"};
}

bool ignore_pattern_matches(const std::string& pattern_in, const std::string& rel_path, bool is_dir) {
  std::string pattern = pattern_in;
  bool dir_only = !pattern.empty() && pattern.back() == '/';
  if (dir_only) pattern.pop_back();
  if (dir_only && !is_dir) return false;
  bool anchored = pattern.find('/') != std::string::npos;
  if (!pattern.empty() && pattern[0] == '/') pattern.erase(0, 1);
  if (pattern.empty()) return false;
  if (anchored) {
    // "**/" at the start matches in any directory; fnmatch has no "**", so try each suffix.
    if (pattern.rfind("**/", 0) == 0) {
      std::string rest = pattern.substr(3);
      std::string p = rel_path;
      while (true) {
        if (fnmatch(rest.c_str(), p.c_str(), FNM_PATHNAME) == 0) return true;
        auto slash = p.find('/');
        if (slash == std::string::npos) return false;
        p = p.substr(slash + 1);
      }
    }
    auto mid = pattern.find("/**/");
    if (mid != std::string::npos) {
      // "a/**/b" matches a/b, a/x/b, a/x/y/b: zero or more directories in between.
      std::string head = pattern.substr(0, mid), tail = pattern.substr(mid + 4);
      if (fnmatch((head + "/" + tail).c_str(), rel_path.c_str(), FNM_PATHNAME) == 0) return true;
      std::string p = rel_path;
      auto slash = p.find('/');
      if (slash == std::string::npos || fnmatch(head.c_str(), p.substr(0, slash).c_str(), FNM_PATHNAME) != 0) {
        // head may span several components
        for (std::size_t cut = p.find('/'); cut != std::string::npos; cut = p.find('/', cut + 1)) {
          if (fnmatch(head.c_str(), p.substr(0, cut).c_str(), FNM_PATHNAME) != 0) continue;
          std::string rest = p.substr(cut + 1);
          while (true) {
            if (ignore_pattern_matches("/" + tail, rest, is_dir)) return true;
            auto s2 = rest.find('/');
            if (s2 == std::string::npos) break;
            rest = rest.substr(s2 + 1);
          }
        }
        return false;
      }
      std::string rest = p.substr(slash + 1);
      while (true) {
        if (ignore_pattern_matches("/" + tail, rest, is_dir)) return true;
        auto s2 = rest.find('/');
        if (s2 == std::string::npos) return false;
        rest = rest.substr(s2 + 1);
      }
    }
    if (pattern.size() > 3 && pattern.compare(pattern.size() - 3, 3, "/**") == 0) {
      std::string prefix = pattern.substr(0, pattern.size() - 3);
      return fnmatch((prefix + "/*").c_str(), rel_path.c_str(), 0) == 0;
    }
    return fnmatch(pattern.c_str(), rel_path.c_str(), FNM_PATHNAME) == 0;
  }
  // No slash: matches the last component at any depth.
  auto slash = rel_path.rfind('/');
  std::string base = slash == std::string::npos ? rel_path : rel_path.substr(slash + 1);
  return fnmatch(pattern.c_str(), base.c_str(), 0) == 0;
}

namespace {

struct IgnoreRules {
  std::vector<std::pair<std::string, bool>> rules;  // pattern, negated

  bool ignored(const std::string& rel, bool is_dir) const {
    bool out = false;
    for (const auto& [p, neg] : rules)
      if (ignore_pattern_matches(p, rel, is_dir)) out = !neg;
    return out;
  }
};

IgnoreRules read_confignore(const fs::path& root) {
  IgnoreRules r;
  std::ifstream in(root / ".confignore");
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    bool neg = line[0] == '!';
    if (neg) line.erase(0, 1);
    r.rules.emplace_back(line, neg);
  }
  return r;
}

bool is_yaml(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yml" || ext == ".yaml";
}

}  // namespace

std::vector<std::string> workflow_files_in(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::path root(dir);
  if (!fs::is_directory(root, ec)) return out;
  IgnoreRules rules = read_confignore(root);
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    std::string rel = fs::relative(p, root, ec).generic_string();
    bool is_dir = it->is_directory(ec);
    if (rules.ignored(rel, is_dir)) {
      if (is_dir) it.disable_recursion_pending();
      continue;
    }
    // Only regular files: a FIFO or device named *.yml would hang or flood the reader.
    if (!is_dir && is_yaml(p) && it->is_regular_file(ec)) out.push_back(p.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Catalog Catalog::load(const std::vector<std::string>& dirs, DiagnosticList& diags) {
  Catalog c;
  for (const auto& d : dirs)
    for (const auto& f : workflow_files_in(d)) c.add_file(load_workflow_file(f, diags), diags);
  return c;
}

void Catalog::add_file(WorkflowFile f, DiagnosticList& diags) {
  for (const auto& w : f.workflows) {
    for (const auto& other : files_)
      for (const auto& ow : other.workflows)
        if (ow.name == w.name) {
          if (other.path == f.path) continue;
          diags.error(w.pos, "workflow '" + w.name + "' is defined twice: in " + other.path + ":" +
                                 std::to_string(ow.pos.line) + " and in " + f.path + ":" +
                                 std::to_string(w.pos.line));
        }
  }
  for (const auto& other : files_)
    if (other.path == f.path) return;  // the same file given twice
  files_.push_back(std::move(f));
}

const Workflow* Catalog::find(const std::string& name) const {
  for (const auto& f : files_)
    for (const auto& w : f.workflows)
      if (w.name == name) return &w;
  return nullptr;
}

std::vector<std::string> Catalog::names() const {
  std::vector<std::string> out;
  for (const auto& f : files_)
    for (const auto& w : f.workflows) out.push_back(w.name);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

const WorkflowFile* Catalog::file_of(const Workflow& w) const {
  for (const auto& f : files_)
    for (const auto& x : f.workflows)
      if (&x == &w) return &f;
  return nullptr;
}

}  // namespace wf
