#include "wf/run_store.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using wf::Json;
using wf::RunStore;
using wf::Status;

namespace {

struct TempDir : wf::test::TempDir {
  TempDir() : wf::test::TempDir("wf_run_store") {}
};


std::unique_ptr<RunStore> open_store(const std::string& dir) {
  auto store = RunStore::open(dir);
  REQUIRE_MESSAGE(store.ok(), store.error().message);
  return std::move(store.value());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Writes a big-endian 32-bit value into the SQLite header (user_version at 60,
// application_id at 68) of a closed database file.
void patch_header(const std::string& path, std::size_t offset, std::uint32_t value) {
  std::string bytes = read_bytes(path);
  REQUIRE(bytes.size() >= 100);
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<char>(value >> (24 - 8 * i));
  write_bytes(path, bytes);
}

wf::RunRecord sample_run(const std::string& id, wf::TimeMs created_at = 1000) {
  wf::RunRecord r;
  r.id = id;
  r.workflow = "build";
  r.run_name = "nightly build";
  r.parent_run_id = "parent-1";
  r.file_path = "/repo/build.yaml";
  r.spec_text = "name: build\njobs:\n  a: {stages: [{run: echo ünï}]}\n";
  r.spec_hash = "sha256:abcdef";
  r.params = Json{{"name", "Zoë 日本 🚀"}, {"n", 3}, {"list", {1, "two", nullptr, true}},
                  {"nested", {{"x", 1.5}}}};
  r.status = Status::Wait;
  r.error_name = "";
  r.error_message = "";
  r.attempt = 1;
  r.exit_code = -1;
  r.created_at = created_at;
  r.started_at = created_at + 1;
  r.finished_at = 0;
  r.pid = 4242;
  r.pid_start = 123456789012LL;
  r.host = "host-a";
  r.user = "alice";
  r.command_line = "wf run build.yaml -p name=Zoë";
  return r;
}

void check_same(const wf::RunRecord& a, const wf::RunRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.workflow == b.workflow);
  CHECK(a.run_name == b.run_name);
  CHECK(a.parent_run_id == b.parent_run_id);
  CHECK(a.file_path == b.file_path);
  CHECK(a.spec_text == b.spec_text);
  CHECK(a.spec_hash == b.spec_hash);
  CHECK(a.params == b.params);
  CHECK(a.status == b.status);
  CHECK(a.error_name == b.error_name);
  CHECK(a.error_message == b.error_message);
  CHECK(a.attempt == b.attempt);
  CHECK(a.exit_code == b.exit_code);
  CHECK(a.created_at == b.created_at);
  CHECK(a.started_at == b.started_at);
  CHECK(a.finished_at == b.finished_at);
  CHECK(a.pid == b.pid);
  CHECK(a.pid_start == b.pid_start);
  CHECK(a.host == b.host);
  CHECK(a.user == b.user);
  CHECK(a.command_line == b.command_line);
}

wf::JobInstanceRecord sample_job(const std::string& run_id, int attempt = 1) {
  wf::JobInstanceRecord j;
  j.run_id = run_id;
  j.run_attempt = attempt;
  j.job = "test";
  j.leg = 2;
  j.matrix = Json{{"os", "débian"}, {"py", "3.12"}};
  j.display_name = "test (débian, 3.12)";
  j.status = Status::Wait;
  j.skip_reason = "";
  j.outputs = Json::object();
  j.job_attempt = 1;
  j.started_at = 5000;
  return j;
}

void check_same(const wf::JobInstanceRecord& a, const wf::JobInstanceRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.run_id == b.run_id);
  CHECK(a.run_attempt == b.run_attempt);
  CHECK(a.job == b.job);
  CHECK(a.leg == b.leg);
  CHECK(a.matrix == b.matrix);
  CHECK(a.display_name == b.display_name);
  CHECK(a.status == b.status);
  CHECK(a.skip_reason == b.skip_reason);
  CHECK(a.error_name == b.error_name);
  CHECK(a.error_message == b.error_message);
  CHECK(a.outputs == b.outputs);
  CHECK(a.job_attempt == b.job_attempt);
  CHECK(a.started_at == b.started_at);
  CHECK(a.finished_at == b.finished_at);
}

wf::StageRecord sample_stage(std::int64_t job_instance_id, int index = 0) {
  wf::StageRecord s;
  s.job_instance_id = job_instance_id;
  s.index = index;
  s.stage_key = "compile";
  s.name = "Compile ✓";
  s.attempt = 1;
  s.status = Status::Wait;
  s.started_at = 6000;
  return s;
}

void check_same(const wf::StageRecord& a, const wf::StageRecord& b) {
  CHECK(a.id == b.id);
  CHECK(a.job_instance_id == b.job_instance_id);
  CHECK(a.index == b.index);
  CHECK(a.stage_key == b.stage_key);
  CHECK(a.name == b.name);
  CHECK(a.attempt == b.attempt);
  CHECK(a.status == b.status);
  CHECK(a.exit_code == b.exit_code);
  CHECK(a.error_name == b.error_name);
  CHECK(a.error_message == b.error_message);
  CHECK(a.outputs == b.outputs);
  CHECK(a.started_at == b.started_at);
  CHECK(a.finished_at == b.finished_at);
  CHECK(a.external_id == b.external_id);
}

bool can_write_despite_permissions(const std::string& dir) {
  std::string probe = dir + "/probe";
  std::ofstream out(probe);
  bool wrote = out.good();
  out.close();
  ::unlink(probe.c_str());
  return wrote;
}

}  // namespace

