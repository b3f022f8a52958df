// ProcessSet against a real /bin/sh: spawning, output, exits, deadlines, cancel, signals.
#include <doctest/doctest.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "wf/proc.hpp"
#include "wf/process.hpp"
#include "wf/signals.hpp"

using namespace std::chrono_literals;
using wf::ProcessExit;
using wf::ProcessId;
using wf::ProcessSet;
using wf::SpawnSpec;
using wf::StreamKind;

namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kEnv = {"PATH=/usr/bin:/bin"};

SpawnSpec shell(const std::string& script, std::vector<std::string> env = kEnv) {
  SpawnSpec spec;
  spec.argv = {"sh", "-c", script};
  spec.env = std::move(env);
  return spec;
}

// Waits until nothing is left, failing the test if that takes longer than `limit`.
std::vector<ProcessExit> wait_all(ProcessSet& set, std::chrono::milliseconds limit = 5s) {
  std::vector<ProcessExit> all;
  const auto give_up = Clock::now() + limit;
  while (set.running() > 0 && Clock::now() < give_up) {
    for (auto& exit : set.wait(give_up)) all.push_back(std::move(exit));
  }
  REQUIRE(set.running() == 0);
  return all;
}

ProcessExit run_one(const SpawnSpec& spec, std::chrono::milliseconds grace = 10s) {
  wf::install_signal_handlers();
  ProcessSet set(grace);
  const ProcessId id = set.spawn(spec);
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].id == id);
  return exits[0];
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Processes of group `pgid` that are still alive (zombies do not count: whoever adopted
// them may not reap them in a container).
int live_in_group(pid_t pgid) {
  int live = 0;
  DIR* proc = ::opendir("/proc");
  REQUIRE(proc != nullptr);
  while (dirent* entry = ::readdir(proc)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + entry->d_name + "/stat");
    std::string stat;
    try {
      stat.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::ios_base::failure&) {
      continue;  // the process exited while we read (read(2) gives ESRCH; filebuf throws)
    }
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    fields >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') ++live;
  }
  ::closedir(proc);
  return live;
}

int live_in_group_eventually(pid_t pgid) {
  int live = live_in_group(pgid);
  for (int i = 0; live > 0 && i < 100; ++i) {  // SIGKILL delivery is not instant
    std::this_thread::sleep_for(10ms);
    live = live_in_group(pgid);
  }
  return live;
}

// A scratch directory removed at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/wf_process_test_XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string file = path + "/" + name;
    std::ofstream(file) << text;
    ::chmod(file.c_str(), mode);
    return file;
  }
};

}  // namespace

TEST_CASE("a command that does not exist is a spawn error, not a crash") {
  SpawnSpec spec;
  spec.argv = {"wf-no-such-command"};
  spec.env = kEnv;
  ProcessExit exit = run_one(spec);
  CHECK(exit.spawn_error == "failed to start: wf-no-such-command: No such file or directory");
  CHECK(exit.exit_code == -1);

  spec.argv = {"/nonexistent/wf-cmd"};
  CHECK(run_one(spec).spawn_error ==
        "failed to start: /nonexistent/wf-cmd: No such file or directory");

  // The lookup uses the child's PATH, not wf's.
  spec.argv = {"sh", "-c", "true"};
  spec.env = {"PATH=/nonexistent"};
  CHECK(run_one(spec).spawn_error == "failed to start: sh: No such file or directory");

  spec.argv = {};
  CHECK(run_one(spec).spawn_error == "failed to start: empty command");
}

TEST_CASE("a program found on the PATH is looked up again once it is gone") {
  wf::install_signal_handlers();
  TempDir first, second;
  second.write("wf-tool", "#!/bin/sh\necho second\n", 0755);
  SpawnSpec spec;
  spec.argv = {"wf-tool"};
  spec.env = {"PATH=" + first.path + ":" + second.path + ":/usr/bin:/bin"};
  ProcessSet set(10s);  // the lookups are remembered per set
  auto run = [&] {
    set.spawn(spec);
    auto exits = wait_all(set);
    REQUIRE(exits.size() == 1);
    return exits[0];
  };
  CHECK(run().out == "second\n");
  CHECK(run().out == "second\n");  // from the remembered lookup
  ::unlink((second.path + "/wf-tool").c_str());
  first.write("wf-tool", "#!/bin/sh\necho first\n", 0755);
  CHECK(run().out == "first\n");
  ::unlink((first.path + "/wf-tool").c_str());
  CHECK(run().spawn_error == "failed to start: wf-tool: No such file or directory");
}

TEST_CASE("the start time of a child is the one /proc/PID/stat gives") {
  wf::install_signal_handlers();
  ProcessSet set(10s);
  std::vector<ProcessId> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(set.spawn(shell("sleep 5")));
  for (ProcessId id : ids) {
    const int pid = set.os_pid(id);
    REQUIRE(pid > 0);
    CHECK(set.start_ticks(id) == wf::process_start_ticks(pid));
  }
  set.cancel_all(true);
  CHECK(wait_all(set).size() == ids.size());
}

