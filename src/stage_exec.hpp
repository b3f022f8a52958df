// Private helpers of the scheduler for one stage: the command line of a bash stage, the
// environment a stage process gets, and reading what it left in $WF_OUTPUT.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "wf/result.hpp"

namespace wf {

// argv for `script` under `shell` (FORMAT §6 bash stages): bash (default), sh, python3 /
// python, or any command containing {0} (script written to `script_file`). Unknown shells
// run as `<shell> <script_file>`. `needs_file` is set when the caller must write the file.
struct ShellCommand {
  std::vector<std::string> argv;
  bool needs_file = false;
};
ShellCommand shell_command(const std::string& shell, const std::string& script, const std::string& script_file);

// "K=V" list from a map (sorted by key, which is what execve users expect to see).
std::vector<std::string> env_list(const std::map<std::string, std::string>& env);
// env_list of `base` with `overlay` on top (what env_list gives for the merged map) as
// pointers, without copying the base: `base_kv` is env_list(base) and `overlay_kv`
// env_list(overlay); the result points into both (SpawnSpec::envp).
std::vector<const char*> env_pointers(const std::map<std::string, std::string>& base,
                                      const std::vector<std::string>& base_kv,
                                      const std::map<std::string, std::string>& overlay,
                                      const std::vector<std::string>& overlay_kv);
std::map<std::string, std::string> env_map(const std::vector<std::string>& env);

// The last `n` lines of `text` (without a trailing empty line).
std::vector<std::string> last_lines(const std::string& text, std::size_t n);

// The private directory of a run's stage files (scripts, $WF_OUTPUT, call and Python
// inputs), mode 0700: `<root>/wf-run-<run id>` (or, when that exists, a random
// `wf-run-XXXXXX` holding a marker file `.wf-run-<run id>`), where the root is $TMPDIR when
// set; else memory-backed $XDG_RUNTIME_DIR or /dev/shm, where creating and removing a small
// file per stage costs a fraction of what it costs on a disk file system; else /tmp. Empty
// (errno set) when none can be made. The run records it (RunStore::set_run_temp_dir).
std::string make_run_temp_dir(const std::string& run_id);
// Removes what a wf that died while running `run_id` left in its directory, if it is ours:
// `recorded` (the directory the run recorded, if any) when it is a `wf-run-*` directory of
// this user that belongs to the run (its name or marker says so), and `wf-run-<run id>` under
// $TMPDIR, $XDG_RUNTIME_DIR, /dev/shm and /tmp, whatever this wf's own $TMPDIR is (for runs
// recorded before the state file kept the directory).
void remove_run_temp_dir(const std::string& run_id, const std::string& recorded = {});

// The whole file; nothing when it cannot be opened.
std::optional<std::string> read_file(const std::string& path);
// Creates or truncates `path` (mode 0666 less the umask) with `text`; false on any error.
bool write_file(const std::string& path, const std::string& text);

}  // namespace wf