TEST_CASE("run store: open creates the directories and a WAL database") {
  TempDir tmp;
  std::string dir = tmp / "a/b/state";
  auto store = open_store(dir);
  CHECK(store->path() == dir + "/wf.db");
  CHECK(RunStore::schema_version() == 4);
  CHECK(fs::is_regular_file(dir + "/wf.db"));
  struct stat st {};
  REQUIRE(::stat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat((tmp / "a").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  REQUIRE(::stat(store->path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // WAL mode: the -wal file exists while open, and header bytes 18 and 19 are 2.
  CHECK(fs::exists(dir + "/wf.db-wal"));
  std::string header = read_bytes(store->path()).substr(0, 100);
  REQUIRE(header.size() == 100);
  CHECK(header.compare(0, 16, std::string("SQLite format 3\0", 16)) == 0);
  CHECK(header[18] == 2);
  CHECK(header[19] == 2);

  auto trailing = RunStore::open(dir + "/");
  REQUIRE(trailing.ok());
  CHECK(trailing.value()->path() == dir + "/wf.db");
}

TEST_CASE("run store: a run round-trips every field, with its first attempt") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  wf::RunRecord run = sample_run("r-0001");
  REQUIRE(store->insert_run(run).ok());

  auto found = store->find_run("r-0001");
  REQUIRE_MESSAGE(found.ok(), found.error().message);
  check_same(*found, run);
  CHECK(found->params["name"] == "Zoë 日本 🚀");

  auto attempts = store->run_attempts("r-0001");
  REQUIRE(attempts.ok());
  REQUIRE(attempts->size() == 1);
  const wf::RunAttemptRecord& a = attempts->front();
  CHECK(a.run_id == "r-0001");
  CHECK(a.attempt == 1);
  CHECK(a.status == Status::Wait);
  CHECK(a.started_at == run.started_at);
  CHECK(a.pid == 4242);
  CHECK(a.pid_start == 123456789012LL);
  CHECK(a.host == "host-a");

  auto duplicate = store->insert_run(run);
  REQUIRE_FALSE(duplicate.ok());
  CHECK(duplicate.error().message == "cannot insert run r-0001 in state file " +
                                         store->path() + ": UNIQUE constraint failed: runs.id");
}

TEST_CASE("run store: update_run writes its fields and keeps attempts in sync") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  wf::RunRecord run = sample_run("r-1");
  REQUIRE(store->insert_run(run).ok());

  run.status = Status::Failed;
  run.error_name = "ShellError";
  run.error_message = "exit status 2 — «bad»";
  run.exit_code = 1;
  run.finished_at = 9000;
  run.pid = 0;
  run.pid_start = 0;
  REQUIRE(store->update_run(run).ok());

  // A rerun: attempt 2 gets its own row, attempt 1 keeps what it ended with.
  run.attempt = 2;
  run.status = Status::Wait;
  run.error_name.clear();
  run.error_message.clear();
  run.exit_code = -1;
  run.started_at = 20000;
  run.finished_at = 0;
  run.pid = 777;
  run.pid_start = 42;
  run.host = "host-b";
  run.user = "bob";
  run.command_line = "wf rerun r-1";
  REQUIRE(store->update_run(run).ok());
  run.status = Status::Success;
  run.exit_code = 0;
  run.finished_at = 21000;
  REQUIRE(store->update_run(run).ok());

  auto found = store->find_run("r-1");
  REQUIRE(found.ok());
  check_same(*found, run);

  auto attempts = store->run_attempts("r-1");
  REQUIRE(attempts.ok());
  REQUIRE(attempts->size() == 2);
  CHECK((*attempts)[0].attempt == 1);
  CHECK((*attempts)[0].status == Status::Failed);
  CHECK((*attempts)[0].error_name == "ShellError");
  CHECK((*attempts)[0].error_message == "exit status 2 — «bad»");
  CHECK((*attempts)[0].exit_code == 1);
  CHECK((*attempts)[0].finished_at == 9000);
  CHECK((*attempts)[1].attempt == 2);
  CHECK((*attempts)[1].status == Status::Success);
  CHECK((*attempts)[1].exit_code == 0);
  CHECK((*attempts)[1].started_at == 20000);
  CHECK((*attempts)[1].finished_at == 21000);
  CHECK((*attempts)[1].pid == 777);
  CHECK((*attempts)[1].pid_start == 42);
  CHECK((*attempts)[1].host == "host-b");

  // The snapshot is not touched by update_run, only by update_run_snapshot.
  wf::RunRecord changed = run;
  changed.spec_text = "changed";
  changed.params = Json{{"x", "ÿ"}};
  REQUIRE(store->update_run(changed).ok());
  CHECK(store->find_run("r-1")->spec_text == run.spec_text);
  changed.file_path = "/elsewhere.yaml";
  changed.spec_hash = "sha256:new";
  changed.workflow = "ignored";
  REQUIRE(store->update_run_snapshot(changed).ok());
  auto snap = store->find_run("r-1");
  REQUIRE(snap.ok());
  CHECK(snap->spec_text == "changed");
  CHECK(snap->params == Json{{"x", "ÿ"}});
  CHECK(snap->file_path == "/elsewhere.yaml");
  CHECK(snap->spec_hash == "sha256:new");
  CHECK(snap->workflow == "build");

  wf::RunRecord ghost = sample_run("ghost");
  auto missing = store->update_run(ghost);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message ==
        "cannot update run ghost in state file " + store->path() + ": no such record");
  CHECK(store->run_attempts("ghost")->empty());  // the failed update left nothing behind
  CHECK_FALSE(store->update_run_snapshot(ghost).ok());
}

TEST_CASE("run store: job instances round-trip, update and filter by attempt") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  REQUIRE(store->insert_run(sample_run("r-1")).ok());

  wf::JobInstanceRecord first = sample_job("r-1");
  auto id = store->insert_job_instance(first);
  REQUIRE_MESSAGE(id.ok(), id.error().message);
  first.id = *id;
  CHECK(first.id > 0);
  wf::JobInstanceRecord second = sample_job("r-1");
  second.job = "deploy";
  second.leg = 0;
  second.matrix = Json::object();
  second.display_name = "deploy";
  second.id = store->insert_job_instance(second).value();
  wf::JobInstanceRecord rerun = sample_job("r-1", 2);
  rerun.id = store->insert_job_instance(rerun).value();
  CHECK(second.id > first.id);
  CHECK(rerun.id > second.id);

  auto all = store->job_instances("r-1");
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  check_same((*all)[0], first);
  check_same((*all)[1], second);
  check_same((*all)[2], rerun);
  CHECK(store->job_instances("r-1", 1)->size() == 2);
  REQUIRE(store->job_instances("r-1", 2)->size() == 1);
  CHECK(store->job_instances("r-1", 2)->front().id == rerun.id);
  CHECK(store->job_instances("r-1", 3)->empty());
  CHECK(store->job_instances("other")->empty());

  first.status = Status::Skip;
  first.skip_reason = "if: false — skipped";
  first.error_name = "TriggerError";
  first.error_message = "upstream failed";
  first.outputs = Json{{"artifact", "файл.tar"}, {"size", 12}};
  first.job_attempt = 3;
  first.finished_at = 7000;
  first.display_name = "test (renamed)";
  REQUIRE(store->update_job_instance(first).ok());
  auto after = store->job_instances("r-1", 1);
  REQUIRE(after.ok());
  check_same((*after)[0], first);
  check_same((*after)[1], second);

  wf::JobInstanceRecord ghost = sample_job("r-1");
  ghost.id = 999999;
  auto missing = store->update_job_instance(ghost);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message ==
        "cannot update job instance 999999 in state file " + store->path() + ": no such record");

  auto orphan = store->insert_job_instance(sample_job("no-such-run"));
  REQUIRE_FALSE(orphan.ok());
  CHECK(orphan.error().message.find("FOREIGN KEY constraint failed") != std::string::npos);
}