TEST_CASE("a file without execute permission is reported as Permission denied") {
  TempDir dir;
  const std::string script = dir.write("script", "#!/bin/sh\necho hi\n", 0644);
  SpawnSpec spec;
  spec.argv = {script};
  spec.env = kEnv;
  CHECK(run_one(spec).spawn_error == "failed to start: " + script + ": Permission denied");

  spec.argv = {"script"};
  spec.env = {"PATH=" + dir.path};
  CHECK(run_one(spec).spawn_error == "failed to start: script: Permission denied");

  ::chmod(script.c_str(), 0755);  // and once it may run, it does
  ProcessExit exit = run_one(spec);
  CHECK(exit.spawn_error.empty());
  CHECK(exit.out == "hi\n");
}

TEST_CASE("a missing working directory is named in the spawn error") {
  SpawnSpec spec = shell("true");
  spec.cwd = "/nonexistent/dir";
  CHECK(run_one(spec).spawn_error ==
        "failed to start: cannot change directory to /nonexistent/dir: No such file or directory");
}

TEST_CASE("the exit code is passed through") {
  ProcessExit exit = run_one(shell("exit 7"));
  CHECK(exit.spawn_error.empty());
  CHECK(exit.exit_code == 7);
  CHECK(exit.term_signal == 0);
  CHECK_FALSE(exit.timed_out);
  CHECK_FALSE(exit.cancelled);
  CHECK(run_one(shell("true")).exit_code == 0);
}

TEST_CASE("a child killed by a signal reports the signal") {
  ProcessExit exit = run_one(shell("kill -9 $$"));
  CHECK(exit.term_signal == 9);
  CHECK(exit.exit_code == -1);
}

TEST_CASE("many children at once each get their own output") {
  wf::install_signal_handlers();
  ProcessSet set;
  std::map<ProcessId, int> expected;
  for (int i = 0; i < 50; ++i) expected[set.spawn(shell("echo " + std::to_string(i)))] = i;
  CHECK(set.running() == 50);
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 50);
  std::map<ProcessId, bool> seen;
  for (const auto& exit : exits) {
    REQUIRE(expected.count(exit.id) == 1);
    CHECK(exit.exit_code == 0);
    CHECK(exit.out == std::to_string(expected[exit.id]) + "\n");
    CHECK_FALSE(seen[exit.id]);
    seen[exit.id] = true;
  }
}

TEST_CASE("stdin is /dev/null") {
  const auto start = Clock::now();
  ProcessExit exit = run_one(shell("cat; echo done; readlink /proc/self/fd/0"));
  CHECK(exit.exit_code == 0);
  CHECK(exit.out == "done\n/dev/null\n");
  CHECK(seconds_since(start) < 1.0);
}

TEST_CASE("the deadline terminates the process group") {
  SpawnSpec spec = shell("sleep 10");
  spec.deadline = Clock::now() + 200ms;
  const auto start = Clock::now();
  ProcessExit exit = run_one(spec);
  CHECK(exit.timed_out);
  CHECK_FALSE(exit.cancelled);
  CHECK(exit.term_signal == SIGTERM);
  CHECK(seconds_since(start) >= 0.19);
  CHECK(seconds_since(start) < 1.0);
}

TEST_CASE("a child that ignores SIGTERM is killed after the grace") {
  SpawnSpec spec = shell("trap '' TERM; sleep 10");
  spec.deadline = Clock::now() + 100ms;
  const auto start = Clock::now();
  ProcessExit exit = run_one(spec, 200ms);
  CHECK(exit.timed_out);
  CHECK(exit.term_signal == SIGKILL);
  CHECK(seconds_since(start) >= 0.29);
  CHECK(seconds_since(start) < 1.5);
}

