// The Slurm executor without a cluster: sbatch options, the batch script (run by a real
// /bin/sh), squeue/sacct parsing, and a SlurmSet driving fake sbatch/squeue/scancel scripts.
// tests/cli/test_slurm.sh runs the real thing on the local cluster.
#include <doctest/doctest.h>

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "wf/slurm.hpp"
#include "temp_dir.hpp"

using namespace std::chrono_literals;
using wf::Json;
using wf::ProcessExit;
using wf::SlurmCommands;
using wf::SlurmFiles;
using wf::SlurmSet;
using wf::SpawnSpec;
using wf::StreamKind;

namespace {

struct TempDir : wf::test::TempDir {
  TempDir() : wf::test::TempDir("wf-slurm-test") {}
};


std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_script(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << "#!/bin/sh\n" << text;
  ::chmod(path.c_str(), 0755);
}

// Polls until every job ended (or 5 s passed).
std::vector<ProcessExit> poll_all(SlurmSet& set) {
  std::vector<ProcessExit> all;
  auto give_up = std::chrono::steady_clock::now() + 5s;
  while (set.running() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_until(set.next_poll());
    for (auto& e : set.poll()) all.push_back(std::move(e));
  }
  REQUIRE(set.running() == 0);
  return all;
}

// Fake Slurm commands in `dir`: sbatch runs the batch script in the background (unless
// `run` is false) and prints job id 42; squeue says RUNNING, or `state_after_cancel` once
// scancel was called.
SlurmCommands fake_slurm(const std::string& dir, bool run = true, const std::string& squeue_state = "RUNNING") {
  write_script(dir + "/sbatch",
               "for a; do case $a in --output=*) out=${a#--output=};; --error=*) err=${a#--error=};; esac; "
               "script=$a; done\n" +
                   std::string(run ? "sh \"$script\" >\"$out\" 2>\"$err\" &\n" : "") + "echo \"$*\" > " + dir +
                   "/sbatch.args\necho 42\n");
  write_script(dir + "/squeue", "if [ -e " + dir + "/cancelled ]; then echo '42|CANCELLED|None'; else echo '42|" +
                                    squeue_state + "|None'; fi\n");
  write_script(dir + "/sacct", "exit 0\n");
  write_script(dir + "/scancel", "touch " + dir + "/cancelled\n");
  return SlurmCommands{dir + "/sbatch", dir + "/squeue", dir + "/sacct", dir + "/scancel"};
}

}  // namespace

TEST_CASE("runs-on slurm is recognised in both spellings") {
  CHECK(wf::runs_on_slurm(Json("slurm")));
  CHECK(wf::runs_on_slurm(Json::parse(R"({"type": "slurm", "with": {"partition": "debug"}})")));
  CHECK_FALSE(wf::runs_on_slurm(Json("local")));
  CHECK_FALSE(wf::runs_on_slurm(Json()));
  CHECK_FALSE(wf::runs_on_slurm(Json::parse(R"({"type": "local"})")));
}

TEST_CASE("runs-on.with becomes sbatch options, extra-args last") {
  auto args = wf::sbatch_options(Json::parse(R"({"type": "slurm", "with": {
      "extra-args": ["--exclusive", "--nice=10"], "qos": "low", "partition": "debug", "time": "00:10:00",
      "cpus_per_task": 2, "mem": "1G", "account": "lab"}})"));
  REQUIRE(args.ok());
  CHECK(*args == std::vector<std::string>{"--partition=debug", "--time=00:10:00", "--cpus-per-task=2", "--mem=1G",
                                          "--account=lab", "--qos=low", "--exclusive", "--nice=10"});
  CHECK(wf::sbatch_options(Json("slurm"))->empty());
  CHECK(wf::sbatch_options(Json::parse(R"({"type": "slurm", "with": {"cpus-per-task": 0}})")).error().message ==
        "runs-on.with.cpus-per-task must be a positive whole number, got 0");
  CHECK(wf::sbatch_options(Json::parse(R"({"type": "slurm", "with": {"mem": [1]}})")).error().message ==
        "runs-on.with.mem must be a string or a whole number, got [1]");
  CHECK(wf::sbatch_options(Json::parse(R"({"type": "slurm", "with": {"extra-args": [1]}})")).error().message ==
        "runs-on.with.extra-args must be a list of strings, got 1");
}

TEST_CASE("shell_quote") {
  CHECK(wf::shell_quote("abc") == "'abc'");
  CHECK(wf::shell_quote("it's") == "'it'\\''s'");
  CHECK(wf::shell_quote("") == "''");
}

