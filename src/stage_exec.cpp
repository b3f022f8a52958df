#include "stage_exec.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "wf/scheduler.hpp"

namespace wf {

namespace {
// Words separated by white space (as `istringstream >> word` in the C locale splits them).
std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && space(s[i])) ++i;
    std::size_t start = i;
    while (i < s.size() && !space(s[i])) ++i;
    if (i > start) out.emplace_back(s, start, i - start);
  }
  return out;
}
}  // namespace

ShellCommand shell_command(const std::string& shell_in, const std::string& script, const std::string& script_file) {
  // FORMAT §6: the script is written to a file and run from it, so that templated values
  // (secrets among them) never show in `ps` and $0 names the script.
  (void)script;
  const bool inline_ok = false;
  std::string shell = shell_in.empty() ? "bash" : shell_in;
  ShellCommand c;
  if (shell.find("{0}") != std::string::npos) {
    for (auto w : split_words(shell)) {
      auto p = w.find("{0}");
      if (p != std::string::npos) w.replace(p, 3, script_file);
      c.argv.push_back(w);
    }
    c.needs_file = true;
    return c;
  }
  auto words = split_words(shell);
  const std::string prog = words.empty() ? "bash" : words[0];
  std::string base = prog.substr(prog.rfind('/') == std::string::npos ? 0 : prog.rfind('/') + 1);
  if (words.size() == 1 && base == "bash") {
    c.argv = {prog, "--noprofile", "--norc", "-eo", "pipefail"};
  } else if (words.size() == 1 && (base == "sh" || base == "dash")) {
    c.argv = {prog, "-e"};
  } else if (words.size() == 1 && (base == "python3" || base == "python")) {
    c.argv = {prog};
  } else {
    c.argv = words;
    c.argv.push_back(script_file);
    c.needs_file = true;
    return c;
  }
  if (inline_ok) {
    c.argv.push_back("-c");
    c.argv.push_back(script);
  } else {
    c.argv.push_back(script_file);
    c.needs_file = true;
  }
  return c;
}

std::vector<std::string> env_list(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) {
    std::string& kv = out.emplace_back();
    kv.reserve(k.size() + 1 + v.size());
    kv.append(k).append(1, '=').append(v);
  }
  return out;
}

std::vector<const char*> env_pointers(const std::map<std::string, std::string>& base,
                                      const std::vector<std::string>& base_kv,
                                      const std::map<std::string, std::string>& overlay,
                                      const std::vector<std::string>& overlay_kv) {
  std::vector<const char*> out;
  out.reserve(base.size() + overlay.size());
  auto b = base.begin();
  auto o = overlay.begin();
  std::size_t bi = 0, oi = 0;
  while (b != base.end() || o != overlay.end()) {
    if (o == overlay.end() || (b != base.end() && b->first < o->first)) {
      out.push_back(base_kv[bi++].c_str());
      ++b;
    } else {
      if (b != base.end() && b->first == o->first) {  // the overlay wins
        ++b;
        ++bi;
      }
      out.push_back(overlay_kv[oi++].c_str());
      ++o;
    }
  }
  return out;
}

std::map<std::string, std::string> env_map(const std::vector<std::string>& env) {
  std::map<std::string, std::string> out;
  for (const auto& kv : env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    out.emplace(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return out;
}

std::vector<std::string> last_lines(const std::string& text, std::size_t n) {
  std::vector<std::string> lines;
  std::size_t end = text.size();
  while (end > 0 && (text[end - 1] == '\n' || text[end - 1] == '\r')) --end;
  while (end > 0 && lines.size() < n) {
    std::size_t start = text.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.insert(lines.begin(), line);
    if (start == 0) break;
    end = start - 1;
  }
  return lines;
}

Json parse_output_file(const std::string& text) {
  Json out = Json::object();
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto heredoc = line.find("<<");
    auto eq = line.find('=');
    if (heredoc != std::string::npos && (eq == std::string::npos || heredoc < eq)) {
      std::string key = line.substr(0, heredoc);
      std::string delim = line.substr(heredoc + 2);
      std::string value;
      bool first = true;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == delim) break;
        if (!first) value += "\n";
        value += line;
        first = false;
      }
      if (!key.empty()) out[key] = value;
      continue;
    }
    if (eq == std::string::npos || eq == 0) continue;
    out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

namespace {
// Where a run's directory is made: $TMPDIR when set; else $XDG_RUNTIME_DIR and /dev/shm; then
// /tmp. `every`: all of them whatever $TMPDIR is, for recovery (a run killed under cron's
// environment is often recovered from a shell whose $TMPDIR is set, or the other way round).
std::vector<std::string> run_temp_roots(bool every) {
  std::vector<std::string> roots;
  auto add = [&roots](const char* dir) {
    if (dir && *dir && std::find(roots.begin(), roots.end(), dir) == roots.end()) roots.push_back(dir);
  };
  const char* tmpdir = ::getenv("TMPDIR");
  add(tmpdir);
  if (every || !tmpdir || !*tmpdir) {
    if (const char* x = ::getenv("XDG_RUNTIME_DIR"); x && *x == '/') add(x);
    add("/dev/shm");
  }
  add("/tmp");
  return roots;
}

// Run ids name directories: only ids made of these characters are used in a path.
bool plain_id(const std::string& id) {
  return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
  });
}
}  // namespace

std::string make_run_temp_dir(const std::string& run_id) {
  int err = 0;
  for (const auto& root : run_temp_roots(false)) {
    if (plain_id(run_id)) {
      std::string named = root + "/wf-run-" + run_id;
      if (::mkdir(named.c_str(), 0700) == 0) return named;
    }
    std::string pattern = root + "/wf-run-XXXXXX";
    if (::mkdtemp(pattern.data())) {
      // The name does not say whose it is: a marker does, for crash recovery.
      if (plain_id(run_id)) {
        int fd = ::open((pattern + "/.wf-run-" + run_id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
      }
      return pattern;
    }
    if (err == 0) err = errno;
  }
  errno = err;
  return {};
}

namespace {
// Empties and removes `dir` if it is a real directory (not a link) of this user.
void remove_own_dir(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") ::unlinkat(::dirfd(d), name.c_str(), 0);
    }
    ::closedir(d);
  }
  ::rmdir(dir.c_str());
}
}  // namespace

void remove_run_temp_dir(const std::string& run_id, const std::string& recorded) {
  if (!plain_id(run_id)) return;
  const std::string own_name = "wf-run-" + run_id;
  if (!recorded.empty() && recorded.front() == '/') {
    // Only a directory that is the run's by its name or its marker: the state file is not
    // trusted to name any directory to delete.
    const std::string base = recorded.substr(recorded.find_last_of('/') + 1);
    struct stat st;
    if (base == own_name ||
        (base.rfind("wf-run-", 0) == 0 && ::lstat((recorded + "/." + own_name).c_str(), &st) == 0 &&
         S_ISREG(st.st_mode)))
      remove_own_dir(recorded);
  }
  for (const auto& root : run_temp_roots(true)) remove_own_dir(root + "/" + own_name);
}

// The whole file (as an ifstream would read it); nothing when it cannot be opened.
std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

// Creates or truncates `path` (mode 0666 less the umask, as an ofstream) with `text`.
bool write_file(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  return ::close(fd) == 0 && done == text.size();
}

}  // namespace wf