TEST_CASE("a background child holding the pipes does not hang the wait") {
  const auto start = Clock::now();
  ProcessExit exit = run_one(shell("sleep 100 & echo $!; echo hi"));
  CHECK(seconds_since(start) < 0.5);
  CHECK(exit.exit_code == 0);
  const auto newline = exit.out.find('\n');
  REQUIRE(newline != std::string::npos);
  CHECK(exit.out.substr(newline + 1) == "hi\n");
  // The leftover sleep was killed with the group.
  const pid_t sleeper = std::stoi(exit.out.substr(0, newline));
  std::string state;
  for (int i = 0; i < 100; ++i) {
    std::ifstream in("/proc/" + std::to_string(sleeper) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    state = stat.empty() ? "gone" : stat.substr(stat.rfind(')') + 2, 1);
    if (state == "gone" || state == "Z") break;
    std::this_thread::sleep_for(10ms);
  }
  CHECK((state == "gone" || state == "Z"));
}

TEST_CASE("output written by a short-lived background child is drained") {
  ProcessExit exit = run_one(shell("(sleep 0.02; echo late) & echo early"));
  CHECK(exit.out == "early\nlate\n");
}

TEST_CASE("cwd and env are applied, and env is exactly the given one") {
  TempDir dir;
  char resolved[PATH_MAX];
  REQUIRE(::realpath(dir.path.c_str(), resolved) != nullptr);
  SpawnSpec spec = shell("pwd; echo \"$FOO\"", {"PATH=/usr/bin:/bin", "FOO=bar baz"});
  spec.cwd = dir.path;
  ProcessExit exit = run_one(spec);
  CHECK(exit.out == std::string(resolved) + "\nbar baz\n");

  spec.argv = {"env"};
  CHECK(run_one(spec).out == "PATH=/usr/bin:/bin\nFOO=bar baz\n");

  // wf's own cwd is untouched.
  char own[PATH_MAX];
  REQUIRE(::getcwd(own, sizeof own) != nullptr);
  CHECK(std::string(own) != std::string(resolved));
}

TEST_CASE("stdout and stderr are kept apart") {
  ProcessExit exit = run_one(shell("echo out1; echo err1 >&2; echo out2; printf err2 >&2"));
  CHECK(exit.out == "out1\nout2\n");
  CHECK(exit.err == "err1\nerr2");
}

TEST_CASE("the line callback gets each line in order, and the final partial line") {
  wf::install_signal_handlers();
  ProcessSet set;
  std::vector<std::string> out_lines, err_lines;
  ProcessId seen_id = 0;
  set.set_line_callback([&](ProcessId id, StreamKind kind, std::string_view line) {
    seen_id = id;
    (kind == StreamKind::Stdout ? out_lines : err_lines).emplace_back(line);
  });
  const ProcessId id =
      set.spawn(shell("printf 'a\\nb\\n'; echo e1 >&2; printf '\\nc'; printf 'e2\\n' >&2"));
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(seen_id == id);
  CHECK(out_lines == std::vector<std::string>{"a", "b", "", "c"});
  CHECK(err_lines == std::vector<std::string>{"e1", "e2"});
  CHECK(exits[0].out == "a\nb\n\nc");
}

TEST_CASE("large output arrives whole, line by line") {
  wf::install_signal_handlers();
  ProcessSet set;
  std::size_t lines = 0;
  bool in_order = true;
  set.set_line_callback([&](ProcessId, StreamKind kind, std::string_view line) {
    if (kind != StreamKind::Stdout) return;
    ++lines;
    in_order = in_order && line == std::to_string(lines);
  });
  set.spawn(shell("seq 1 100000"));
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(lines == 100000);
  CHECK(in_order);
  CHECK(exits[0].out.size() == 588895);
}

TEST_CASE("cancel_all kills the whole process group") {
  wf::install_signal_handlers();
  ProcessSet set;
  pid_t pgid = 0;
  set.set_line_callback([&](ProcessId, StreamKind, std::string_view line) {
    pgid = std::stoi(std::string(line));
  });
  set.spawn(shell("echo $$; sleep 100 & sleep 100 & sleep 100; wait"));
  const auto give_up = Clock::now() + 2s;
  while (pgid == 0 && Clock::now() < give_up) CHECK(set.wait(Clock::now() + 20ms).empty());
  REQUIRE(pgid != 0);
  std::this_thread::sleep_for(50ms);  // let the sleeps start
  CHECK(live_in_group(pgid) >= 3);

  const auto start = Clock::now();
  set.cancel_all();
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].cancelled);
  CHECK_FALSE(exits[0].timed_out);
  CHECK(exits[0].term_signal == SIGTERM);
  CHECK(seconds_since(start) < 0.5);
  CHECK(live_in_group_eventually(pgid) == 0);
}

TEST_CASE("a second cancel with immediate escalates to SIGKILL") {
  wf::install_signal_handlers();
  ProcessSet set(10s);
  const ProcessId id = set.spawn(shell("trap '' TERM; sleep 10"));
  std::this_thread::sleep_for(50ms);
  set.cancel(id);
  CHECK(set.wait(Clock::now() + 100ms).empty());  // TERM is ignored, the grace is long
  const auto start = Clock::now();
  set.cancel(id, true);
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].cancelled);
  CHECK(exits[0].term_signal == SIGKILL);
  CHECK(seconds_since(start) < 0.5);
}

