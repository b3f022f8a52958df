// Children started with vfork+exec (launch) and the single ppoll loop that owns them.
//
// Life of a child: spawned into its own process group with stdout/stderr on non-blocking
// pipes; its exit is noticed with waitid(WNOWAIT), which leaves it a zombie so its pid (and
// so its process group id) cannot be reused while we still signal the group; then its pipes
// get a short drain window (a background `sleep 100 &` may hold them open forever); then
// the group is SIGKILLed, the pipes closed and the zombie reaped.
#include "wf/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <iterator>
#include <optional>
#include <unordered_map>
#include <utility>

#include "wf/proc.hpp"
#include "wf/signals.hpp"

namespace wf {
namespace {

using Clock = std::chrono::steady_clock;

// How long the pipes of an exited child may stay open before its group is killed.
constexpr auto kDrainWindow = std::chrono::milliseconds(100);
// Upper bound on a sleep when no SIGCHLD will wake us (handlers not installed, or a child
// closed its pipes and its exit is imminent).
constexpr auto kReapPollInterval = std::chrono::milliseconds(50);
// Reads per stream per wake, so one chatty child cannot starve the others.
constexpr int kMaxReadsPerWake = 16;
constexpr const char* kDefaultPath = "/bin:/usr/bin";  // as execvp without PATH

std::string error_text(int err) {
  const char* text = strerrordesc_np(err);
  return text ? text : "error " + std::to_string(err);
}

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

// A pipe end of the parent plus everything read from it.
struct Stream {
  UniqueFd fd;
  std::string data;
  std::size_t line_start = 0;  // first byte not yet delivered as part of a line
};

struct Child {
  ProcessId id = 0;
  pid_t pid = 0;  // also the process group id
  std::int64_t start_ticks = 0;  // as /proc/PID/stat field 22
  Stream out;
  Stream err;
  SteadyTime start;
  std::optional<SteadyTime> deadline;
  std::optional<SteadyTime> kill_at;      // SIGKILL due (a SIGTERM went first)
  std::optional<SteadyTime> drain_until;  // set when the exit is seen
  SteadyTime exit_time;
  bool exited = false;
  bool gone = false;  // reaped by someone else (SIGCHLD ignored): never signal its pid
  int exit_code = -1;
  int term_signal = 0;
  bool term_sent = false;
  bool kill_sent = false;
  bool timed_out = false;
  bool cancelled = false;

  bool pipes_closed() const { return !out.fd && !err.fd; }
};

struct ResolvedCommand {
  std::string path;
  int error = 0;
};

bool is_executable_file(const std::string& path, int& error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == EACCES) error = EACCES;
    return false;
  }
  if (S_ISDIR(st.st_mode) || ::faccessat(AT_FDCWD, path.c_str(), X_OK, AT_EACCESS) != 0) {
    error = EACCES;
    return false;
  }
  return true;
}

// The PATH a child gets.
std::string_view search_path(const std::vector<char*>& envp) {
  for (const char* entry : envp) {
    if (entry == nullptr) break;
    if (std::strncmp(entry, "PATH=", 5) == 0) return entry + 5;
  }
  return kDefaultPath;
}

// execvp's search, but over the child's PATH and relative to the child's cwd.
ResolvedCommand resolve_command(const std::string& name, std::string_view path, const std::string& cwd) {
  if (name.empty()) return {{}, ENOENT};
  if (name.find('/') != std::string::npos) return {name, 0};
  int error = ENOENT;
  std::string candidate;
  std::string probe;
  for (std::size_t begin = 0;;) {
    const std::size_t end = std::min(path.find(':', begin), path.size());
    std::string_view dir = path.substr(begin, end - begin);
    if (dir.empty()) dir = ".";
    candidate.assign(dir).append("/").append(name);
    const std::string* checked = &candidate;
    if (candidate.front() != '/' && !cwd.empty()) {
      probe.assign(cwd).append("/").append(candidate);
      checked = &probe;
    }
    // The spawn chdirs first, so a relative candidate resolves against cwd there too.
    if (is_executable_file(*checked, error)) return {candidate, 0};
    if (end == path.size()) break;
    begin = end + 1;
  }
  return {{}, error};
}