TEST_CASE("run store: stages and logs round-trip in insertion order") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  REQUIRE(store->insert_run(sample_run("r-1")).ok());
  std::int64_t job = store->insert_job_instance(sample_job("r-1")).value();

  wf::StageRecord a = sample_stage(job, 0);
  a.id = store->insert_stage(a).value();
  wf::StageRecord b = sample_stage(job, 1);
  b.stage_key = "test";
  b.name = "Test";
  b.external_id = "slurm:123";
  b.id = store->insert_stage(b).value();

  auto listed = store->stages(job);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  check_same((*listed)[0], a);
  check_same((*listed)[1], b);

  a.status = Status::Failed;
  a.attempt = 2;
  a.exit_code = 137;
  a.error_name = "TimeoutError";
  a.error_message = "timed out after 5s";
  a.outputs = Json{{"version", "1.2.3"}, {"emoji", "🙂"}, {"arr", Json::array({1, 2})}};
  a.finished_at = 8000;
  a.external_id = "slurm:77";
  a.name = "Compile (rendered)";
  REQUIRE(store->update_stage(a).ok());
  listed = store->stages(job);
  REQUIRE(listed.ok());
  check_same((*listed)[0], a);
  check_same((*listed)[1], b);
  CHECK(store->stages(job + 1000)->empty());

  wf::StageRecord ghost = sample_stage(job);
  ghost.id = 424242;
  CHECK(store->update_stage(ghost).error().message ==
        "cannot update stage 424242 in state file " + store->path() + ": no such record");
  CHECK_FALSE(store->insert_stage(sample_stage(987654)).ok());  // no such job instance

  static const char kBinary[] = "bytes \0 and \xff\xfe not utf-8\n";
  std::string binary(kBinary, sizeof kBinary - 1);
  const std::vector<wf::LogChunk> chunks = {
      {a.id, wf::LogStream::Stdout, 100, "hello ünïcode\n"},
      {a.id, wf::LogStream::Stderr, 101, "warning: x\n"},
      {b.id, wf::LogStream::Stdout, 102, "other stage\n"},
      {a.id, wf::LogStream::Wf, 103, "wf: retrying"},
      {a.id, wf::LogStream::Stdout, 104, binary},
      {a.id, wf::LogStream::Stdout, 105, ""},
  };
  for (const auto& c : chunks) REQUIRE(store->append_log(c).ok());
  auto logs = store->logs(a.id);
  REQUIRE(logs.ok());
  REQUIRE(logs->size() == 5);
  const std::vector<std::size_t> expected = {0, 1, 3, 4, 5};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const wf::LogChunk& want = chunks[expected[i]];
    CHECK((*logs)[i].stage_id == want.stage_id);
    CHECK((*logs)[i].stream == want.stream);
    CHECK((*logs)[i].at == want.at);
    CHECK((*logs)[i].text == want.text);
  }
  CHECK((*logs)[3].text.size() == sizeof kBinary - 1);
  CHECK(store->logs(b.id)->size() == 1);
  CHECK_FALSE(store->append_log({999999, wf::LogStream::Stdout, 1, "x"}).ok());
}

TEST_CASE("run store: find_run by exact id or unique prefix") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  for (const char* id : {"ab12cd", "ab34ef", "ab3", "c0ffee", "c0ffee99", "d%_x", "dxyz"}) {
    REQUIRE(store->insert_run(sample_run(id)).ok());
  }
  CHECK(store->find_run("ab12")->id == "ab12cd");
  CHECK(store->find_run("ab12cd")->id == "ab12cd");
  CHECK(store->find_run("ab34")->id == "ab34ef");
  CHECK(store->find_run("c0ffee")->id == "c0ffee");  // exact beats being a prefix
  CHECK(store->find_run("c0ffee9")->id == "c0ffee99");
  CHECK(store->find_run("d%")->id == "d%_x");  // LIKE wildcards are plain characters
  CHECK(store->find_run("d_").error().message == "no run matches 'd_'");
  CHECK(store->find_run("d").error().message == "run id 'd' is ambiguous: d%_x, dxyz");

  auto ambiguous = store->find_run("ab");
  REQUIRE_FALSE(ambiguous.ok());
  CHECK(ambiguous.error().message == "run id 'ab' is ambiguous: ab12cd, ab3, ab34ef");
  CHECK(store->find_run("ab3").value().id == "ab3");

  auto unknown = store->find_run("abc");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message == "no run matches 'abc'");
  CHECK(store->find_run("AB12").error().message == "no run matches 'AB12'");  // case matters
  CHECK(store->find_run("").error().message == "no run matches ''");
  CHECK(store->find_run("zzz").error().message == "no run matches 'zzz'");

  for (int i = 0; i < 7; ++i) REQUIRE(store->insert_run(sample_run("ee" + std::to_string(i))).ok());
  CHECK(store->find_run("ee").error().message ==
        "run id 'ee' is ambiguous: ee0, ee1, ee2, ee3, ee4 and 2 more");
}

