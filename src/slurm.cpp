// Slurm jobs for stages: batch scripts, sbatch/squeue/sacct/scancel, and the output files.
//
// Life of a job: submit() writes `<base>.sh` and runs `sbatch --parsable`; the job's stdout
// and stderr go to `<base>.stdout`/`.stderr` (read incrementally on each poll); the script
// ends by renaming `<base>.exitcode.tmp` to `<base>.exitcode`, so a job whose exit code file
// exists is done (its command killed by a signal: Slurm is asked whether it ended the job).
// Jobs without one are looked up with one squeue call per poll; jobs squeue has purged, with
// one `sacct -c` call (the job completion log), then plain `sacct` for what that lacks.
#include "wf/slurm.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

extern char** environ;

namespace wf {

bool runs_on_slurm(const Json& runs_on) {
  if (runs_on.is_string()) return runs_on.get<std::string>() == "slurm";
  return runs_on.is_object() && runs_on.contains("type") && runs_on["type"] == "slurm";
}

const std::vector<std::string>& slurm_with_keys() {
  static const std::vector<std::string> keys = {"partition", "time", "cpus-per-task", "mem",
                                                "account",   "qos",  "extra-args"};
  return keys;
}

Result<std::vector<std::string>> sbatch_options(const Json& runs_on) {
  std::vector<std::string> args;
  if (!runs_on.is_object() || !runs_on.contains("with") || runs_on["with"].is_null()) return args;
  const Json& with = runs_on["with"];
  if (!with.is_object()) return Error("runs-on.with must be a map of sbatch options");
  const auto& keys = slurm_with_keys();
  std::vector<std::string> extra;
  for (const auto& key : keys) {
    // The ddeutil spelling with underscores means the same.
    std::string alt = key;
    std::replace(alt.begin(), alt.end(), '-', '_');
    const Json* v = with.contains(key) ? &with[key] : with.contains(alt) ? &with[alt] : nullptr;
    if (!v || v->is_null()) continue;
    if (key == "extra-args") {
      Json list = v->is_string() ? Json::array({*v}) : *v;
      if (!list.is_array()) return Error("runs-on.with.extra-args must be a list of sbatch arguments");
      for (const auto& a : list) {
        if (!a.is_string()) return Error("runs-on.with.extra-args must be a list of strings, got " + json_text(a));
        extra.push_back(a.get<std::string>());
      }
      continue;
    }
    std::string value;
    if (v->is_string()) value = v->get<std::string>();
    else if (v->is_number_integer() || v->is_number_unsigned()) value = std::to_string(v->get<long long>());
    else return Error("runs-on.with." + key + " must be a string or a whole number, got " + v->dump());
    if (value.empty()) return Error("runs-on.with." + key + " is empty");
    if (key == "cpus-per-task" &&
        (value.find_first_not_of("0123456789") != std::string::npos || std::stoll(value.substr(0, 9)) <= 0))
      return Error("runs-on.with.cpus-per-task must be a positive whole number, got " + value);
    args.push_back("--" + key + "=" + value);
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::string slurm_run_dir(const std::string& state_file, const std::string& run_id) {
  std::filesystem::path dir = std::filesystem::absolute(state_file).parent_path();
  return (dir / "slurm" / run_id).string();
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

namespace {

bool valid_env_name(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

}  // namespace

std::string slurm_batch_script(const SpawnSpec& spec, const SlurmFiles& files) {
  std::string ec = files.exitcode_path();
  std::string s = "#!/bin/sh\n";
  s += "# Written by wf: one stage as a Slurm batch job. Its exit status goes to\n# " + ec + "\n";
  for (const auto& kv : spec.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string name = kv.substr(0, eq);
    if (!valid_env_name(name)) continue;  // sh cannot export it (e.g. BASH_FUNC_f%%)
    s += "export " + name + "=" + shell_quote(std::string_view(kv).substr(eq + 1)) + "\n";
  }
  s += "wf_exit() {\n  printf '%s\\n' \"$1\" > " + shell_quote(ec + ".tmp") + " && mv -f " + shell_quote(ec + ".tmp") +
       " " + shell_quote(ec) + "\n  exit \"$1\"\n}\n";
  if (!spec.cwd.empty())
    s += "cd " + shell_quote(spec.cwd) + " 2>/dev/null || { echo \"wf: cannot change directory to \"" + shell_quote(spec.cwd) +
         " >&2; wf_exit 127; }\n";
  std::string cmd;
  for (const auto& a : spec.argv) cmd += (cmd.empty() ? "" : " ") + shell_quote(a);
  s += cmd + " < " + shell_quote(spec.stdin_path.empty() ? "/dev/null" : spec.stdin_path) + "\n";
  s += "wf_exit $?\n";
  return s;
}

std::string slurm_external_id(const std::string& job_id, const std::string& base) {
  return "slurm:" + job_id + ":" + base;
}

std::optional<SlurmRef> parse_slurm_external_id(std::string_view id) {
  constexpr std::string_view prefix = "slurm:";
  if (id.substr(0, prefix.size()) != prefix) return std::nullopt;
  id.remove_prefix(prefix.size());
  auto colon = id.find(':');
  if (colon == 0 || colon == std::string_view::npos || colon + 1 >= id.size()) return std::nullopt;
  SlurmRef r{std::string(id.substr(0, colon)), std::string(id.substr(colon + 1))};
  if (r.job_id.find_first_not_of("0123456789_") != std::string::npos) return std::nullopt;
  return r;
}

std::vector<SlurmJobState> parse_slurm_states(std::string_view text) {
  std::vector<SlurmJobState> rows;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? text.size() : nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    auto bar = line.find('|');
    if (line.empty() || bar == std::string_view::npos || bar == 0) continue;
    SlurmJobState st;
    st.job_id = std::string(line.substr(0, bar));
    std::string_view rest = line.substr(bar + 1);
    auto bar2 = rest.find('|');
    st.state = std::string(rest.substr(0, bar2));
    if (bar2 != std::string_view::npos) {
      std::string_view reason = rest.substr(bar2 + 1);
      if (auto bar3 = reason.find('|'); bar3 != std::string_view::npos) reason = reason.substr(0, bar3);
      st.reason = std::string(reason);
    }
    // sacct lists job steps too ("12.batch"); the job itself is what counts.
    if (st.job_id.find('.') != std::string::npos) continue;
    rows.push_back(std::move(st));
  }
  return rows;
}

std::string slurm_state_name(std::string_view state) {
  auto sp = state.find(' ');
  return std::string(state.substr(0, sp));
}

bool slurm_state_active(std::string_view state) {
  static const std::set<std::string, std::less<>> ended = {
      "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",       "NODE_FAIL", "PREEMPTED",
      "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED", "SPECIAL_EXIT"};
  return ended.count(slurm_state_name(state)) == 0;
}

namespace {

using Clock = std::chrono::steady_clock;

// How long one Slurm command may take before wf gives up on it (slurmctld not answering).
constexpr auto kCommandTimeout = std::chrono::seconds(60);
// How long a job may be unknown to squeue and sacct before wf says it is lost.
constexpr auto kMissingGrace = std::chrono::seconds(10);

struct CommandResult {
  int spawn_errno = 0;  // the command could not be started
  int status = -1;      // exit status, -1 if killed
  std::string out, err;
};

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Runs a Slurm command to its end, with stdout and stderr captured (both are small). The
// command is looked up in wf's PATH; `env` (if given) is its environment.
CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>* env = nullptr) {
  CommandResult r;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    r.spawn_errno = errno;
    return r;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    r.spawn_errno = errno;
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args = c_strings(argv);
  std::vector<char*> envp = env ? c_strings(*env) : std::vector<char*>();
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, args.data(), env ? envp.data() : environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    r.spawn_errno = rc;
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return r;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  auto deadline = Clock::now() + kCommandTimeout;
  int open = 2;
  char buf[8192];
  bool killed = false;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.status = !killed && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  if (killed) r.err += argv[0] + " did not answer within " + std::to_string(kCommandTimeout.count()) + " s";
  return r;
}

std::string missing_command_text(const std::string& name) {
  return name + " not found in PATH; runs-on slurm needs the Slurm client commands (sbatch, squeue, sacct, scancel)";
}

// One line of all stderr lines, "sbatch: error: " prefixes dropped after the first.
std::string one_line(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    for (const char* prefix : {"sbatch: error: ", "sbatch: "})
      if (line.rfind(prefix, 0) == 0) line.erase(0, std::strlen(prefix));
    if (line.empty()) continue;
    out += (out.empty() ? "" : "; ") + line;
  }
  return out;
}

std::string explain_end(const std::string& job_id, const std::string& state, const std::string& detail) {
  std::string name = slurm_state_name(state);
  std::string why;
  if (name == "TIMEOUT") why = " (it reached its Slurm time limit, runs-on.with.time)";
  else if (name == "NODE_FAIL") why = " (node failure)";
  else if (name == "OUT_OF_MEMORY") why = " (out of memory)";
  else if (name == "CANCELLED") why = " (cancelled outside wf, e.g. by scancel or an administrator)";
  else if (name == "PREEMPTED") why = " (preempted)";
  else if (name == "BOOT_FAIL") why = " (the node failed to boot)";
  else if (name == "DEADLINE") why = " (its deadline passed)";
  else if (name == "FAILED") why = " before the stage command ended";
  std::string msg = "Slurm job " + job_id + " ended " + state + why;
  if (!detail.empty()) msg += "; " + detail;
  return msg;
}

struct Stream {
  std::string path;
  off_t offset = 0;
  std::string partial;  // an incomplete last line
  std::string whole;
};

struct TrackedJob {
  ProcessId id = 0;
  std::string job_id;
  SlurmFiles files;
  std::optional<SteadyTime> deadline;
  SteadyTime submitted;
  SteadyTime start;
  bool started_running = false;
  bool cancel_sent = false;
  bool timed_out = false;
  std::optional<SteadyTime> missing_since;  // when squeue and sacct first did not know it
  std::string state, reason;  // last seen in squeue
  Stream out, err;
};

std::optional<int> read_exit_code(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  int code = 0;
  if (!(f >> code)) return std::nullopt;
  return code;
}

std::string join_ids(const std::vector<TrackedJob*>& jobs) {
  std::string s;
  for (const TrackedJob* j : jobs) s += (s.empty() ? "" : ",") + j->job_id;
  return s;
}

}  // namespace

std::map<std::string, std::string> slurm_job_states(const std::vector<std::string>& job_ids,
                                                    const SlurmCommands& commands) {
  std::map<std::string, std::string> states;
  if (job_ids.empty()) return states;
  std::string ids;
  for (const auto& id : job_ids) ids += (ids.empty() ? "" : ",") + id;
  CommandResult r = run_command({commands.squeue, "-h", "-t", "all", "-j", ids, "-o", "%i|%T|%r"});
  if (r.spawn_errno != 0) return states;
  for (const auto& st : parse_slurm_states(r.out)) states[st.job_id] = slurm_state_name(st.state);
  std::string missing;
  for (const auto& id : job_ids)
    if (!states.count(id)) missing += (missing.empty() ? "" : ",") + id;
  if (missing.empty()) return states;
  r = run_command({commands.sacct, "-c", "-n", "-P", "-j", missing, "-o", "JobID,State,ExitCode"});
  for (const auto& st : parse_slurm_states(r.out)) states.emplace(st.job_id, slurm_state_name(st.state));
  return states;
}

void scancel_jobs(const std::vector<std::string>& job_ids, const SlurmCommands& commands) {
  if (job_ids.empty()) return;
  std::vector<std::string> argv = {commands.scancel};
  argv.insert(argv.end(), job_ids.begin(), job_ids.end());
  run_command(argv);
}

struct SlurmSet::Impl {
  std::chrono::milliseconds interval;
  SlurmCommands cmd;
  LineCallback on_line;
  ProcessId next_id = kSlurmHandleBit | 1;
  std::vector<std::unique_ptr<TrackedJob>> jobs;
  std::vector<ProcessExit> failed;  // submissions that failed, delivered by the next poll()
  SteadyTime next_poll = Clock::now();

  // Reads what was appended to the stream's file; complete lines go to the callback.
  void read_stream(TrackedJob& j, Stream& s, StreamKind kind, bool final) {
    int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[65536];
      while (true) {
        ssize_t got = ::pread(fd, buf, sizeof buf, s.offset);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        s.offset += got;
        s.whole.append(buf, static_cast<std::size_t>(got));
        s.partial.append(buf, static_cast<std::size_t>(got));
      }
      ::close(fd);
    }
    std::size_t from = 0;
    for (auto nl = s.partial.find('\n'); nl != std::string::npos; nl = s.partial.find('\n', from)) {
      if (on_line) on_line(j.id, kind, std::string_view(s.partial).substr(from, nl - from));
      from = nl + 1;
    }
    s.partial.erase(0, from);
    if (final && !s.partial.empty()) {
      if (on_line) on_line(j.id, kind, s.partial);
      s.partial.clear();
    }
  }

  ProcessExit finish(TrackedJob& j) {
    read_stream(j, j.out, StreamKind::Stdout, true);
    read_stream(j, j.err, StreamKind::Stderr, true);
    ProcessExit e;
    e.id = j.id;
    e.out = std::move(j.out.whole);
    e.err = std::move(j.err.whole);
    e.elapsed = Clock::now() - j.start;
    e.timed_out = j.timed_out;
    e.cancelled = j.cancel_sent && !j.timed_out;
    return e;
  }

  TrackedJob& add(const std::string& job_id, const SlurmFiles& files, std::optional<SteadyTime> deadline, ProcessId id) {
    auto j = std::make_unique<TrackedJob>();
    j->id = id;
    j->job_id = job_id;
    j->files = files;
    j->deadline = deadline;
    j->submitted = j->start = Clock::now();
    j->out.path = files.stdout_path();
    j->err.path = files.stderr_path();
    jobs.push_back(std::move(j));
    next_poll = std::min(next_poll, Clock::now() + interval);
    return *jobs.back();
  }

  void scancel(const std::vector<TrackedJob*>& which) {
    std::vector<std::string> argv = {cmd.scancel};
    for (TrackedJob* j : which) {
      if (j->cancel_sent) continue;
      j->cancel_sent = true;
      argv.push_back(j->job_id);
    }
    if (argv.size() > 1) run_command(argv);
    next_poll = Clock::now();
  }
};

SlurmSet::SlurmSet(std::chrono::milliseconds poll_interval, SlurmCommands commands)
    : impl_(std::make_unique<Impl>()) {
  impl_->interval = poll_interval;
  impl_->cmd = std::move(commands);
}

SlurmSet::~SlurmSet() = default;

void SlurmSet::set_line_callback(LineCallback cb) { impl_->on_line = std::move(cb); }

SlurmSubmission SlurmSet::submit(const SpawnSpec& spec, const SlurmFiles& files, const std::string& job_name,
                                 const std::vector<std::string>& sbatch_args) {
  ProcessId id = impl_->next_id++;
  auto fail = [&](const std::string& message) {
    ProcessExit e;
    e.id = id;
    e.spawn_error = "failed to submit to Slurm: " + message;
    impl_->failed.push_back(std::move(e));
    return SlurmSubmission{id, ""};
  };
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(files.base).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
  ::unlink(files.exitcode_path().c_str());
  ::unlink(files.stdout_path().c_str());
  ::unlink(files.stderr_path().c_str());
  // The job runs elsewhere (in --chdir): wf's own directory must be spelled out.
  SpawnSpec job = spec;
  job.cwd = spec.cwd.empty() ? std::filesystem::current_path(ec).string()
                             : std::filesystem::absolute(spec.cwd, ec).string();
  {
    std::ofstream f(files.script(), std::ios::binary | std::ios::trunc);
    f << slurm_batch_script(job, files);
    if (!f) return fail("cannot write the batch script " + files.script());
  }
  ::chmod(files.script().c_str(), 0700);
  std::vector<std::string> argv = {impl_->cmd.sbatch,
                                   "--parsable",
                                   "--job-name=" + job_name,
                                   "--output=" + files.stdout_path(),
                                   "--error=" + files.stderr_path(),
                                   "--chdir=" + (dir.empty() ? std::string("/") : dir.string()),
                                   "--export=ALL",
                                   "--no-requeue"};
  argv.insert(argv.end(), sbatch_args.begin(), sbatch_args.end());
  argv.push_back(files.script());
  CommandResult r = run_command(argv, &spec.env);
  if (r.spawn_errno == ENOENT) return fail(missing_command_text(impl_->cmd.sbatch));
  if (r.spawn_errno != 0) return fail(impl_->cmd.sbatch + ": " + std::strerror(r.spawn_errno));
  std::string out = trim(r.out);
  std::string job_id = out.substr(0, out.find(';'));  // "123" or "123;cluster"
  if (r.status != 0 || job_id.empty() || job_id.find_first_not_of("0123456789_") != std::string::npos) {
    std::string why = one_line(r.err);
    if (why.empty()) why = "exit status " + std::to_string(r.status) + (out.empty() ? "" : ", output: " + out);
    return fail("sbatch refused the job: " + why);
  }
  impl_->add(job_id, files, spec.deadline, id);
  return {id, job_id};
}

ProcessId SlurmSet::attach(const std::string& job_id, const SlurmFiles& files, std::optional<SteadyTime> deadline) {
  ProcessId id = impl_->next_id++;
  impl_->add(job_id, files, deadline, id);
  impl_->next_poll = Clock::now();  // it may have ended long ago
  return id;
}

SteadyTime SlurmSet::next_poll() const {
  if (!impl_->failed.empty()) return Clock::now();
  return impl_->next_poll;
}

std::vector<ProcessExit> SlurmSet::poll() {
  Impl& m = *impl_;
  std::vector<ProcessExit> done = std::move(m.failed);
  m.failed.clear();
  auto now = Clock::now();
  if (now < m.next_poll || m.jobs.empty()) return done;
  std::set<TrackedJob*> ended;
  std::map<TrackedJob*, std::string> errors;  // why a job without an exit code file ended
  std::map<TrackedJob*, std::string> end_state;

  // 1. A job whose script wrote its exit code is done, unless wf cancelled it (then wait
  //    until Slurm says it ended, so nothing of it is left running) or its command was
  //    killed by a signal (then ask Slurm whether it cancelled the job, or the node failed).
  std::vector<TrackedJob*> ask;
  for (auto& j : m.jobs) {
    auto code = j->cancel_sent ? std::nullopt : read_exit_code(j->files.exitcode_path());
    if (code && *code < 128) ended.insert(j.get());
    else ask.push_back(j.get());
  }
  // 2. One squeue call for the rest.
  std::vector<TrackedJob*> unknown;
  if (!ask.empty()) {
    CommandResult r = run_command({m.cmd.squeue, "-h", "-t", "all", "-j", join_ids(ask), "-o", "%i|%T|%r"});
    std::map<std::string, SlurmJobState> seen;
    if (r.spawn_errno == 0 && (r.status == 0 || r.err.find("Invalid job id") != std::string::npos))
      for (auto& st : parse_slurm_states(r.out)) seen[st.job_id] = st;
    bool squeue_ok = r.spawn_errno == 0 && (r.status == 0 || r.err.find("Invalid job id") != std::string::npos);
    for (TrackedJob* j : ask) {
      auto it = seen.find(j->job_id);
      if (it == seen.end()) {
        if (squeue_ok) unknown.push_back(j);
        continue;  // squeue failed: try again at the next poll
      }
      j->state = it->second.state;
      j->reason = it->second.reason;
      j->missing_since.reset();
      std::string name = slurm_state_name(j->state);
      if (!j->started_running && name != "PENDING") {
        // A stage timeout counts from when the job starts running (FORMAT §11).
        j->started_running = true;
        if (j->deadline) *j->deadline += now - j->submitted;
      }
      if (!slurm_state_active(j->state)) {
        ended.insert(j);
        std::string detail = j->reason.empty() || j->reason == "None" ? "" : "squeue reason: " + j->reason;
        errors[j] = explain_end(j->job_id, j->state, detail);
        end_state[j] = slurm_state_name(j->state);
      }
    }
  }
  // 3. One `sacct -c` call (the job completion log) for jobs squeue has forgotten; plain
  //    `sacct` (slurmdbd) for those the completion log does not have, if any.
  if (!unknown.empty()) {
    std::map<std::string, SlurmJobState> seen;
    const std::vector<std::string> fields = {"-n", "-P", "-o", "JobID,State,ExitCode", "-j"};
    auto ask_sacct = [&](const std::vector<TrackedJob*>& jobs, bool completion_log) {
      std::vector<std::string> argv = {m.cmd.sacct};
      if (completion_log) argv.push_back("-c");
      else argv.push_back("-X");
      argv.insert(argv.end(), fields.begin(), fields.end());
      argv.push_back(join_ids(jobs));
      for (auto& st : parse_slurm_states(run_command(argv).out)) seen.emplace(st.job_id, st);
    };
    ask_sacct(unknown, true);
    std::vector<TrackedJob*> rest;
    for (TrackedJob* j : unknown)
      if (!seen.count(j->job_id)) rest.push_back(j);
    if (!rest.empty()) ask_sacct(rest, false);
    for (TrackedJob* j : unknown) {
      auto it = seen.find(j->job_id);
      if (it != seen.end()) {
        if (slurm_state_active(it->second.state)) continue;
        ended.insert(j);
        errors[j] = explain_end(j->job_id, it->second.state, "sacct exit code " + it->second.reason);
        end_state[j] = slurm_state_name(it->second.state);
        continue;
      }
      // Unknown everywhere: give Slurm a moment (a record in flight), then give up on it.
      if (!j->missing_since) j->missing_since = now;
      if (now - *j->missing_since < kMissingGrace) continue;
      ended.insert(j);
      errors[j] = "Slurm job " + j->job_id + " is no longer known to squeue or sacct, and it left no exit code in " +
                  j->files.exitcode_path();
    }
  }
  // 4. Deadlines: scancel, and report the job once Slurm says it ended.
  std::vector<TrackedJob*> expired;
  for (auto& j : m.jobs)
    if (!ended.count(j.get()) && !j->cancel_sent && j->deadline && j->started_running && now >= *j->deadline) {
      j->timed_out = true;
      expired.push_back(j.get());
    }
  m.scancel(expired);
  // 5. Output, and the jobs that ended.
  std::vector<std::unique_ptr<TrackedJob>> keep;
  for (auto& j : m.jobs) {
    if (!ended.count(j.get())) {
      m.read_stream(*j, j->out, StreamKind::Stdout, false);
      m.read_stream(*j, j->err, StreamKind::Stderr, false);
      keep.push_back(std::move(j));
      continue;
    }
    ProcessExit e = m.finish(*j);
    auto code = read_exit_code(j->files.exitcode_path());
    std::string name = end_state[j.get()];
    bool ran_out = name.empty() || name == "COMPLETED" || name == "FAILED";  // not ended by Slurm
    if (code && (ran_out || e.cancelled || e.timed_out)) {
      e.exit_code = *code;
    } else if (!e.cancelled && !e.timed_out) {
      auto it = errors.find(j.get());
      std::string msg = it != errors.end() ? it->second : "Slurm job " + j->job_id + " ended without an exit code";
      if (code) msg += "; the stage's command ended with exit status " + std::to_string(*code);
      else if (ran_out)
        msg += "; it wrote no exit code to " + j->files.exitcode_path() + " (see " + j->files.stderr_path() + ")";
      e.spawn_error = msg;
    }
    done.push_back(std::move(e));
  }
  m.jobs = std::move(keep);
  m.next_poll = Clock::now() + m.interval;
  return done;
}

void SlurmSet::cancel(ProcessId id) {
  for (auto& j : impl_->jobs)
    if (j->id == id) impl_->scancel({j.get()});
}

void SlurmSet::cancel_all() {
  std::vector<TrackedJob*> all;
  for (auto& j : impl_->jobs) all.push_back(j.get());
  impl_->scancel(all);
}

std::size_t SlurmSet::running() const { return impl_->jobs.size() + impl_->failed.size(); }

std::string SlurmSet::job_id(ProcessId id) const {
  for (const auto& j : impl_->jobs)
    if (j->id == id) return j->job_id;
  return "";
}

}  // namespace wf