// Moves a pipe end off fds 0-2 (only possible when wf runs with closed stdio), where the
// child's dup2s onto 0, 1 and 2 would clobber it before it is used.
bool lift_above_stdio(UniqueFd& fd) {
  if (fd.get() > 2) return true;
  const int lifted = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (lifted < 0) return false;
  fd = UniqueFd(lifted);
  return true;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

timespec to_timespec(std::chrono::nanoseconds d) {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(d);
  return timespec{static_cast<time_t>(secs.count()), static_cast<long>((d - secs).count())};
}

// What the child does between vfork and exec; everything is prepared by the parent, so
// that the child only makes system calls.
struct ChildSetup {
  const char* path;
  char* const* argv;
  char* const* envp;
  const char* stdin_path;
  int stdin_fd;  // >= 0: an open /dev/null to use instead of opening stdin_path
  const int* reset_signals;  // the signals whose action is not the default in the parent
  int reset_count;
  int out_fd;
  int err_fd;
  const char* cwd;  // null: stay
  volatile int error;  // set by the child when it cannot exec (the memory is shared)
};

// The child side: default signal actions and an empty mask (as exec leaves them for a fresh
// program, and what it inherits otherwise: an ignored SIGPIPE), its own process group, stdin
// from `stdin_path`, stdout/stderr on the pipes, the working directory, nothing else open.
// Only the signals in `reset_signals` are set back to the default: every other one already
// is (each sigaction costs the parent, which waits, ~0.3 us; all 62 were ~15 us a spawn).
[[noreturn]] void exec_child(ChildSetup& setup) {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int i = 0; i < setup.reset_count; ++i) ::sigaction(setup.reset_signals[i], &dfl, nullptr);
  int fd = -1;
  if (::setpgid(0, 0) != 0) goto fail;
  if (setup.stdin_fd >= 0) {
    if (::dup2(setup.stdin_fd, 0) < 0) goto fail;
  } else {
    fd = ::open(setup.stdin_path, O_RDONLY);
    if (fd < 0) goto fail;
    if (fd != 0 && (::dup2(fd, 0) < 0 || ::close(fd) != 0)) goto fail;
  }
  if (::dup2(setup.out_fd, 1) < 0 || ::dup2(setup.err_fd, 2) < 0) goto fail;
  if (setup.cwd && ::chdir(setup.cwd) != 0) goto fail;
  ::close_range(3, ~0U, 0);  // the pipes are close-on-exec as well, should this fail
  {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  ::execve(setup.path, setup.argv, setup.envp);
fail:
  setup.error = errno != 0 ? errno : ENOEXEC;
  ::_exit(127);
}

// Starts the child with vfork, as posix_spawn does, without what posix_spawn adds per call (a
// fresh stack mapping for the child, file-action lists, descriptor-limit lookups). The parent
// resumes once the child has exec'd or given up. Returns the pid, or -1 with the error.
pid_t launch(ChildSetup& setup, int& error) {
  sigset_t all, old;
  sigfillset(&all);
  // No handler of ours may run in the child, which shares our memory until it execs.
  ::pthread_sigmask(SIG_BLOCK, &all, &old);
  setup.error = 0;
  const pid_t pid = ::vfork();
  if (pid == 0) exec_child(setup);
  const int vfork_error = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) {
    error = vfork_error;
    return -1;
  }
  if (setup.error != 0) {
    error = setup.error;
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return -1;
  }
  return pid;
}

}  // namespace

struct ProcessSet::Impl {
  std::chrono::milliseconds kill_grace;
  LineCallback on_line;
  ProcessId next_id = 1;
  std::vector<std::unique_ptr<Child>> children;  // spawn order
  std::vector<ProcessExit> failed_spawns;        // delivered by the next wait()
  unsigned long seen_child_signals = 0;
  std::vector<pollfd> pollfds;                            // reused each round
  std::vector<std::pair<Child*, StreamKind>> poll_owners;  // parallel to pollfds
  char buffer[64 * 1024];
  std::unordered_map<std::string, std::string> resolved;  // name, PATH, cwd -> program

  // Signals whose action is not the default, for the child to reset (see signals_to_reset).
  std::optional<std::vector<int>> reset_signals;
  UniqueFd dev_null;  // every child's stdin unless the stage gives one; opened once

  explicit Impl(std::chrono::milliseconds grace) : kill_grace(grace) {}