TEST_CASE("run store: list_runs is newest first and filters") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  struct Spec {
    const char* id;
    const char* workflow;
    Status status;
    wf::TimeMs created_at;
  };
  const Spec specs[] = {{"r1", "build", Status::Success, 100},
                        {"r2", "deploy", Status::Failed, 200},
                        {"r3", "build", Status::Failed, 300},
                        {"r4", "build", Status::Wait, 300},
                        {"r5", "deploy", Status::Success, 50}};
  for (const Spec& s : specs) {
    wf::RunRecord r = sample_run(s.id, s.created_at);
    r.workflow = s.workflow;
    r.status = s.status;
    REQUIRE(store->insert_run(r).ok());
  }
  auto ids = [&](const wf::RunFilter& f) {
    auto runs = store->list_runs(f);
    REQUIRE_MESSAGE(runs.ok(), runs.error().message);
    std::string out;
    for (const auto& r : *runs) out += (out.empty() ? "" : " ") + r.id;
    return out;
  };
  wf::RunFilter all;
  CHECK(ids(all) == "r4 r3 r2 r1 r5");  // same created_at: higher id first
  all.limit = 0;
  CHECK(ids(all) == "r4 r3 r2 r1 r5");
  all.limit = -1;
  CHECK(ids(all) == "r4 r3 r2 r1 r5");
  wf::RunFilter two;
  two.limit = 2;
  CHECK(ids(two) == "r4 r3");
  wf::RunFilter build;
  build.workflow = "build";
  CHECK(ids(build) == "r4 r3 r1");
  wf::RunFilter failed;
  failed.status = Status::Failed;
  CHECK(ids(failed) == "r3 r2");
  wf::RunFilter since;
  since.since = 200;
  CHECK(ids(since) == "r4 r3 r2");
  wf::RunFilter combined;
  combined.workflow = "build";
  combined.status = Status::Failed;
  combined.since = 100;
  combined.limit = 5;
  CHECK(ids(combined) == "r3");
  wf::RunFilter none;
  none.workflow = "nope";
  CHECK(ids(none) == "");

  auto full = store->list_runs(build);
  REQUIRE(full.ok());
  wf::RunRecord expected = sample_run("r1", 100);
  expected.status = Status::Success;
  check_same(full->back(), expected);
}

TEST_CASE("run store: transactions commit, roll back and nest") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  auto other = open_store(tmp.path());  // a second connection sees only committed data

  {
    RunStore::Transaction tx(*store);
    REQUIRE(store->insert_run(sample_run("committed")).ok());
    std::int64_t job = store->insert_job_instance(sample_job("committed")).value();
    REQUIRE(store->insert_stage(sample_stage(job)).ok());
    CHECK(other->find_run("committed").error().message == "no run matches 'committed'");
    REQUIRE(tx.commit().ok());
    CHECK(tx.commit().ok());  // a second commit is a no-op
  }
  CHECK(other->find_run("committed").ok());
  CHECK(other->job_instances("committed")->size() == 1);

  {
    RunStore::Transaction tx(*store);
    REQUIRE(store->insert_run(sample_run("dropped")).ok());
    REQUIRE(store->insert_job_instance(sample_job("dropped")).ok());
  }
  CHECK(store->find_run("dropped").error().message == "no run matches 'dropped'");
  CHECK(store->job_instances("dropped")->empty());

  {
    RunStore::Transaction outer(*store);
    REQUIRE(store->insert_run(sample_run("nested-1")).ok());
    {
      RunStore::Transaction inner(*store);
      REQUIRE(store->insert_run(sample_run("nested-2")).ok());
      REQUIRE(inner.commit().ok());  // no-op: the outer one decides
    }
    CHECK(other->find_run("nested-2").error().message == "no run matches 'nested-2'");
    {
      RunStore::Transaction inner(*store);  // dropped without commit: also no effect
      REQUIRE(store->insert_run(sample_run("nested-3")).ok());
    }
    REQUIRE(outer.commit().ok());
  }
  CHECK(other->find_run("nested-1").ok());
  CHECK(other->find_run("nested-2").ok());
  CHECK(other->find_run("nested-3").ok());

  {
    RunStore::Transaction outer(*store);
    {
      RunStore::Transaction inner(*store);
      REQUIRE(store->insert_run(sample_run("nested-4")).ok());
      REQUIRE(inner.commit().ok());
    }
  }  // the outer one rolls back the inner one's work too
  CHECK_FALSE(store->find_run("nested-4").ok());

  // A write that fails inside a transaction leaves the rest to the caller.
  {
    RunStore::Transaction tx(*store);
    REQUIRE(store->insert_run(sample_run("partial")).ok());
    CHECK_FALSE(store->insert_run(sample_run("partial")).ok());
    REQUIRE(tx.commit().ok());
  }
  CHECK(other->find_run("partial").ok());
}

TEST_CASE("run store: reopening keeps everything") {
  TempDir tmp;
  std::int64_t stage_id = 0;
  {
    auto store = open_store(tmp.path());
    REQUIRE(store->insert_run(sample_run("keep")).ok());
    std::int64_t job = store->insert_job_instance(sample_job("keep")).value();
    stage_id = store->insert_stage(sample_stage(job)).value();
    REQUIRE(store->append_log({stage_id, wf::LogStream::Stderr, 5, "kept"}).ok());
  }
  CHECK_FALSE(fs::exists(tmp / "wf.db-wal"));  // the last close checkpoints
  auto store = open_store(tmp.path());
  check_same(store->find_run("keep").value(), sample_run("keep"));
  REQUIRE(store->logs(stage_id)->size() == 1);
  CHECK(store->logs(stage_id)->front().text == "kept");
  REQUIRE(store->insert_run(sample_run("more")).ok());
}

TEST_CASE("run store: a file that is not a database is refused and left alone") {
  TempDir tmp;
  const std::string db = tmp / "wf.db";
  std::vector<std::string> garbages;  // (built one by one: g++ 12 warns wrongly on `a + b` temporaries here)
  garbages.push_back("hello, this is not sqlite\n");
  garbages.push_back(std::string(8192, '\x5a'));
  garbages.push_back("SQLite format 3");
  garbages.back().append(200, '\0');
  for (const std::string& garbage : garbages) {
    write_bytes(db, garbage);
    auto store = RunStore::open(tmp.path());
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message == "cannot open state file " + db + ": file is not a database");
    CHECK(read_bytes(db) == garbage);
    CHECK_FALSE(fs::exists(db + "-wal"));
  }
}

