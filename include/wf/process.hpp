// Child processes: spawning with posix_spawn, and the one wait loop that owns them all.
// A ProcessSet starts children in their own process groups with stdin on /dev/null and
// stdout/stderr on separate pipes, multiplexes their output with ppoll, enforces
// deadlines (SIGTERM to the group, SIGKILL after the grace) and reaps them. It knows
// nothing of stages or workflows; the scheduler turns ProcessExit into stage results.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wf {

using SteadyTime = std::chrono::steady_clock::time_point;
using ProcessId = std::uint64_t;  // wf's own handle, never reused within a ProcessSet

enum class StreamKind { Stdout, Stderr };

struct SpawnSpec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH of `env` if it has no '/'
  std::vector<std::string> env;   // complete environment, "K=V"
  std::string cwd;                // empty: inherit
  std::optional<SteadyTime> deadline;  // hard timeout
  std::string stdin_path;              // empty: /dev/null
  // When not empty, the environment exactly as given instead of `env` (no null at the end);
  // it may point into `env` and into strings that outlive spawn().
  std::vector<const char*> envp;
};

struct ProcessExit {
  ProcessId id = 0;
  int exit_code = -1;        // valid when term_signal == 0 and spawn_error is empty
  int term_signal = 0;       // signal that killed it, 0 if it exited
  bool timed_out = false;    // its deadline passed and wf killed it
  bool cancelled = false;    // cancel() or cancel_all() killed it
  std::string spawn_error;   // non-empty: it never ran ("failed to start: ...")
  std::string out;           // whole stdout
  std::string err;           // whole stderr
  std::chrono::nanoseconds elapsed{0};
};

// Receives output as it arrives, one complete line at a time (without the newline; a
// final unterminated line is delivered when the stream closes). It runs inside wait() and
// may call spawn() and cancel(), but not wait().
using LineCallback = std::function<void(ProcessId, StreamKind, std::string_view line)>;

// Owns every running child and the loop that waits for them.
class ProcessSet {
 public:
  explicit ProcessSet(std::chrono::milliseconds kill_grace = std::chrono::seconds(10));
  ~ProcessSet();  // kills (SIGKILL) and reaps whatever is still running
  ProcessSet(const ProcessSet&) = delete;
  ProcessSet& operator=(const ProcessSet&) = delete;

  void set_line_callback(LineCallback cb);
  void set_kill_grace(std::chrono::milliseconds grace);

  // Never throws and never blocks on the child. A spawn failure is reported by the next
  // wait() as a ProcessExit with spawn_error set.
  ProcessId spawn(const SpawnSpec& spec);

  // Blocks until at least one child finished (reaped and its pipes drained), `until`
  // passed, or a signal arrived (see signals.hpp); returns the finished ones (maybe none).
  // Returns at once if nothing is running.
  std::vector<ProcessExit> wait(std::optional<SteadyTime> until = std::nullopt);

  // SIGTERM to the process group, SIGKILL after the grace (at once if `immediate`; a
  // second call with `immediate` escalates). Sets ProcessExit::cancelled unless the
  // deadline already fired (then timed_out stays the reason). No-op for unknown ids.
  void cancel(ProcessId id, bool immediate = false);
  void cancel_all(bool immediate = false);

  // Children not yet returned by wait(), failed spawns included.
  std::size_t running() const;
  // The OS pid (and process group id) of a running child; 0 if unknown or finished.
  int os_pid(ProcessId id) const;
  // Its start time in clock ticks since boot, as /proc/PID/stat field 22 gives it.
  std::int64_t start_ticks(ProcessId id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace wf
