// RunStore over SQLite: opening and migrating the state file, the cached write statements
// and the queries of runs, jobs, stages and logs (releases, audit and ticks are in
// run_store_release.cpp). With run_store_release.cpp, the only file that includes sqlite3.h
// (through run_store_impl.hpp); every handle is owned by RAII.
#include "wf/run_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <iterator>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include "run_store_impl.hpp"

namespace wf {

namespace {

using store_detail::assignments;
using store_detail::insert_sql;
using store_detail::Query;
using store_detail::Row;
using store_detail::StmtHandle;

// Marks a SQLite file as a wf state file ("WF01"), so we never migrate someone else's.
constexpr int kApplicationId = 0x57463031;

// How long a write waits for another wf's transaction before "database is locked": 10 s,
// or WF_LOCK_TIMEOUT seconds (0 to 3600; for a slow shared disk, or a test).
std::chrono::milliseconds busy_timeout() {
  static const std::chrono::milliseconds value = [] {
    const char* env = std::getenv("WF_LOCK_TIMEOUT");
    if (!env || !*env) return std::chrono::milliseconds(10000);
    char* end = nullptr;
    double secs = std::strtod(env, &end);
    if (!end || *end || !(secs >= 0 && secs <= 3600)) return std::chrono::milliseconds(10000);
    return std::chrono::milliseconds(static_cast<long long>(secs * 1000));
  }();
  return value;
}

struct Migration {
  int version;
  const char* sql;
};

// Each step moves the schema from version-1 to version inside one transaction. Append new
// steps (ALTER TABLE, new tables such as audit); never edit a step that has shipped.
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE runs (
  id            TEXT PRIMARY KEY NOT NULL,
  workflow      TEXT NOT NULL,
  run_name      TEXT NOT NULL DEFAULT '',
  parent_run_id TEXT NOT NULL DEFAULT '',
  file_path     TEXT NOT NULL DEFAULT '',
  spec_text     TEXT NOT NULL DEFAULT '',
  spec_hash     TEXT NOT NULL DEFAULT '',
  params        TEXT NOT NULL DEFAULT '{}',
  status        TEXT NOT NULL,
  error_name    TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  attempt       INTEGER NOT NULL DEFAULT 1,
  exit_code     INTEGER NOT NULL DEFAULT -1,
  created_at    INTEGER NOT NULL,
  started_at    INTEGER NOT NULL DEFAULT 0,
  finished_at   INTEGER NOT NULL DEFAULT 0,
  pid           INTEGER NOT NULL DEFAULT 0,
  pid_start     INTEGER NOT NULL DEFAULT 0,
  host          TEXT NOT NULL DEFAULT '',
  user          TEXT NOT NULL DEFAULT '',
  command_line  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_created ON runs (created_at, id);
CREATE INDEX runs_by_workflow ON runs (workflow, created_at, id);
CREATE INDEX runs_by_status ON runs (status, created_at);

CREATE TABLE run_attempts (
  run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  attempt       INTEGER NOT NULL,
  status        TEXT NOT NULL,
  exit_code     INTEGER NOT NULL DEFAULT -1,
  error_name    TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  started_at    INTEGER NOT NULL DEFAULT 0,
  finished_at   INTEGER NOT NULL DEFAULT 0,
  pid           INTEGER NOT NULL DEFAULT 0,
  pid_start     INTEGER NOT NULL DEFAULT 0,
  host          TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, attempt)
) WITHOUT ROWID;

CREATE TABLE job_instances (
  id            INTEGER PRIMARY KEY,
  run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  run_attempt   INTEGER NOT NULL,
  job           TEXT NOT NULL,
  leg           INTEGER NOT NULL DEFAULT 0,
  matrix        TEXT NOT NULL DEFAULT '{}',
  display_name  TEXT NOT NULL DEFAULT '',
  status        TEXT NOT NULL,
  skip_reason   TEXT NOT NULL DEFAULT '',
  error_name    TEXT NOT NULL DEFAULT '',
  error_message TEXT NOT NULL DEFAULT '',
  outputs       TEXT NOT NULL DEFAULT '{}',
  job_attempt   INTEGER NOT NULL DEFAULT 1,
  started_at    INTEGER NOT NULL DEFAULT 0,
  finished_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX job_instances_by_run ON job_instances (run_id, run_attempt);

CREATE TABLE stages (
  id              INTEGER PRIMARY KEY,
  job_instance_id INTEGER NOT NULL REFERENCES job_instances (id) ON DELETE CASCADE,
  stage_index     INTEGER NOT NULL,
  stage_key       TEXT NOT NULL DEFAULT '',
  name            TEXT NOT NULL DEFAULT '',
  attempt         INTEGER NOT NULL DEFAULT 1,
  status          TEXT NOT NULL,
  exit_code       INTEGER NOT NULL DEFAULT -1,
  error_name      TEXT NOT NULL DEFAULT '',
  error_message   TEXT NOT NULL DEFAULT '',
  outputs         TEXT NOT NULL DEFAULT '{}',
  started_at      INTEGER NOT NULL DEFAULT 0,
  finished_at     INTEGER NOT NULL DEFAULT 0,
  external_id     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX stages_by_job_instance ON stages (job_instance_id);

CREATE TABLE logs (
  seq      INTEGER PRIMARY KEY,
  stage_id INTEGER NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
  stream   INTEGER NOT NULL CHECK (stream IN (1, 2, 3)),
  at       INTEGER NOT NULL,
  text     TEXT NOT NULL
);
CREATE INDEX logs_by_stage ON logs (stage_id, seq);

PRAGMA application_id = 1464217649;
)sql"},
    // Releases, audit and ticks (FORMAT §10).
    {2, R"sql(
CREATE TABLE audit (
  id            INTEGER PRIMARY KEY,
  workflow      TEXT NOT NULL,
  release_at    INTEGER NOT NULL,
  type          TEXT NOT NULL DEFAULT '',
  run_id        TEXT NOT NULL DEFAULT '',
  parent_run_id TEXT NOT NULL DEFAULT '',
  params        TEXT NOT NULL DEFAULT '{}',
  status        TEXT NOT NULL,
  started_at    INTEGER NOT NULL DEFAULT 0,
  finished_at   INTEGER NOT NULL DEFAULT 0,
  host          TEXT NOT NULL DEFAULT '',
  user          TEXT NOT NULL DEFAULT '',
  wf_version    TEXT NOT NULL DEFAULT '',
  command_line  TEXT NOT NULL DEFAULT '',
  note          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_release ON audit (workflow, release_at);

CREATE TABLE releases (
  workflow    TEXT NOT NULL,
  release_at  INTEGER NOT NULL,
  run_id      TEXT NOT NULL DEFAULT '',
  status      TEXT NOT NULL,
  owner_pid   INTEGER NOT NULL DEFAULT 0,
  owner_start INTEGER NOT NULL DEFAULT 0,
  claimed_at  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workflow, release_at)
) WITHOUT ROWID;

CREATE TABLE ticks (
  workflow    TEXT PRIMARY KEY NOT NULL,
  last_minute INTEGER NOT NULL
) WITHOUT ROWID;
)sql"},
    // Nested stages (parallel, foreach, until, case): the row of the stage they ran in,
    // and which branch/item/loop/case they belong to.
    {3, R"sql(
ALTER TABLE stages ADD COLUMN parent_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stages ADD COLUMN label TEXT NOT NULL DEFAULT '';
)sql"},
    // Where a run's stage directory is (scripts, $WF_OUTPUT files), so that crash recovery
    // removes exactly it whatever $TMPDIR the recovering wf has.
    {4, R"sql(
ALTER TABLE runs ADD COLUMN temp_dir TEXT NOT NULL DEFAULT '';
)sql"},
};
static_assert(kApplicationId == 1464217649, "migration 1 writes the application id literally");

constexpr int kSchemaVersion = std::end(kMigrations)[-1].version;

// Column lists in the order the read_* and bind_* functions below use them.
constexpr const char* kRunColumns =
    "id, workflow, run_name, parent_run_id, file_path, spec_text, spec_hash, params, status, "
    "error_name, error_message, attempt, exit_code, created_at, started_at, finished_at, pid, "
    "pid_start, host, user, command_line";
constexpr const char* kRunUpdated =
    "status, error_name, error_message, attempt, exit_code, started_at, finished_at, pid, "
    "pid_start, host, user, command_line";
constexpr const char* kRunSnapshot = "file_path, spec_text, spec_hash, params";

RunRecord read_run(Row& row) {
  RunRecord r;
  r.id = row.text();
  r.workflow = row.text();
  r.run_name = row.text();
  r.parent_run_id = row.text();
  r.file_path = row.text();
  r.spec_text = row.text();
  r.spec_hash = row.text();
  r.params = row.json();
  r.status = row.status();
  r.error_name = row.text();
  r.error_message = row.text();
  r.attempt = row.int32();
  r.exit_code = row.int32();
  r.created_at = row.int64();
  r.started_at = row.int64();
  r.finished_at = row.int64();
  r.pid = row.int32();
  r.pid_start = row.int64();
  r.host = row.text();
  r.user = row.text();
  r.command_line = row.text();
  return r;
}

constexpr const char* kAttemptKey = "run_id, attempt";
constexpr const char* kAttemptFields =
    "status, exit_code, error_name, error_message, started_at, finished_at, pid, pid_start, host";

RunAttemptRecord read_attempt(Row& row) {
  RunAttemptRecord a;
  a.run_id = row.text();
  a.attempt = row.int32();
  a.status = row.status();
  a.exit_code = row.int32();
  a.error_name = row.text();
  a.error_message = row.text();
  a.started_at = row.int64();
  a.finished_at = row.int64();
  a.pid = row.int32();
  a.pid_start = row.int64();
  a.host = row.text();
  return a;
}

// Written by insert and update; the row is identified by id, run_id and run_attempt.
constexpr const char* kJobFields =
    "job, leg, matrix, display_name, status, skip_reason, error_name, error_message, outputs, "
    "job_attempt, started_at, finished_at";

JobInstanceRecord read_job(Row& row) {
  JobInstanceRecord j;
  j.id = row.int64();
  j.run_id = row.text();
  j.run_attempt = row.int32();
  j.job = row.text();
  j.leg = row.int32();
  j.matrix = row.json();
  j.display_name = row.text();
  j.status = row.status();
  j.skip_reason = row.text();
  j.error_name = row.text();
  j.error_message = row.text();
  j.outputs = row.json();
  j.job_attempt = row.int32();
  j.started_at = row.int64();
  j.finished_at = row.int64();
  return j;
}

// Written by insert and update; the row is identified by id and job_instance_id.
constexpr const char* kStageFields =
    "stage_index, stage_key, name, attempt, status, exit_code, error_name, error_message, "
    "outputs, started_at, finished_at, external_id, parent_id, label";

StageRecord read_stage(Row& row) {
  StageRecord s;
  s.id = row.int64();
  s.job_instance_id = row.int64();
  s.index = row.int32();
  s.stage_key = row.text();
  s.name = row.text();
  s.attempt = row.int32();
  s.status = row.status();
  s.exit_code = row.int32();
  s.error_name = row.text();
  s.error_message = row.text();
  s.outputs = row.json();
  s.started_at = row.int64();
  s.finished_at = row.int64();
  s.external_id = row.text();
  s.parent_id = row.int64();
  s.label = row.text();
  return s;
}

LogChunk read_log(Row& row) {
  LogChunk c;
  c.stage_id = row.int64();
  c.stream = row.stream();
  c.at = row.int64();
  c.text = row.text();
  c.seq = row.int64();
  return c;
}

// Binds the fields that insert_run and update_run share with the run_attempts upsert.
void bind_attempt(Query& q, const RunRecord& r) {
  q.text(":run_id", r.id)
      .integer(":attempt", r.attempt)
      .status(":status", r.status)
      .integer(":exit_code", r.exit_code)
      .text(":error_name", r.error_name)
      .text(":error_message", r.error_message)
      .integer(":started_at", r.started_at)
      .integer(":finished_at", r.finished_at)
      .integer(":pid", r.pid)
      .integer(":pid_start", r.pid_start)
      .text(":host", r.host);
}

void bind_job(Query& q, const JobInstanceRecord& j) {
  q.text_ref(":job", j.job)
      .integer(":leg", j.leg)
      .json(":matrix", j.matrix)
      .text_ref(":display_name", j.display_name)
      .status(":status", j.status)
      .text_ref(":skip_reason", j.skip_reason)
      .text_ref(":error_name", j.error_name)
      .text_ref(":error_message", j.error_message)
      .json(":outputs", j.outputs)
      .integer(":job_attempt", j.job_attempt)
      .integer(":started_at", j.started_at)
      .integer(":finished_at", j.finished_at);
}

void bind_stage(Query& q, const StageRecord& s) {
  q.integer(":stage_index", s.index)
      .text_ref(":stage_key", s.stage_key)
      .text_ref(":name", s.name)
      .integer(":attempt", s.attempt)
      .status(":status", s.status)
      .integer(":exit_code", s.exit_code)
      .text_ref(":error_name", s.error_name)
      .text_ref(":error_message", s.error_message)
      .json(":outputs", s.outputs)
      .integer(":started_at", s.started_at)
      .integer(":finished_at", s.finished_at)
      .text_ref(":external_id", s.external_id)
      .integer(":parent_id", s.parent_id)
      .text_ref(":label", s.label);
}

// mkdir -p; directories we create are private to the user (0700).
Result<void> make_dirs(const std::string& dir) {
  auto failed = [&](int err) {
    return Error("cannot create state directory " + dir + ": " +
                 std::generic_category().message(err));
  };
  struct stat st {};
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string part = dir.substr(0, pos);
    if (::stat(part.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return failed(ENOTDIR);
      continue;
    }
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return failed(errno);
  }
  if (::stat(dir.c_str(), &st) != 0) return failed(errno);
  if (!S_ISDIR(st.st_mode)) return failed(ENOTDIR);
  return ok();
}

}  // namespace


Result<StmtHandle> RunStore::Impl::prepare(const char* sql, bool cached) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db.get(), sql, -1, cached ? SQLITE_PREPARE_PERSISTENT : 0, &raw,
                              nullptr);
  StmtHandle stmt(raw);
  if (rc != SQLITE_OK) return failure("prepare a statement");
  return stmt;
}