TEST_CASE("run store: a newer schema or a foreign database is refused") {
  TempDir tmp;
  const std::string db = tmp / "wf.db";
  {
    auto store = open_store(tmp.path());
    REQUIRE(store->insert_run(sample_run("r")).ok());
  }
  REQUIRE_FALSE(fs::exists(db + "-wal"));

  SUBCASE("user_version 99") {
    patch_header(db, 60, 99);
    std::string before = read_bytes(db);
    auto store = RunStore::open(tmp.path());
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message ==
          "state file " + db + " has schema version 99; this wf understands up to 4; upgrade wf");
    CHECK(read_bytes(db) == before);
  }
  SUBCASE("another application's database") {
    patch_header(db, 68, 0x12345678);
    std::string before = read_bytes(db);
    auto store = RunStore::open(tmp.path());
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message ==
          "state file " + db +
              " is an SQLite database that wf did not create; refusing to change it");
    CHECK(read_bytes(db) == before);
  }
  SUBCASE("an unversioned database with tables") {
    patch_header(db, 60, 0);
    patch_header(db, 68, 0);
    auto store = RunStore::open(tmp.path());
    REQUIRE_FALSE(store.ok());
    CHECK(store.error().message.find("wf did not create") != std::string::npos);
  }
}

TEST_CASE("run store: an unusable state directory is an error") {
  TempDir tmp;
  write_bytes(tmp / "file", "x");
  auto under_file = RunStore::open(tmp / "file/state");
  REQUIRE_FALSE(under_file.ok());
  CHECK(under_file.error().message ==
        "cannot create state directory " + (tmp / "file/state") + ": Not a directory");
  auto is_file = RunStore::open(tmp / "file");
  REQUIRE_FALSE(is_file.ok());
  CHECK(is_file.error().message ==
        "cannot create state directory " + (tmp / "file") + ": Not a directory");
  CHECK(RunStore::open("").error().message == "cannot open state directory: the path is empty");

  const std::string locked = tmp / "locked";
  REQUIRE(::mkdir(locked.c_str(), 0500) == 0);
  if (can_write_despite_permissions(locked)) {
    MESSAGE("skipping permission checks: this user ignores file modes (root?)");
    return;
  }
  auto in_locked = RunStore::open(locked);
  REQUIRE_FALSE(in_locked.ok());
  CHECK(in_locked.error().message ==
        "cannot open state file " + locked + "/wf.db: unable to open database file");
  auto below_locked = RunStore::open(locked + "/sub");
  REQUIRE_FALSE(below_locked.ok());
  CHECK(below_locked.error().message ==
        "cannot create state directory " + locked + "/sub: Permission denied");

  const std::string ro = tmp / "ro";
  { auto store = open_store(ro); }
  REQUIRE(::chmod((ro + "/wf.db").c_str(), 0400) == 0);
  auto read_only = RunStore::open(ro);
  REQUIRE_FALSE(read_only.ok());
  CHECK(read_only.error().message ==
        "cannot open state file " + ro + "/wf.db: attempt to write a readonly database");
}

TEST_CASE("run store: deleting a run cascades to everything under it") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  std::vector<std::int64_t> jobs, stages;
  for (const char* id : {"gone", "stays"}) {
    wf::RunRecord r = sample_run(id);
    REQUIRE(store->insert_run(r).ok());
    r.attempt = 2;
    REQUIRE(store->update_run(r).ok());
    std::int64_t job = store->insert_job_instance(sample_job(id)).value();
    std::int64_t stage = store->insert_stage(sample_stage(job)).value();
    REQUIRE(store->append_log({stage, wf::LogStream::Stdout, 1, "out"}).ok());
    jobs.push_back(job);
    stages.push_back(stage);
  }
  CHECK(store->delete_run("gone").value() == true);
  CHECK(store->delete_run("gone").value() == false);
  CHECK_FALSE(store->find_run("gone").ok());
  CHECK(store->run_attempts("gone")->empty());
  CHECK(store->job_instances("gone")->empty());
  CHECK(store->stages(jobs[0])->empty());
  CHECK(store->logs(stages[0])->empty());

  CHECK(store->find_run("stays").ok());
  CHECK(store->run_attempts("stays")->size() == 2);
  CHECK(store->job_instances("stays")->size() == 1);
  CHECK(store->stages(jobs[1])->size() == 1);
  CHECK(store->logs(stages[1])->size() == 1);
}

TEST_CASE("run store: two connections write concurrently without lock errors") {
  TempDir tmp;
  constexpr int kThreads = 2;
  constexpr int kWrites = 200;
  std::vector<std::vector<std::string>> errors(kThreads);
  std::atomic<int> ready{0};
  auto work = [&](int t) {
    auto note = [&](const wf::Error& e) { errors[t].push_back(e.message); };
    auto opened = RunStore::open(tmp.path());
    if (!opened.ok()) return note(opened.error());
    RunStore& store = **opened;
    ++ready;
    while (ready < kThreads) std::this_thread::yield();
    for (int i = 0; i < kWrites; ++i) {
      std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
      RunStore::Transaction tx(store);
      if (auto r = store.insert_run(sample_run(id, i)); !r.ok()) { note(r.error()); continue; }
      auto job = store.insert_job_instance(sample_job(id));
      if (!job.ok()) { note(job.error()); continue; }
      wf::StageRecord stage = sample_stage(*job);
      auto sid = store.insert_stage(stage);
      if (!sid.ok()) { note(sid.error()); continue; }
      stage.id = *sid;
      if (auto r = store.append_log({*sid, wf::LogStream::Stdout, i, "line"}); !r.ok()) {
        note(r.error());
      }
      stage.status = Status::Success;
      if (auto r = store.update_stage(stage); !r.ok()) note(r.error());
      if (auto r = tx.commit(); !r.ok()) note(r.error());
      // Reads between writes, as `wf list` in another process would do.
      if (i % 20 == 0) {
        if (auto r = store.list_runs({}); !r.ok()) note(r.error());
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, t);
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(errors[t].empty());
    if (!errors[t].empty()) MESSAGE(errors[t].front());
  }
  auto store = open_store(tmp.path());
  wf::RunFilter all;
  all.limit = 0;
  CHECK(store->list_runs(all)->size() == kThreads * kWrites);
}

TEST_CASE("run store: several processes' first open of a new file race safely") {
  for (int round = 0; round < 5; ++round) {
    TempDir tmp;
    constexpr int kThreads = 4;
    std::vector<std::string> errors(kThreads);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ++ready;
        while (ready < kThreads) std::this_thread::yield();
        auto store = RunStore::open(tmp / "state");
        if (!store.ok()) return void(errors[t] = store.error().message);
        auto r = (*store)->insert_run(sample_run("r" + std::to_string(t)));
        if (!r.ok()) errors[t] = r.error().message;
      });
    }
    for (auto& th : threads) th.join();
    for (const auto& e : errors) CHECK_MESSAGE(e.empty(), e);
    auto store = open_store(tmp / "state");
    CHECK(store->list_runs({})->size() == kThreads);
  }
}