TEST_CASE("the batch script sets env and cwd, feeds stdin and records the exit status") {
  TempDir t;
  SpawnSpec spec;
  spec.argv = {"sh", "-c", "echo \"$GREETING from $(pwd)\"; cat; echo err >&2; exit 7"};
  spec.env = {"PATH=/usr/bin:/bin", "GREETING=it's me", "BASH_FUNC_x%%=() { :; }"};
  spec.cwd = t.path();
  std::ofstream(t.path() + "/in.txt") << "from stdin\n";
  spec.stdin_path = t.path() + "/in.txt";
  SlurmFiles files{t.path() + "/7"};
  std::string script = wf::slurm_batch_script(spec, files);
  CHECK(script.find("BASH_FUNC") == std::string::npos);
  std::ofstream(files.script()) << script;
  std::string cmd = "env -i /bin/sh " + files.script() + " >" + files.stdout_path() + " 2>" + files.stderr_path();
  int rc = std::system(cmd.c_str());
  CHECK(WEXITSTATUS(rc) == 7);
  CHECK(read_file(files.stdout_path()) == "it's me from " + t.path() + "\nfrom stdin\n");
  CHECK(read_file(files.stderr_path()) == "err\n");
  CHECK(read_file(files.exitcode_path()) == "7\n");

  spec.cwd = t.path() + "/missing";
  std::ofstream(files.script()) << wf::slurm_batch_script(spec, files);
  rc = std::system(cmd.c_str());
  CHECK(WEXITSTATUS(rc) == 127);
  CHECK(read_file(files.exitcode_path()) == "127\n");
  CHECK(read_file(files.stderr_path()).find("wf: cannot change directory to " + t.path() + "/missing") !=
        std::string::npos);
}

TEST_CASE("squeue and sacct output") {
  auto rows = wf::parse_slurm_states("12|RUNNING|None\n13|PENDING|Priority\n\n");
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].job_id == "13");
  CHECK(rows[1].state == "PENDING");
  CHECK(rows[1].reason == "Priority");
  rows = wf::parse_slurm_states("14|CANCELLED by 0|0:15\n14.batch|CANCELLED|0:15\n15|NODE_FAIL|0:0\n");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].state == "CANCELLED by 0");
  CHECK(wf::slurm_state_name(rows[0].state) == "CANCELLED");
  CHECK(rows[0].reason == "0:15");
  CHECK_FALSE(wf::slurm_state_active(rows[0].state));
  CHECK_FALSE(wf::slurm_state_active("NODE_FAIL"));
  CHECK_FALSE(wf::slurm_state_active("COMPLETED"));
  CHECK(wf::slurm_state_active("PENDING"));
  CHECK(wf::slurm_state_active("COMPLETING"));
}

TEST_CASE("external ids") {
  std::string id = wf::slurm_external_id("123", "/state/slurm/run:1/5");
  CHECK(id == "slurm:123:/state/slurm/run:1/5");
  auto ref = wf::parse_slurm_external_id(id);
  REQUIRE(ref);
  CHECK(ref->job_id == "123");
  CHECK(ref->base == "/state/slurm/run:1/5");
  CHECK_FALSE(wf::parse_slurm_external_id("pid:12:34"));
  CHECK_FALSE(wf::parse_slurm_external_id("slurm:abc:/x"));
  CHECK_FALSE(wf::parse_slurm_external_id("slurm:12"));
  CHECK(wf::slurm_run_dir("/var/wf/wf.db", "R1") == "/var/wf/slurm/R1");
}

TEST_CASE("SlurmSet: sbatch not installed is a clear start failure") {
  TempDir t;
  SlurmSet set(10ms, SlurmCommands{t.path() + "/no-sbatch", "squeue", "sacct", "scancel"});
  SpawnSpec spec;
  spec.argv = {"true"};
  auto sub = set.submit(spec, SlurmFiles{t.path() + "/1"}, "wf.test", {});
  CHECK(wf::is_slurm_handle(sub.id));
  CHECK(sub.job_id.empty());
  auto exits = poll_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].id == sub.id);
  CHECK(exits[0].spawn_error == "failed to submit to Slurm: " + t.path() +
                                    "/no-sbatch not found in PATH; runs-on slurm needs the Slurm client commands "
                                    "(sbatch, squeue, sacct, scancel)");
}

TEST_CASE("SlurmSet: a refused submission carries sbatch's message") {
  TempDir t;
  write_script(t.path() + "/sbatch",
               "echo 'sbatch: error: invalid partition specified: nosuch' >&2\n"
               "echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2\nexit 1\n");
  SlurmSet set(10ms, SlurmCommands{t.path() + "/sbatch", "squeue", "sacct", "scancel"});
  SpawnSpec spec;
  spec.argv = {"true"};
  set.submit(spec, SlurmFiles{t.path() + "/1"}, "wf.test", {"--partition=nosuch"});
  auto exits = poll_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].spawn_error ==
        "failed to submit to Slurm: sbatch refused the job: invalid partition specified: nosuch; Batch job "
        "submission failed: Invalid partition name specified");
}