Result<void> RunStore::Impl::exec(const std::string& sql) {
  if (sqlite3_exec(db.get(), sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return open_error(sqlite3_errmsg(db.get()));
  }
  return ok();
}

Result<void> RunStore::Impl::connect(int target_version) {
  // Create the file ourselves when missing, so it is private (0600) whatever the umask.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) ::close(fd);

  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  db.reset(raw);
  if (rc != SQLITE_OK) return open_error(raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
  sqlite3_busy_timeout(db.get(), static_cast<int>(busy_timeout().count()));
  if (sqlite3_db_readonly(db.get(), "main") == 1) {
    return open_error(sqlite3_errstr(SQLITE_READONLY));
  }
  // Identify the file before changing anything in it, journal mode included.
  auto version = identify();
  if (!version) return version.error();
  if (auto r = use_wal(); !r) return r;
  if (auto r = exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"); !r) return r;
  if (*version < target_version) {
    if (auto r = migrate(target_version); !r) return r;
  }
  return prepare_statements(std::max<std::int64_t>(*version, target_version));
}

// Prepares the statements of every hot write once for the life of the connection.
// `schema`: the file's version; older files (opened by tests at an old version) lack the
// newer stage columns.
Result<void> RunStore::Impl::prepare_statements(std::int64_t schema) {
  const std::string attempt_columns = std::string(kAttemptKey) + ", " + kAttemptFields;
  const std::string job_columns = std::string("run_id, run_attempt, ") + kJobFields;
  std::string stage_fields = kStageFields;
  if (schema < 3) stage_fields = stage_fields.substr(0, stage_fields.find(", parent_id"));
  this->schema = schema;
  const std::string stage_columns = std::string("job_instance_id, ") + stage_fields;
  struct Cached {
    StmtHandle* slot;
    std::string sql;
  };
  const Cached cached[] = {
      {&begin, "BEGIN IMMEDIATE"},
      {&commit, "COMMIT"},
      {&rollback, "ROLLBACK"},
      {&insert_run, insert_sql("runs", kRunColumns)},
      {&update_run, "UPDATE runs SET " + assignments(kRunUpdated) + " WHERE id = :id"},
      {&upsert_attempt, insert_sql("run_attempts", attempt_columns) + " ON CONFLICT (" +
                            kAttemptKey + ") DO UPDATE SET " +
                            assignments(kAttemptFields, "excluded.")},
      {&update_snapshot, "UPDATE runs SET " + assignments(kRunSnapshot) + " WHERE id = :id"},
      {&delete_run, "DELETE FROM runs WHERE id = :id"},
      {&insert_job, insert_sql("job_instances", job_columns)},
      {&update_job, "UPDATE job_instances SET " + assignments(kJobFields) + " WHERE id = :id"},
      {&insert_stage, insert_sql("stages", stage_columns)},
      {&update_stage, "UPDATE stages SET " + assignments(stage_fields.c_str()) + " WHERE id = :id"},
      {&append_log, insert_sql("logs", "stage_id, stream, at, text")},
  };
  for (const Cached& c : cached) {
    auto stmt = prepare(c.sql.c_str(), true);
    if (!stmt) return open_error(sqlite3_errmsg(db.get()));
    *c.slot = std::move(*stmt);
  }
  return ok();
}

// Switches a new file to WAL (a no-op once it is). The switch takes an exclusive lock, and
// when several wf processes open a new file at once SQLite may report SQLITE_BUSY at once
// instead of calling the busy handler (lock upgrade deadlock), so retry up to the timeout.
Result<void> RunStore::Impl::use_wal() {
  auto stmt = prepare("PRAGMA journal_mode = WAL", false);
  if (!stmt) return open_error(sqlite3_errmsg(db.get()));
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout();
  for (;;) {
    Query q(stmt->get());
    int rc = q.step();
    if (rc == SQLITE_ROW) {
      std::string mode = Row(stmt->get()).text();
      if (mode == "wal") return ok();
      return open_error("cannot use WAL journal (journal mode is " + mode + ")");
    }
    if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) {
      return open_error(sqlite3_errmsg(db.get()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// The schema version of the file, refusing files that are not ours or newer than us.
Result<std::int64_t> RunStore::Impl::identify() {
  // One statement, so the three values come from one snapshot even while another wf is
  // migrating the file.
  auto stmt = prepare(
      "SELECT (SELECT user_version FROM pragma_user_version), "
      "(SELECT application_id FROM pragma_application_id), (SELECT count(*) FROM sqlite_schema)",
      false);
  if (!stmt) return open_error(sqlite3_errmsg(db.get()));  // e.g. "file is not a database"
  Query q(stmt->get());
  if (q.step() != SQLITE_ROW) return open_error(sqlite3_errmsg(db.get()));
  Row row(stmt->get());
  std::int64_t version = row.int64();
  std::int64_t app = row.int64();
  std::int64_t tables = row.int64();
  bool fresh = app == 0 && version == 0 && tables == 0;
  if (app != kApplicationId && !fresh) {
    return Error("state file " + path +
                 " is an SQLite database that wf did not create; refusing to change it");
  }
  if (version > kSchemaVersion) {
    return Error("state file " + path + " has schema version " + std::to_string(version) +
                 "; this wf understands up to " + std::to_string(kSchemaVersion) +
                 "; upgrade wf");
  }
  return version;
}

// Applies the missing steps in one BEGIN IMMEDIATE transaction, identifying the file again
// once the write lock is held, since another wf may have migrated it meanwhile.
Result<void> RunStore::Impl::migrate(int target_version) {
  if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
  auto fail = [&](Error e) -> Result<void> {
    if (sqlite3_get_autocommit(db.get()) == 0) {
      sqlite3_exec(db.get(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return e;
  };
  auto version = identify();
  if (!version) return fail(version.error());
  for (const Migration& m : kMigrations) {
    if (m.version <= *version || m.version > target_version) continue;
    if (sqlite3_exec(db.get(), m.sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return fail(Error("cannot migrate state file " + path + " to schema version " +
                        std::to_string(m.version) + ": " + sqlite3_errmsg(db.get())));
    }
  }
  std::int64_t reached = std::max<std::int64_t>(*version, target_version);
  std::string finish = "PRAGMA user_version = " + std::to_string(reached) + "; COMMIT";
  if (auto r = exec(finish); !r) return fail(r.error());
  return ok();
}

RunStore::RunStore() : impl_(std::make_unique<Impl>()) {}
RunStore::~RunStore() = default;

Result<std::unique_ptr<RunStore>> RunStore::open(const std::string& state_dir) {
  return open_at_version(state_dir, kSchemaVersion);
}

Result<std::unique_ptr<RunStore>> RunStore::open_at_version(const std::string& state_dir,
                                                            int version) {
  if (version < 1 || version > kSchemaVersion) {
    return Error("cannot open state directory " + state_dir + ": no schema version " +
                 std::to_string(version));
  }
  if (state_dir.empty()) return Error("cannot open state directory: the path is empty");
  if (auto r = make_dirs(state_dir); !r) return r.error();
  std::unique_ptr<RunStore> store(new RunStore());
  store->impl_->path = state_dir + (state_dir.back() == '/' ? "" : "/") + "wf.db";
  if (auto r = store->impl_->connect(version); !r) return r.error();
  return store;
}

const std::string& RunStore::path() const { return impl_->path; }

int RunStore::schema_version() { return kSchemaVersion; }

RunStore::Transaction::Transaction(RunStore& s) : store_(&s), outer_(!s.impl_->in_tx) {
  if (!outer_) return;
  Impl& d = *store_->impl_;
  d.in_tx = true;
  d.tx_pending = true;  // BEGIN runs before the first write (Impl::blocked)
}

RunStore::Transaction::~Transaction() {
  if (!outer_ || done_) return;
  Impl& d = *store_->impl_;
  if (!d.tx_pending && sqlite3_get_autocommit(d.db.get()) == 0) {
    Query q(d.rollback.get());
    q.step();
  }
  d.in_tx = false;
  d.tx_pending = false;
  d.tx_error.reset();
}

Result<void> RunStore::Transaction::commit() {
  Impl& d = *store_->impl_;
  if (!outer_) return d.tx_error ? Result<void>(*d.tx_error) : ok();
  if (done_) return ok();
  done_ = true;
  d.in_tx = false;
  if (std::exchange(d.tx_pending, false)) return ok();  // nothing was written
  if (d.tx_error) {
    Error e = *d.tx_error;
    d.tx_error.reset();
    return e;
  }
  // SQLite rolls back by itself after some errors (disk full, I/O); say so.
  if (sqlite3_get_autocommit(d.db.get()) != 0) {
    return Error("cannot commit in state file " + d.path +
                 ": the transaction was rolled back after an earlier error");
  }
  Query q(d.commit.get());
  if (q.step() != SQLITE_DONE) {
    Error e = d.failure("commit");
    if (sqlite3_get_autocommit(d.db.get()) == 0) {
      Query undo(d.rollback.get());
      undo.step();
    }
    return e;
  }
  return ok();
}

Result<void> RunStore::checkpoint() {
  Impl& d = *impl_;
  if (!d.in_tx || d.tx_pending || d.tx_error || sqlite3_get_autocommit(d.db.get()) != 0) return ok();
  Query q(d.commit.get());
  if (q.step() != SQLITE_DONE) return d.failure("commit");
  d.tx_pending = true;  // the rest of the transaction begins again at its next write
  return ok();
}

Result<void> RunStore::insert_run(const RunRecord& r) {
  Impl& d = *impl_;
  Transaction tx(*this);
  if (auto e = d.blocked()) return *e;
  {
    Query q(d.insert_run.get());
    q.text(":id", r.id)
        .text(":workflow", r.workflow)
        .text(":run_name", r.run_name)
        .text(":parent_run_id", r.parent_run_id)
        .text(":file_path", r.file_path)
        .text(":spec_text", r.spec_text)
        .text(":spec_hash", r.spec_hash)
        .json(":params", r.params)
        .status(":status", r.status)
        .text(":error_name", r.error_name)
        .text(":error_message", r.error_message)
        .integer(":attempt", r.attempt)
        .integer(":exit_code", r.exit_code)
        .integer(":created_at", r.created_at)
        .integer(":started_at", r.started_at)
        .integer(":finished_at", r.finished_at)
        .integer(":pid", r.pid)
        .integer(":pid_start", r.pid_start)
        .text(":host", r.host)
        .text(":user", r.user)
        .text(":command_line", r.command_line);
    if (auto w = d.write(q, "insert run " + r.id); !w) return w;
  }
  Query a(d.upsert_attempt.get());
  bind_attempt(a, r);
  if (auto w = d.write(a, "insert attempt of run " + r.id); !w) return w;
  return tx.commit();
}

Result<void> RunStore::update_run(const RunRecord& r) {
  Impl& d = *impl_;
  Transaction tx(*this);
  if (auto e = d.blocked()) return *e;
  {
    Query q(d.update_run.get());
    q.text(":id", r.id)
        .status(":status", r.status)
        .text(":error_name", r.error_name)
        .text(":error_message", r.error_message)
        .integer(":attempt", r.attempt)
        .integer(":exit_code", r.exit_code)
        .integer(":started_at", r.started_at)
        .integer(":finished_at", r.finished_at)
        .integer(":pid", r.pid)
        .integer(":pid_start", r.pid_start)
        .text(":host", r.host)
        .text(":user", r.user)
        .text(":command_line", r.command_line);
    if (auto w = d.write(q, "update run " + r.id, true); !w) return w;
  }
  Query a(d.upsert_attempt.get());
  bind_attempt(a, r);
  if (auto w = d.write(a, "update attempt of run " + r.id); !w) return w;
  return tx.commit();
}

Result<void> RunStore::update_run_snapshot(const RunRecord& r) {
  Impl& d = *impl_;
  if (auto e = d.blocked()) return *e;
  Query q(d.update_snapshot.get());
  q.text(":id", r.id)
      .text(":file_path", r.file_path)
      .text(":spec_text", r.spec_text)
      .text(":spec_hash", r.spec_hash)
      .json(":params", r.params);
  return d.write(q, "update snapshot of run " + r.id, true);
}

Result<void> RunStore::set_run_temp_dir(const std::string& run_id, const std::string& dir) {
  Impl& d = *impl_;
  if (d.schema < 4) return ok();
  auto stmt = d.prepare("UPDATE runs SET temp_dir = :dir WHERE id = :id", false);
  if (!stmt) return stmt.error();
  Transaction tx(*this);
  if (auto e = d.blocked()) return *e;
  Query q(stmt->get());
  q.text(":id", run_id).text(":dir", dir);
  if (auto w = d.write(q, "record the stage directory of run " + run_id, true); !w) return w;
  return tx.commit();
}

Result<std::string> RunStore::run_temp_dir(const std::string& run_id) {
  Impl& d = *impl_;
  if (d.schema < 4) return std::string();
  auto stmt = d.prepare("SELECT temp_dir FROM runs WHERE id = :id", false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.text(":id", run_id);
  auto dirs = d.select<std::string>(q, "read the stage directory of run " + run_id, [](Row& row) { return row.text(); });
  if (!dirs) return dirs.error();
  return dirs->empty() ? std::string() : std::move(dirs->front());
}

Result<void> RunStore::close_open_records(const std::string& run_id, int attempt, const std::string& error_name,
                                          const std::string& error_message, TimeMs finished_at) {
  Impl& d = *impl_;
  auto stages = d.prepare(
      "UPDATE stages SET status = 'CANCEL', error_name = :name, error_message = :message, finished_at = :at "
      "WHERE status = 'WAIT' AND job_instance_id IN "
      "(SELECT id FROM job_instances WHERE run_id = :run AND run_attempt = :attempt)",
      false);
  if (!stages) return stages.error();
  auto jobs = d.prepare(
      "UPDATE job_instances SET status = 'CANCEL', error_name = :name, error_message = :message, finished_at = :at "
      "WHERE status = 'WAIT' AND run_id = :run AND run_attempt = :attempt",
      false);
  if (!jobs) return jobs.error();
  Transaction tx(*this);
  if (auto e = d.blocked()) return *e;
  for (auto* stmt : {stages->get(), jobs->get()}) {
    Query q(stmt);
    q.text(":name", error_name).text(":message", error_message).integer(":at", finished_at).text(":run", run_id).integer(":attempt", attempt);
    if (auto w = d.write(q, "close the open records of run " + run_id); !w) return w;
  }
  return tx.commit();
}

Result<std::optional<RunRecord>> RunStore::lock_run(const std::string& id) {
  Impl& d = *impl_;
  if (!d.in_tx) return Error("lock_run needs an open transaction");
  if (auto e = d.blocked()) return *e;
  auto stmt = d.prepare((std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = :id").c_str(), false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.text(":id", id);
  auto runs = d.select<RunRecord>(q, "read run " + id, read_run);
  if (!runs) return runs.error();
  if (runs->empty()) return std::optional<RunRecord>();
  return std::optional<RunRecord>(std::move(runs->front()));
}

Result<bool> RunStore::delete_run(const std::string& id) {
  Impl& d = *impl_;
  if (auto e = d.blocked()) return *e;
  Query q(d.delete_run.get());
  q.text(":id", id);
  if (auto w = d.write(q, "delete run " + id); !w) return w.error();
  return sqlite3_changes(d.db.get()) > 0;
}

Result<std::int64_t> RunStore::insert_job_instance(const JobInstanceRecord& j) {
  Impl& d = *impl_;
  if (auto e = d.blocked()) return *e;
  Query q(d.insert_job.get(), d.insert_job_binds);
  q.text_ref(":run_id", j.run_id).integer(":run_attempt", j.run_attempt);
  bind_job(q, j);
  if (auto w = d.write(q, [&] { return "insert job instance of run " + j.run_id; }); !w) return w.error();
  return sqlite3_last_insert_rowid(d.db.get());
}

Result<void> RunStore::update_job_instance(const JobInstanceRecord& j) {
  Impl& d = *impl_;
  if (auto e = d.blocked()) return *e;
  Query q(d.update_job.get(), d.update_job_binds);
  q.integer(":id", j.id);
  bind_job(q, j);
  return d.write(q, [&] { return "update job instance " + std::to_string(j.id); }, true);
}

Result<std::int64_t> RunStore::insert_stage(const StageRecord& s) {
  Impl& d = *impl_;
  if (auto e = d.blocked()) return *e;
  Query q(d.insert_stage.get(), d.insert_stage_binds);
  q.integer(":job_instance_id", s.job_instance_id);
  bind_stage(q, s);
  if (auto w = d.write(q, [&] { return "insert stage of job instance " + std::to_string(s.job_instance_id); });
      !w) {
    return w.error();
  }
  return sqlite3_last_insert_rowid(d.db.get());
}

Result<void> RunStore::update_stage(const StageRecord& s) {
  Impl& d = *impl_;
  if (auto e = d.blocked()) return *e;
  Query q(d.update_stage.get(), d.update_stage_binds);
  q.integer(":id", s.id);
  bind_stage(q, s);
  return d.write(q, [&] { return "update stage " + std::to_string(s.id); }, true);
}

Result<void> RunStore::append_log(const LogChunk& c) {
  Impl& d = *impl_;
  if (auto e = d.blocked()) return *e;
  Query q(d.append_log.get(), d.append_log_binds);
  q.integer(":stage_id", c.stage_id)
      .integer(":stream", static_cast<int>(c.stream))
      .integer(":at", c.at)
      .text_ref(":text", c.text);
  return d.write(q, [&] { return "append log of stage " + std::to_string(c.stage_id); });
}

Result<RunRecord> RunStore::find_run(const std::string& id_or_prefix) {
  Impl& d = *impl_;
  const std::string what = "find run '" + id_or_prefix + "'";
  if (id_or_prefix.empty()) return Error("no run matches ''");
  auto by_id = d.prepare(
      (std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = :id").c_str(), false);
  if (!by_id) return by_id.error();
  {
    Query q(by_id->get());
    q.text(":id", id_or_prefix);
    auto runs = d.select<RunRecord>(q, what, read_run);
    if (!runs) return runs.error();
    if (!runs->empty()) return std::move(runs->front());
  }
  // Ids sort bytewise, so the ids with this prefix are a contiguous range of the index.
  auto by_prefix = d.prepare("SELECT id FROM runs WHERE id >= :prefix ORDER BY id", false);
  if (!by_prefix) return by_prefix.error();
  std::vector<std::string> ids;
  {
    Query q(by_prefix->get());
    q.text(":prefix", id_or_prefix);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      std::string id = Row(q.get()).text();
      if (id.compare(0, id_or_prefix.size(), id_or_prefix) != 0) break;
      ids.push_back(std::move(id));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return d.failure(what);
  }
  if (ids.empty()) return Error("no run matches '" + id_or_prefix + "'");
  if (ids.size() > 1) {
    std::string msg = "run id '" + id_or_prefix + "' is ambiguous: ";
    constexpr std::size_t kShown = 5;
    for (std::size_t i = 0; i < ids.size() && i < kShown; ++i) {
      msg += (i > 0 ? ", " : "") + ids[i];
    }
    if (ids.size() > kShown) msg += " and " + std::to_string(ids.size() - kShown) + " more";
    return Error(msg);
  }
  Query q(by_id->get());
  q.text(":id", ids.front());
  auto runs = d.select<RunRecord>(q, what, read_run);
  if (!runs) return runs.error();
  if (runs->empty()) return Error("no run matches '" + id_or_prefix + "'");  // deleted meanwhile
  return std::move(runs->front());
}

Result<std::vector<RunRecord>> RunStore::list_runs(const RunFilter& f) {
  Impl& d = *impl_;
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE 1";
  if (f.workflow) sql += " AND workflow = :workflow";
  if (f.status) sql += " AND status = :status";
  if (f.since) sql += " AND created_at >= :since";
  sql += " ORDER BY created_at DESC, id DESC";
  if (f.limit > 0) sql += " LIMIT :limit";
  auto stmt = d.prepare(sql.c_str(), false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  if (f.workflow) q.text(":workflow", *f.workflow);
  if (f.status) q.status(":status", *f.status);
  if (f.since) q.integer(":since", *f.since);
  if (f.limit > 0) q.integer(":limit", f.limit);
  return d.select<RunRecord>(q, "list runs", read_run);
}

Result<std::vector<RunAttemptRecord>> RunStore::run_attempts(const std::string& run_id) {
  Impl& d = *impl_;
  auto stmt = d.prepare((std::string("SELECT ") + kAttemptKey + ", " + kAttemptFields +
                         " FROM run_attempts WHERE run_id = :run_id ORDER BY attempt")
                            .c_str(),
                        false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.text(":run_id", run_id);
  return d.select<RunAttemptRecord>(q, "read attempts of run " + run_id, read_attempt);
}

Result<std::vector<JobInstanceRecord>> RunStore::job_instances(const std::string& run_id,
                                                                int attempt) {
  Impl& d = *impl_;
  std::string sql = std::string("SELECT id, run_id, run_attempt, ") + kJobFields +
                    " FROM job_instances WHERE run_id = :run_id" +
                    (attempt > 0 ? " AND run_attempt = :attempt" : "") + " ORDER BY id";
  auto stmt = d.prepare(sql.c_str(), false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.text(":run_id", run_id);
  if (attempt > 0) q.integer(":attempt", attempt);
  return d.select<JobInstanceRecord>(q, "read job instances of run " + run_id, read_job);
}

Result<std::vector<StageRecord>> RunStore::stages(std::int64_t job_instance_id) {
  Impl& d = *impl_;
  auto stmt = d.prepare((std::string("SELECT id, job_instance_id, ") + kStageFields +
                         " FROM stages WHERE job_instance_id = :id ORDER BY id")
                            .c_str(),
                        false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.integer(":id", job_instance_id);
  return d.select<StageRecord>(
      q, "read stages of job instance " + std::to_string(job_instance_id), read_stage);
}

Result<std::vector<LogChunk>> RunStore::logs(std::int64_t stage_id) {
  Impl& d = *impl_;
  auto stmt = d.prepare(
      "SELECT stage_id, stream, at, text, seq FROM logs WHERE stage_id = :id ORDER BY seq", false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.integer(":id", stage_id);
  return d.select<LogChunk>(q, "read logs of stage " + std::to_string(stage_id), read_log);
}

Result<std::vector<LogChunk>> RunStore::run_logs_after(const std::string& run_id, int attempt, std::int64_t after_seq) {
  Impl& d = *impl_;
  auto stmt = d.prepare(
      "SELECT l.stage_id, l.stream, l.at, l.text, l.seq FROM logs l"
      " JOIN stages s ON s.id = l.stage_id JOIN job_instances j ON j.id = s.job_instance_id"
      " WHERE j.run_id = :run AND j.run_attempt = :attempt AND l.seq > :after ORDER BY l.seq",
      false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.text(":run", run_id).integer(":attempt", attempt).integer(":after", after_seq);
  return d.select<LogChunk>(q, "read logs of run " + run_id, read_log);
}

}  // namespace wf