TEST_CASE("run store: timing of stage writes, autocommitted vs one transaction") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  REQUIRE(store->insert_run(sample_run("timing")).ok());
  std::int64_t job = store->insert_job_instance(sample_job("timing")).value();
  auto pairs = [&] {
    for (int i = 0; i < 1000; ++i) {
      wf::StageRecord s = sample_stage(job, i);
      s.id = store->insert_stage(s).value();
      s.status = Status::Success;
      s.exit_code = 0;
      s.outputs = Json{{"i", i}};
      REQUIRE(store->update_stage(s).ok());
    }
  };
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  pairs();
  auto t1 = Clock::now();
  {
    RunStore::Transaction tx(*store);
    pairs();
    REQUIRE(tx.commit().ok());
  }
  auto t2 = Clock::now();
  auto ms = [](Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0;
  };
  std::ostringstream msg;
  msg << "1000 insert_stage+update_stage pairs: autocommit " << ms(t1 - t0)
      << " ms, one transaction " << ms(t2 - t1) << " ms";
  MESSAGE(msg.str());
  CHECK(store->stages(job)->size() == 2000);
}

// --- releases, audit and ticks (schema version 2) ---

namespace {

// user_version in the header of a closed state file.
std::uint32_t header_version(const std::string& db) {
  std::string bytes = read_bytes(db);
  REQUIRE(bytes.size() >= 100);
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[60 + i]);
  return v;
}

// This process's start time, /proc/self/stat field 22.
std::int64_t own_start_ticks() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  REQUIRE(std::getline(in, line));
  std::istringstream rest(line.substr(line.rfind(')') + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) REQUIRE(static_cast<bool>(rest >> field));
  return std::stoll(field);
}

// The pid of a process that has exited and been reaped.
int dead_pid() {
  pid_t pid = 0;
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  REQUIRE(::posix_spawnp(&pid, "true", nullptr, nullptr, argv, environ) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return pid;
}

wf::AuditRecord sample_audit(const std::string& workflow, wf::TimeMs release_at) {
  wf::AuditRecord a;
  a.workflow = workflow;
  a.release_at = release_at;
  a.type = "normal";
  a.run_id = "run-" + workflow + "-" + std::to_string(release_at);
  a.parent_run_id = "parent";
  a.params = Json{{"token", "***"}, {"n", 2}, {"name", "Zoë"}};
  a.status = Status::Wait;
  a.started_at = release_at + 5;
  a.host = "host1";
  a.user = "alice";
  a.wf_version = "0.3.0";
  a.command_line = "wf tick --conf /srv/flows";
  a.note = "";
  return a;
}

void check_same(const wf::AuditRecord& a, const wf::AuditRecord& b) {
  CHECK(a.workflow == b.workflow);
  CHECK(a.release_at == b.release_at);
  CHECK(a.type == b.type);
  CHECK(a.run_id == b.run_id);
  CHECK(a.parent_run_id == b.parent_run_id);
  CHECK(a.params == b.params);
  CHECK(a.status == b.status);
  CHECK(a.started_at == b.started_at);
  CHECK(a.finished_at == b.finished_at);
  CHECK(a.host == b.host);
  CHECK(a.user == b.user);
  CHECK(a.wf_version == b.wf_version);
  CHECK(a.command_line == b.command_line);
  CHECK(a.note == b.note);
}

}  // namespace

TEST_CASE("run store: a version 1 file is migrated to the current version in place") {
  TempDir tmp;
  const std::string db = tmp / "wf.db";
  {
    auto old = RunStore::open_at_version(tmp.path(), 1);
    REQUIRE_MESSAGE(old.ok(), old.error().message);
    REQUIRE((*old)->insert_run(sample_run("from-v1")).ok());
    // The version 2 calls fail cleanly on a version 1 file.
    CHECK_FALSE((*old)->claim_release("build", 60000, false, 1, 1).ok());
    CHECK_FALSE((*old)->insert_audit(sample_audit("build", 60000)).ok());
    CHECK_FALSE((*old)->last_tick("build").ok());
    CHECK_FALSE((*old)->list_audit({}).ok());
  }
  CHECK(header_version(db) == 1);
  {
    auto store = open_store(tmp.path());
    check_same(store->find_run("from-v1").value(), sample_run("from-v1"));
    auto claim = store->claim_release("build", 60000, false, ::getpid(), own_start_ticks());
    REQUIRE(claim.ok());
    CHECK(claim->claimed);
    REQUIRE(store->insert_audit(sample_audit("build", 60000)).ok());
    REQUIRE(store->set_last_tick("build", 60000).ok());
  }
  CHECK(header_version(db) == 4);
  {
    // Never migrated backwards; reopening finds everything.
    auto again = RunStore::open_at_version(tmp.path(), 1);
    REQUIRE(again.ok());
    CHECK((*again)->list_audit({}).value().size() == 1);
  }
  CHECK(header_version(db) == 4);
  auto store = open_store(tmp.path());
  CHECK(store->last_tick("build").value() == std::optional<wf::TimeMs>(60000));
  CHECK(store->run_temp_dir("from-v1").value() == "");  // migrated rows: none recorded
  CHECK_FALSE(RunStore::open_at_version(tmp.path(), 5).ok());
  CHECK_FALSE(RunStore::open_at_version(tmp.path(), 0).ok());
}