  // Which signals a child must set back to the default before exec (a handler would run in
  // the child while it still shares our memory; an ignored signal would stay ignored after
  // exec). Read once per set: what wf inherited as ignored cannot change except by wf, and wf
  // changes only kSignalsWfSets, which are always included.
  const std::vector<int>& signals_to_reset() {
    if (reset_signals) return *reset_signals;
    std::vector<int> sigs;
    for (int sig = 1; sig < NSIG; ++sig) {
      if (sig == SIGKILL || sig == SIGSTOP) continue;
      struct sigaction now {};
      if (::sigaction(sig, nullptr, &now) != 0) continue;  // glibc's own: EINVAL
      const bool wf_sets = std::find(std::begin(kSignalsWfSets), std::end(kSignalsWfSets), sig) !=
                           std::end(kSignalsWfSets);
      if (wf_sets || (now.sa_flags & SA_SIGINFO) != 0 || now.sa_handler != SIG_DFL) sigs.push_back(sig);
    }
    return reset_signals.emplace(std::move(sigs));
  }

  // /dev/null, opened once and kept above 0-2 (where the child's dup2 would clobber it).
  int dev_null_fd() {
    if (!dev_null) {
      UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (fd && lift_above_stdio(fd)) dev_null = std::move(fd);
    }
    return dev_null ? dev_null.get() : -1;
  }