TEST_CASE("destroying the set kills and reaps what still runs") {
  wf::install_signal_handlers();
  pid_t pgid = 0;
  {
    ProcessSet set;
    set.set_line_callback([&](ProcessId, StreamKind, std::string_view line) {
      pgid = std::stoi(std::string(line));
    });
    set.spawn(shell("echo $$; sleep 100 & sleep 100"));
    const auto give_up = Clock::now() + 2s;
    while (pgid == 0 && Clock::now() < give_up) set.wait(Clock::now() + 20ms);
    REQUIRE(pgid != 0);
  }
  CHECK(live_in_group_eventually(pgid) == 0);
  CHECK(::kill(pgid, 0) != 0);  // the leader was reaped, not left a zombie
}

TEST_CASE("wait returns at once with nothing running, and at `until` otherwise") {
  wf::install_signal_handlers();
  ProcessSet set;
  auto start = Clock::now();
  CHECK(set.wait().empty());
  CHECK(set.wait(Clock::now() + 10s).empty());
  CHECK(seconds_since(start) < 0.1);

  const ProcessId id = set.spawn(shell("sleep 10"));
  start = Clock::now();
  CHECK(set.wait(Clock::now() + 100ms).empty());
  CHECK(seconds_since(start) >= 0.09);
  CHECK(seconds_since(start) < 0.5);
  CHECK(set.running() == 1);
  set.cancel(id, true);
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].term_signal == SIGKILL);
}

TEST_CASE("SIGINT to wf makes wait return so the caller can react") {
  wf::install_signal_handlers();
  wf::reset_interrupts();
  ProcessSet set(200ms);
  set.spawn(shell("sleep 10"));

  std::thread sender([] {
    std::this_thread::sleep_for(50ms);
    ::kill(::getpid(), SIGINT);
  });
  const auto start = Clock::now();
  CHECK(set.wait().empty());
  sender.join();
  CHECK(wf::interrupt_count() == 1);
  CHECK(wf::first_interrupt_signal() == SIGINT);
  CHECK(seconds_since(start) < 1.0);

  // A signal that came while wf was busy is pending, and is seen by the next wait.
  ::kill(::getpid(), SIGTERM);
  CHECK(wf::interrupt_count() == 1);  // blocked outside the wait
  CHECK(set.wait().empty());
  CHECK(wf::interrupt_count() == 2);
  CHECK(wf::first_interrupt_signal() == SIGINT);

  set.cancel_all();
  auto exits = wait_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].cancelled);
  wf::reset_interrupts();
  CHECK(wf::interrupt_count() == 0);
}

TEST_CASE("without the signal handlers the loop still notices exits") {
  wf::uninstall_signal_handlers();
  {
    ProcessSet set;
    set.spawn(shell("echo one"));
    set.spawn(shell("sleep 0.1; echo two"));
    auto exits = wait_all(set);
    REQUIRE(exits.size() == 2);
    CHECK(exits[0].out == "one\n");
    CHECK(exits[1].out == "two\n");
  }
  wf::install_signal_handlers();
  CHECK(wf::signal_handlers_installed());
}

TEST_CASE("children get their output pipes even when wf runs with stdio closed") {
  wf::install_signal_handlers();
  const int saved[3] = {::fcntl(0, F_DUPFD_CLOEXEC, 10), ::fcntl(1, F_DUPFD_CLOEXEC, 10),
                        ::fcntl(2, F_DUPFD_CLOEXEC, 10)};
  REQUIRE((saved[0] >= 0 && saved[1] >= 0 && saved[2] >= 0));
  std::vector<ProcessExit> exits;
  {
    ProcessSet set;
    ::close(0);
    ::close(1);
    ::close(2);
    set.spawn(shell("echo out; echo err >&2"));
    const auto give_up = Clock::now() + 5s;
    while (set.running() > 0 && Clock::now() < give_up) {
      for (auto& exit : set.wait(give_up)) exits.push_back(std::move(exit));
    }
  }  // the set's pipe ends may sit on 0-2 until here
  for (int fd = 0; fd < 3; ++fd) {
    ::dup2(saved[fd], fd);
    ::close(saved[fd]);
  }
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].out == "out\n");
  CHECK(exits[0].err == "err\n");
}

TEST_CASE("children start with default signal dispositions and nothing blocked") {
  wf::install_signal_handlers();  // wf's handlers (INT, TERM, CHLD, USR1) and SIGPIPE ignored
  // Also what a parent like nohup or a shell's `trap '' HUP` hands down.
  struct sigaction ignore {}, old_hup {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGHUP, &ignore, &old_hup);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  // `exec` so that /proc/self is the spawned process itself, as it started.
  ProcessExit exit = run_one(shell("exec grep -E '^Sig(Ign|Blk):' /proc/self/status"));
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGHUP, &old_hup, nullptr);
  CHECK(exit.exit_code == 0);
  CHECK(exit.out.find("SigBlk:\t0000000000000000") != std::string::npos);
  CHECK(exit.out.find("SigIgn:\t0000000000000000") != std::string::npos);
}