TEST_CASE("run store: claiming a release minute, for every state of the last claim") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  const int me = ::getpid();
  const std::int64_t my_start = own_start_ticks();
  const wf::TimeMs m = 1704099600000;  // 2024-01-01T09:00Z

  // Nothing there yet: claimed.
  auto first = store->claim_release("build", m, false, me, my_start);
  REQUIRE(first.ok());
  CHECK(first->claimed);
  CHECK(first->run_id.empty());

  // WAIT, owned by a live process (this one): not claimed, names the run.
  REQUIRE(store->set_release_run("build", m, "run-1").ok());
  auto busy = store->claim_release("build", m, false, me, my_start);
  REQUIRE(busy.ok());
  CHECK_FALSE(busy->claimed);
  CHECK(busy->run_id == "run-1");
  CHECK(busy->status == Status::Wait);
  // Other workflows and minutes are independent.
  CHECK(store->claim_release("build", m + 60000, false, me, my_start)->claimed);
  CHECK(store->claim_release("deploy", m, false, me, my_start)->claimed);

  // SUCCESS and SKIP: not claimed.
  for (Status done : {Status::Success, Status::Skip}) {
    CAPTURE(wf::to_string(done));
    REQUIRE(store->finish_release("build", m, done).ok());
    auto c = store->claim_release("build", m, false, me, my_start);
    REQUIRE(c.ok());
    CHECK_FALSE(c->claimed);
    CHECK(c->run_id == "run-1");
    CHECK(c->status == done);
  }

  // force takes even a finished one, and clears its run.
  auto forced = store->claim_release("build", m, true, me, my_start);
  REQUIRE(forced.ok());
  CHECK(forced->claimed);
  auto after_force = store->claim_release("build", m, false, me, my_start);
  CHECK_FALSE(after_force->claimed);
  CHECK(after_force->run_id.empty());
  CHECK(after_force->status == Status::Wait);
  CHECK(store->claim_release("build", m, true, me, my_start)->claimed);  // also a live WAIT

  // FAILED and CANCEL: taken over.
  for (Status bad : {Status::Failed, Status::Cancel}) {
    CAPTURE(wf::to_string(bad));
    REQUIRE(store->set_release_run("build", m, "run-bad").ok());
    REQUIRE(store->finish_release("build", m, bad).ok());
    auto c = store->claim_release("build", m, false, me, my_start);
    REQUIRE(c.ok());
    CHECK(c->claimed);
    CHECK(store->claim_release("build", m, false, me, my_start)->run_id.empty());
  }

  // WAIT whose run ended FAILED or CANCEL (interrupted, never finish_release'd): taken over.
  for (Status bad : {Status::Failed, Status::Cancel}) {
    wf::RunRecord run = sample_run("run-" + wf::to_string(bad));
    run.status = bad;
    REQUIRE(store->insert_run(run).ok());
    REQUIRE(store->set_release_run("build", m, run.id).ok());
    CHECK(store->claim_release("build", m, false, me, my_start)->claimed);
  }
  // WAIT whose run is still WAIT, live owner: not taken. Run SUCCESS, release never
  // finished: not taken either, reported as SUCCESS.
  {
    wf::RunRecord run = sample_run("run-live");
    REQUIRE(store->insert_run(run).ok());
    REQUIRE(store->set_release_run("build", m, run.id).ok());
    auto c = store->claim_release("build", m, false, me, my_start);
    CHECK_FALSE(c->claimed);
    CHECK(c->status == Status::Wait);
    run.status = Status::Success;
    REQUIRE(store->update_run(run).ok());
    c = store->claim_release("build", m, false, me, my_start);
    CHECK_FALSE(c->claimed);
    CHECK(c->run_id == "run-live");
    CHECK(c->status == Status::Success);
  }

  // Updating a release that was never claimed is an error.
  CHECK_FALSE(store->set_release_run("nope", m, "x").ok());
  CHECK_FALSE(store->finish_release("nope", m, Status::Success).ok());
}

TEST_CASE("run store: a release claimed by a dead process is taken over, a live one is not") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  const wf::TimeMs m = 1704099600000;
  const int me = ::getpid();
  const std::int64_t my_start = own_start_ticks();

  SUBCASE("the owner exited") {
    REQUIRE(store->claim_release("build", m, false, dead_pid(), 12345)->claimed);
    REQUIRE(store->set_release_run("build", m, "run-orphan").ok());
    CHECK(store->claim_release("build", m, false, me, my_start)->claimed);
    // ... and now this live process owns it.
    CHECK_FALSE(store->claim_release("build", m, false, me, my_start)->claimed);
  }
  SUBCASE("the pid was reused: another start time") {
    REQUIRE(store->claim_release("build", m, false, me, my_start + 1)->claimed);
    CHECK(store->claim_release("build", m, false, me, my_start)->claimed);
  }
  SUBCASE("no owner recorded") {
    REQUIRE(store->claim_release("build", m, false, 0, 0)->claimed);
    CHECK(store->claim_release("build", m, false, me, my_start)->claimed);
  }
  SUBCASE("a live owner, from another connection") {
    auto other = open_store(tmp.path());
    REQUIRE(other->claim_release("build", m, false, me, my_start)->claimed);
    auto c = store->claim_release("build", m, false, 1, 1);
    REQUIRE(c.ok());
    CHECK_FALSE(c->claimed);
    CHECK(c->status == Status::Wait);
  }
}

TEST_CASE("run store: a claim inside a transaction is undone by its rollback") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  auto other = open_store(tmp.path());
  const int me = ::getpid();
  const std::int64_t my_start = own_start_ticks();
  {
    RunStore::Transaction tx(*store);
    REQUIRE(store->claim_release("build", 60000, false, me, my_start)->claimed);
    CHECK_FALSE(store->claim_release("build", 60000, false, me, my_start)->claimed);
  }
  CHECK(other->claim_release("build", 60000, false, me, my_start)->claimed);
  {
    RunStore::Transaction tx(*store);
    REQUIRE(store->claim_release("build", 120000, false, me, my_start)->claimed);
    REQUIRE(store->set_release_run("build", 120000, "r").ok());
    REQUIRE(tx.commit().ok());
  }
  auto c = other->claim_release("build", 120000, false, me, my_start);
  CHECK_FALSE(c->claimed);
  CHECK(c->run_id == "r");
}