  ~Impl() {
    for (auto& child : children) {
      if (child->gone) continue;
      ::kill(-child->pid, SIGKILL);
      while (::waitpid(child->pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }

  ProcessId fail_spawn(ProcessId id, std::string message) {
    ProcessExit exit;
    exit.id = id;
    exit.spawn_error = "failed to start: " + std::move(message);
    failed_spawns.push_back(std::move(exit));
    return id;
  }

  ProcessId spawn(ProcessId id, const SpawnSpec& spec) {
    if (spec.argv.empty()) return fail_spawn(id, "empty command");
    const std::string& name = spec.argv.front();
    std::vector<char*> envp;
    if (spec.envp.empty()) {
      envp = c_strings(spec.env);
    } else {
      envp.reserve(spec.envp.size() + 1);
      for (const char* kv : spec.envp) envp.push_back(const_cast<char*>(kv));
      envp.push_back(nullptr);
    }
    // Commands found on the PATH are looked up once per PATH and directory: a stage of
    // `sh` would otherwise stat every PATH entry before it again.
    const std::string_view path = search_path(envp);
    std::string cache_key;
    const std::string* cached = nullptr;
    if (name.find('/') == std::string::npos) {
      cache_key.reserve(name.size() + path.size() + spec.cwd.size() + 2);
      cache_key.append(name).append(1, '\0').append(path).append(1, '\0').append(spec.cwd);
      if (auto it = resolved.find(cache_key); it != resolved.end()) cached = &it->second;
    }
    ResolvedCommand command;
    if (cached) {
      command.path = *cached;
    } else {
      command = resolve_command(name, path, spec.cwd);
      if (command.error != 0) return fail_spawn(id, name + ": " + error_text(command.error));
      if (!cache_key.empty()) resolved.emplace(std::move(cache_key), command.path);
    }

    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail_spawn(id, "pipe: " + error_text(errno));
    UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail_spawn(id, "pipe: " + error_text(errno));
    UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
    if (!lift_above_stdio(out_write) || !lift_above_stdio(err_write))
      return fail_spawn(id, "pipe: " + error_text(errno));
    // Only our ends are non-blocking; the child's must block as usual.
    ::fcntl(out_read.get(), F_SETFL, O_NONBLOCK);
    ::fcntl(err_read.get(), F_SETFL, O_NONBLOCK);

    std::vector<char*> argv = c_strings(spec.argv);
    const std::vector<int>& reset = signals_to_reset();
    ChildSetup setup{command.path.c_str(), argv.data(), envp.data(),
                     spec.stdin_path.empty() ? "/dev/null" : spec.stdin_path.c_str(),
                     spec.stdin_path.empty() ? dev_null_fd() : -1,
                     reset.data(), static_cast<int>(reset.size()),
                     out_write.get(), err_write.get(), spec.cwd.empty() ? nullptr : spec.cwd.c_str(), 0};
    int rc = 0;
    auto start_it = [&]() -> pid_t {
      setup.path = command.path.c_str();
      int error = 0;
      const pid_t started = launch(setup, error);
      rc = started < 0 ? error : 0;
      return started;
    };
    // Allocate before the child exists: once it does, nothing may throw and lose it.
    auto child = std::make_unique<Child>();
    children.reserve(children.size() + 1);
    pid_t pid = 0;
    auto start = Clock::now();
    const std::int64_t ticks_before = boot_clock_ticks();
    pid = start_it();
    if (rc != 0 && cached) {
      // The program found earlier is gone: search the PATH again.
      resolved.erase(cache_key);
      cached = nullptr;
      ResolvedCommand again = resolve_command(name, path, spec.cwd);
      if (again.error == 0 && again.path != command.path) {
        command = std::move(again);
        pid = start_it();
        if (rc == 0) resolved.emplace(cache_key, command.path);
      }
    }
    if (rc != 0) {
      // The chdir happens in the child too; tell a bad directory from a bad command.
      if (!spec.cwd.empty()) {
        struct stat st;
        int dir_error = 0;
        if (::stat(spec.cwd.c_str(), &st) != 0) {
          dir_error = errno;
        } else if (!S_ISDIR(st.st_mode)) {
          dir_error = ENOTDIR;
        } else if (::faccessat(AT_FDCWD, spec.cwd.c_str(), X_OK, AT_EACCESS) != 0) {
          dir_error = errno;
        }
        if (dir_error != 0)
          return fail_spawn(
              id, "cannot change directory to " + spec.cwd + ": " + error_text(dir_error));
      }
      return fail_spawn(id, name + ": " + error_text(rc));
    }

    // The kernel stamps the child's start time during the spawn: when the clock did not tick
    // meanwhile, that is it; else ask /proc.
    const std::int64_t ticks_after = boot_clock_ticks();
    child->start_ticks = ticks_before == ticks_after && ticks_before >= 0 ? ticks_before : process_start_ticks(pid);
    child->id = id;
    child->pid = pid;
    child->start = start;
    child->deadline = spec.deadline;
    child->out.fd = std::move(out_read);
    child->err.fd = std::move(err_read);
    children.push_back(std::move(child));
    return id;
  }

  void signal_group(Child& child, int sig) {
    if (!child.gone) ::kill(-child.pid, sig);
  }

  void kill_now(Child& child) {
    signal_group(child, SIGKILL);
    child.kill_sent = true;
    child.kill_at.reset();
  }

  void terminate(Child& child, SteadyTime now, bool immediate) {
    if (immediate || kill_grace.count() <= 0) {
      kill_now(child);
      return;
    }
    if (child.term_sent || child.kill_sent) return;
    signal_group(child, SIGTERM);
    child.term_sent = true;
    child.kill_at = now + kill_grace;
  }

  void cancel(Child& child, bool immediate, SteadyTime now) {
    if (child.exited) {
      // It ended on its own; only its leftovers are still being drained.
      if (immediate) child.drain_until = now;
      return;
    }
    if (!child.timed_out) child.cancelled = true;
    terminate(child, now, immediate);
  }

  void fire_timers(SteadyTime now) {
    for (auto& c : children) {
      Child& child = *c;
      if (child.exited) continue;
      if (child.deadline && !child.term_sent && !child.kill_sent && now >= *child.deadline) {
        if (!child.cancelled) child.timed_out = true;
        terminate(child, now, false);
      }
      if (child.kill_at && !child.kill_sent && now >= *child.kill_at) kill_now(child);
    }
  }

  // Notes exits without reaping: the zombie keeps the pid, and so the group id, ours.
  void reap(SteadyTime now) {
    for (auto& c : children) {
      Child& child = *c;
      if (child.exited) continue;
      siginfo_t info{};
      int rc;
      do {
        rc = ::waitid(P_PID, static_cast<id_t>(child.pid), &info, WEXITED | WNOHANG | WNOWAIT);
      } while (rc != 0 && errno == EINTR);
      if (rc == 0 && info.si_pid == 0) continue;  // still running
      child.exited = true;
      child.exit_time = now;
      child.drain_until = now + kDrainWindow;
      if (rc != 0) {
        child.gone = true;  // ECHILD: reaped behind our back, status unknown
      } else if (info.si_code == CLD_EXITED) {
        child.exit_code = info.si_status;
      } else {
        child.term_signal = info.si_status;
      }
    }
  }

  void deliver_lines(ProcessId id, StreamKind kind, Stream& stream, std::size_t from) {
    const char* data = stream.data.data();
    const std::size_t size = stream.data.size();
    std::size_t pos = std::max(from, stream.line_start);
    while (pos < size) {
      const void* nl = std::memchr(data + pos, '\n', size - pos);
      if (!nl) break;
      const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - data);
      const std::string_view line(data + stream.line_start, end - stream.line_start);
      if (on_line) on_line(id, kind, line);
      stream.line_start = end + 1;
      pos = end + 1;
    }
  }

  void close_stream(ProcessId id, StreamKind kind, Stream& stream) {
    stream.fd.reset();
    if (stream.line_start < stream.data.size()) {
      const std::size_t start = stream.line_start;
      stream.line_start = stream.data.size();
      if (on_line) on_line(id, kind, std::string_view(stream.data).substr(start));
    }
  }

  enum class ReadResult { Drained, More, Closed };

  // Reads what is there without blocking, a bounded amount; closes the stream at EOF or on
  // error. More: the cap was hit before the pipe ran dry.
  ReadResult read_stream(Child& child, StreamKind kind) {
    Stream& stream = kind == StreamKind::Stdout ? child.out : child.err;
    for (int i = 0; i < kMaxReadsPerWake; ++i) {
      const ssize_t n = ::read(stream.fd.get(), buffer, sizeof buffer);
      if (n > 0) {
        const std::size_t old_size = stream.data.size();
        stream.data.append(buffer, static_cast<std::size_t>(n));
        deliver_lines(child.id, kind, stream, old_size);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return ReadResult::Drained;
      close_stream(child.id, kind, stream);
      return ReadResult::Closed;
    }
    return ReadResult::More;
  }

  ProcessExit finish(Child& child) {
    // Leftovers of the group die with it; the unreaped leader keeps the group id valid.
    signal_group(child, SIGKILL);
    for (StreamKind kind : {StreamKind::Stdout, StreamKind::Stderr}) {
      Stream& stream = kind == StreamKind::Stdout ? child.out : child.err;
      // Take what is already in the pipe; a writer outside the group could go on forever.
      for (int round = 0; stream.fd && round < 4; ++round) {
        if (read_stream(child, kind) != ReadResult::More) break;
      }
      if (stream.fd) close_stream(child.id, kind, stream);
    }
    if (!child.gone) {
      while (::waitpid(child.pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    ProcessExit exit;
    exit.id = child.id;
    exit.exit_code = child.exit_code;
    exit.term_signal = child.term_signal;
    exit.timed_out = child.timed_out;
    exit.cancelled = child.cancelled;
    exit.out = std::move(child.out.data);
    exit.err = std::move(child.err.data);
    exit.elapsed = child.exit_time - child.start;
    return exit;
  }

  void collect_finished(SteadyTime now, std::vector<ProcessExit>& results) {
    std::size_t keep = 0;
    for (std::size_t i = 0; i < children.size(); ++i) {
      Child& child = *children[i];
      if (child.exited && (child.pipes_closed() || now >= *child.drain_until)) {
        results.push_back(finish(child));
        continue;
      }
      if (keep != i) children[keep] = std::move(children[i]);
      ++keep;
    }
    children.resize(keep);
  }

  // The time the loop must wake up at even if nothing happens.
  std::optional<SteadyTime> next_wakeup(SteadyTime now, std::optional<SteadyTime> until) const {
    std::optional<SteadyTime> next = until;
    auto consider = [&next](SteadyTime t) {
      if (!next || t < *next) next = t;
    };
    bool poll_for_exits = !signal_handlers_installed();
    for (const auto& c : children) {
      const Child& child = *c;
      if (child.exited) {
        consider(*child.drain_until);
        continue;
      }
      if (child.deadline && !child.term_sent && !child.kill_sent) consider(*child.deadline);
      if (child.kill_at && !child.kill_sent) consider(*child.kill_at);
      // Exit is imminent; do not bet everything on SIGCHLD reaching this thread.
      if (child.pipes_closed()) poll_for_exits = true;
    }
    if (poll_for_exits) consider(now + kReapPollInterval);
    return next;
  }

  // One ppoll round; returns whether an exit check is due.
  bool poll_once(SteadyTime now, std::optional<SteadyTime> wake) {
    pollfds.clear();
    poll_owners.clear();
    for (auto& c : children) {
      if (c->out.fd) {
        pollfds.push_back({c->out.fd.get(), POLLIN, 0});
        poll_owners.emplace_back(c.get(), StreamKind::Stdout);
      }
      if (c->err.fd) {
        pollfds.push_back({c->err.fd.get(), POLLIN, 0});
        poll_owners.emplace_back(c.get(), StreamKind::Stderr);
      }
    }
    timespec timeout{};
    if (wake) timeout = to_timespec(*wake - now);
    const int ready = ::ppoll(pollfds.data(), pollfds.size(), wake ? &timeout : nullptr,
                              wait_sigmask());
    bool closed_any = false;
    if (ready > 0) {
      for (std::size_t i = 0; i < pollfds.size(); ++i) {
        if (pollfds[i].revents == 0) continue;
        auto [child, kind] = poll_owners[i];
        closed_any |= read_stream(*child, kind) == ReadResult::Closed;
      }
    }
    return ready == 0 || closed_any || !signal_handlers_installed();
  }

  std::vector<ProcessExit> wait(std::optional<SteadyTime> until) {
    std::vector<ProcessExit> results = std::move(failed_spawns);
    failed_spawns.clear();
    const int interrupts_at_entry = interrupt_count();
    const int cancels_at_entry = cancel_request_count();
    bool check_exits = true;
    bool polled = false;
    for (;;) {
      // Read the counter before reaping, so a SIGCHLD during the reap is not missed.
      const unsigned long child_signals = child_signal_count();
      if (child_signals != seen_child_signals) {
        seen_child_signals = child_signals;
        check_exits = true;
      }
      SteadyTime now = Clock::now();
      if (check_exits) reap(now);
      check_exits = false;
      fire_timers(now);
      collect_finished(now, results);
      if (!results.empty() || children.empty()) return results;
      if (interrupt_count() != interrupts_at_entry || cancel_request_count() != cancels_at_entry) return results;
      if (polled && until && now >= *until) return results;
      check_exits = poll_once(now, next_wakeup(now, until));
      polled = true;
    }
  }
};

ProcessSet::ProcessSet(std::chrono::milliseconds kill_grace)
    : impl_(std::make_unique<Impl>(kill_grace)) {}

ProcessSet::~ProcessSet() = default;

void ProcessSet::set_line_callback(LineCallback cb) { impl_->on_line = std::move(cb); }

void ProcessSet::set_kill_grace(std::chrono::milliseconds grace) { impl_->kill_grace = grace; }

ProcessId ProcessSet::spawn(const SpawnSpec& spec) {
  const ProcessId id = impl_->next_id++;
  try {
    return impl_->spawn(id, spec);
  } catch (const std::exception& e) {  // allocation failures; never let them escape
    try {
      return impl_->fail_spawn(id, e.what());
    } catch (...) {
      return id;
    }
  }
}

std::vector<ProcessExit> ProcessSet::wait(std::optional<SteadyTime> until) {
  return impl_->wait(until);
}

void ProcessSet::cancel(ProcessId id, bool immediate) {
  const SteadyTime now = Clock::now();
  for (auto& child : impl_->children) {
    if (child->id == id) {
      impl_->cancel(*child, immediate, now);
      return;
    }
  }
}

void ProcessSet::cancel_all(bool immediate) {
  const SteadyTime now = Clock::now();
  for (auto& child : impl_->children) impl_->cancel(*child, immediate, now);
}

std::int64_t ProcessSet::start_ticks(ProcessId id) const {
  for (const auto& child : impl_->children)
    if (child->id == id) return child->start_ticks;
  return 0;
}

int ProcessSet::os_pid(ProcessId id) const {
  for (const auto& child : impl_->children)
    if (child->id == id) return static_cast<int>(child->pid);
  return 0;
}

std::size_t ProcessSet::running() const {
  return impl_->children.size() + impl_->failed_spawns.size();
}

}  // namespace wf