TEST_CASE("SlurmSet: output lines stream in, the exit code comes from the exit code file") {
  TempDir t;
  SlurmSet set(10ms, fake_slurm(t.path()));
  std::vector<std::string> lines;
  set.set_line_callback([&](wf::ProcessId, StreamKind k, std::string_view line) {
    lines.push_back((k == StreamKind::Stderr ? "err: " : "out: ") + std::string(line));
  });
  SpawnSpec spec;
  spec.argv = {"sh", "-c", "echo one; echo two >&2; printf 'no newline'; exit 3"};
  spec.env = {"PATH=/usr/bin:/bin"};
  auto sub = set.submit(spec, SlurmFiles{t.path() + "/run/5"}, "wf.R.5", {"--partition=debug"});
  CHECK(sub.job_id == "42");
  CHECK(set.job_id(sub.id) == "42");
  auto exits = poll_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].spawn_error == "");
  CHECK(exits[0].exit_code == 3);
  CHECK(exits[0].out == "one\nno newline");
  CHECK(exits[0].err == "two\n");
  std::sort(lines.begin(), lines.end());  // the two files are read one after the other
  CHECK(lines == std::vector<std::string>{"err: two", "out: no newline", "out: one"});
  std::string args = read_file(t.path() + "/sbatch.args");
  CHECK(args.find("--parsable --job-name=wf.R.5 --output=" + t.path() + "/run/5.stdout") == 0);
  CHECK(args.find("--partition=debug " + t.path() + "/run/5.sh") != std::string::npos);

  // Attaching to the finished job collects the same result again, without submitting.
  ::unlink((t.path() + "/sbatch.args").c_str());
  auto id = set.attach("42", SlurmFiles{t.path() + "/run/5"}, std::nullopt);
  exits = poll_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].id == id);
  CHECK(exits[0].exit_code == 3);
  CHECK(exits[0].out == "one\nno newline");
  CHECK_FALSE(std::filesystem::exists(t.path() + "/sbatch.args"));
}

TEST_CASE("SlurmSet: a job Slurm ended without an exit code is an error naming the state") {
  TempDir t;
  SlurmSet set(10ms, fake_slurm(t.path(), false, "NODE_FAIL"));
  SpawnSpec spec;
  spec.argv = {"true"};
  set.submit(spec, SlurmFiles{t.path() + "/1"}, "wf.test", {});
  auto exits = poll_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].spawn_error == "Slurm job 42 ended NODE_FAIL (node failure)");
}

TEST_CASE("SlurmSet: cancel and deadlines call scancel and wait for Slurm to end the job") {
  TempDir t;
  SlurmSet set(10ms, fake_slurm(t.path(), false));
  SpawnSpec spec;
  spec.argv = {"true"};
  auto a = set.submit(spec, SlurmFiles{t.path() + "/1"}, "wf.test", {});
  CHECK(set.poll().empty());
  set.cancel(a.id);
  auto exits = poll_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].cancelled);
  CHECK_FALSE(exits[0].timed_out);
  CHECK(std::filesystem::exists(t.path() + "/cancelled"));

  ::unlink((t.path() + "/cancelled").c_str());
  spec.deadline = std::chrono::steady_clock::now() + 50ms;
  set.submit(spec, SlurmFiles{t.path() + "/2"}, "wf.test", {});
  exits = poll_all(set);
  REQUIRE(exits.size() == 1);
  CHECK(exits[0].timed_out);
  CHECK_FALSE(exits[0].cancelled);
}

TEST_CASE("SlurmSet: a command killed by a signal is checked with Slurm") {
  for (const std::string state : {"CANCELLED by 0", "FAILED"}) {
    CAPTURE(state);
    TempDir t;
    SlurmSet set(10ms, fake_slurm(t.path(), true, state));
    SpawnSpec spec;
    spec.argv = {"sh", "-c", "exit 143"};
    spec.env = {"PATH=/usr/bin:/bin"};
    set.submit(spec, SlurmFiles{t.path() + "/1"}, "wf.test", {});
    for (int i = 0; i < 500 && !std::filesystem::exists(t.path() + "/1.exitcode"); ++i) std::this_thread::sleep_for(10ms);
    auto exits = poll_all(set);
    REQUIRE(exits.size() == 1);
    if (state == "FAILED") {
      CHECK(exits[0].spawn_error == "");
      CHECK(exits[0].exit_code == 143);
    } else {
      CHECK(exits[0].spawn_error ==
            "Slurm job 42 ended CANCELLED by 0 (cancelled outside wf, e.g. by scancel or an administrator); the "
            "stage's command ended with exit status 143");
    }
  }
}