TEST_CASE("run store: racing claimers never both claim one minute") {
  TempDir tmp;
  { open_store(tmp.path()); }
  constexpr int kMinutes = 150;
  constexpr int kThreads = 2;
  const int me = ::getpid();
  const std::int64_t my_start = own_start_ticks();
  std::atomic<int> claims[kMinutes] = {};
  std::atomic<int> errors{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Two connections per thread, used alternately.
      auto a = RunStore::open(tmp.path());
      auto b = RunStore::open(tmp.path());
      if (!a.ok() || !b.ok()) {
        ++errors;
        return;
      }
      RunStore* conns[] = {a->get(), b->get()};
      ++ready;
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 0; i < kMinutes; ++i) {
        for (int k = 0; k < 2; ++k) {  // both connections of each thread try every minute
          auto c = conns[(i + k + t) % 2]->claim_release("race", wf::TimeMs(i) * 60000, false,
                                                         me, my_start);
          if (!c.ok()) {
            ++errors;
            continue;
          }
          if (c->claimed) ++claims[i];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(errors.load() == 0);
  int wrong = 0;
  for (int i = 0; i < kMinutes; ++i) {
    if (claims[i].load() != 1) ++wrong;
  }
  CHECK(wrong == 0);
}

TEST_CASE("run store: audit records round-trip, update and filter, newest release first") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  const wf::TimeMs m = 1704099600000;
  std::map<std::int64_t, wf::AuditRecord> written;
  for (auto [wfname, at] : std::vector<std::pair<std::string, wf::TimeMs>>{
           {"build", m}, {"build", m + 120000}, {"deploy", m + 60000}, {"build", m + 60000},
           {"build", m + 120000}}) {
    wf::AuditRecord a = sample_audit(wfname, at);
    auto id = store->insert_audit(a);
    REQUIRE(id.ok());
    CHECK(*id > 0);
    a.id = *id;
    written[a.id] = a;
  }
  wf::AuditRecord misfire = sample_audit("build", m - 60000);
  misfire.type = "misfire";
  misfire.run_id.clear();
  misfire.parent_run_id.clear();
  misfire.params = Json::object();
  misfire.status = Status::Skip;
  misfire.note = "missed: --catchup latest";
  misfire.id = store->insert_audit(misfire).value();
  written[misfire.id] = misfire;

  auto all = store->list_audit({std::nullopt, std::nullopt, 0});
  REQUIRE(all.ok());
  REQUIRE(all->size() == 6);
  for (const auto& a : *all) {
    CAPTURE(a.id);
    check_same(a, written.at(a.id));
  }
  for (std::size_t i = 1; i < all->size(); ++i) {
    const auto& prev = (*all)[i - 1];
    const auto& cur = (*all)[i];
    CHECK((prev.release_at > cur.release_at ||
           (prev.release_at == cur.release_at && prev.id > cur.id)));
  }
  CHECK(all->back().type == "misfire");

  auto build = store->list_audit({std::string("build"), std::nullopt, -1}).value();
  CHECK(build.size() == 5);
  auto at = store->list_audit({std::string("build"), m + 120000, 0}).value();
  REQUIRE(at.size() == 2);
  CHECK(at[0].id > at[1].id);
  CHECK(store->list_audit({std::nullopt, m + 60000, 0})->size() == 2);
  CHECK(store->list_audit({std::string("nope"), std::nullopt, 0})->empty());
  auto limited = store->list_audit({std::nullopt, std::nullopt, 2}).value();
  REQUIRE(limited.size() == 2);
  CHECK(limited[0].id == (*all)[0].id);
  CHECK(limited[1].id == (*all)[1].id);
  CHECK(store->list_audit(wf::AuditFilter{})->size() == 6);  // default limit 50

  wf::AuditRecord done = written.begin()->second;
  done.status = Status::Failed;
  done.finished_at = done.started_at + 1234;
  done.note = "exit 1";
  done.params["extra"] = {1, 2};
  REQUIRE(store->update_audit(done).ok());
  auto back = store->list_audit({done.workflow, done.release_at, 0}).value();
  bool found = false;
  for (const auto& a : back) {
    if (a.id != done.id) continue;
    found = true;
    check_same(a, done);
  }
  CHECK(found);
  done.id = 999999;
  CHECK_FALSE(store->update_audit(done).ok());
}

TEST_CASE("run store: the last tick of each workflow round-trips") {
  TempDir tmp;
  {
    auto store = open_store(tmp.path());
    CHECK(store->last_tick("build").value() == std::nullopt);
    REQUIRE(store->set_last_tick("build", 60000).ok());
    REQUIRE(store->set_last_tick("deploy", 120000).ok());
    CHECK(store->last_tick("build").value() == std::optional<wf::TimeMs>(60000));
    REQUIRE(store->set_last_tick("build", 180000).ok());
    CHECK(store->last_tick("build").value() == std::optional<wf::TimeMs>(180000));
  }
  auto store = open_store(tmp.path());
  CHECK(store->last_tick("build").value() == std::optional<wf::TimeMs>(180000));
  CHECK(store->last_tick("deploy").value() == std::optional<wf::TimeMs>(120000));
  CHECK(store->last_tick("other").value() == std::nullopt);
}

TEST_CASE("run store: checkpoint commits inside a transaction and goes on in a new one") {
  TempDir tmp;
  auto store = open_store(tmp.path());
  auto reader = open_store(tmp.path());
  CHECK(store->checkpoint().ok());  // outside a transaction: nothing to do
  {
    RunStore::Transaction txn(*store);
    REQUIRE(store->insert_run(sample_run("r-1")).ok());
    CHECK_FALSE(reader->find_run("r-1").ok());
    REQUIRE(store->checkpoint().ok());
    CHECK(reader->find_run("r-1").ok());  // visible to others now
    REQUIRE(store->insert_run(sample_run("r-2")).ok());
    // no commit: r-2 is rolled back, r-1 stays
  }
  CHECK(reader->find_run("r-1").ok());
  CHECK_FALSE(reader->find_run("r-2").ok());
}

TEST_CASE("run store: a run's stage directory is recorded (version 4) and ignored on older files") {
  TempDir tmp;
  {
    auto old = RunStore::open_at_version(tmp.path(), 3);
    REQUIRE_MESSAGE(old.ok(), old.error().message);
    REQUIRE((*old)->insert_run(sample_run("r3")).ok());
    CHECK((*old)->set_run_temp_dir("r3", "/dev/shm/wf-run-r3").ok());  // nowhere to keep it
    CHECK((*old)->run_temp_dir("r3").value() == "");
  }
  auto store = open_store(tmp.path());
  CHECK(store->run_temp_dir("r3").value() == "");
  REQUIRE(store->set_run_temp_dir("r3", "/dev/shm/wf-run-r3").ok());
  CHECK(store->run_temp_dir("r3").value() == "/dev/shm/wf-run-r3");
  CHECK(store->run_temp_dir("no-such-run").value() == "");
  auto missing = store->set_run_temp_dir("no-such-run", "/tmp/x");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("no such record") != std::string::npos);
  // The rest of the run row is untouched.
  check_same(store->find_run("r3").value(), sample_run("r3"));
}
