// RunStore, schema version 2 (FORMAT §10): release claims (the dedupe of `normal`
// releases, safe between processes), audit records and the last minute of each tick.
#include <chrono>
#include <fstream>
#include <sstream>

#include "run_store_impl.hpp"
#include "wf/proc.hpp"

namespace wf {

namespace {

using store_detail::assignments;
using store_detail::insert_sql;
using store_detail::Query;
using store_detail::Row;

// Every column of audit but id, in the order read_audit and bind_audit use them.
constexpr const char* kAuditFields =
    "workflow, release_at, type, run_id, parent_run_id, params, status, started_at, "
    "finished_at, host, user, wf_version, command_line, note";

AuditRecord read_audit(Row& row) {
  AuditRecord a;
  a.id = row.int64();
  a.workflow = row.text();
  a.release_at = row.int64();
  a.type = row.text();
  a.run_id = row.text();
  a.parent_run_id = row.text();
  a.params = row.json();
  a.status = row.status();
  a.started_at = row.int64();
  a.finished_at = row.int64();
  a.host = row.text();
  a.user = row.text();
  a.wf_version = row.text();
  a.command_line = row.text();
  a.note = row.text();
  return a;
}

void bind_audit(Query& q, const AuditRecord& a) {
  q.text(":workflow", a.workflow)
      .integer(":release_at", a.release_at)
      .text(":type", a.type)
      .text(":run_id", a.run_id)
      .text(":parent_run_id", a.parent_run_id)
      .json(":params", a.params)
      .status(":status", a.status)
      .integer(":started_at", a.started_at)
      .integer(":finished_at", a.finished_at)
      .text(":host", a.host)
      .text(":user", a.user)
      .text(":wf_version", a.wf_version)
      .text(":command_line", a.command_line)
      .text(":note", a.note);
}

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether the process that claimed a release still runs: /proc/PID/stat exists, is not a
// zombie, and its start time (field 22, clock ticks since boot) is `start` (0: not
// recorded, any process with that pid counts). The start time tells a reused pid apart.
bool owner_alive(std::int64_t pid, std::int64_t start) {
  if (pid <= 0) return false;
  std::int64_t started = process_start_ticks(static_cast<int>(pid));
  return started != 0 && (start == 0 || started == start);
}

bool finished_badly(Status s) { return s == Status::Failed || s == Status::Cancel; }

}  // namespace

Result<void> RunStore::Impl::prepare_release_statements() {
  if (release_ready) return ok();
  const std::string key = " WHERE workflow = :workflow AND release_at = :release_at";
  struct Cached {
    StmtHandle* slot;
    std::string sql;
  };
  const Cached cached[] = {
      {&release_get, "SELECT status, run_id, owner_pid, owner_start FROM releases" + key},
      {&release_insert,
       insert_sql("releases",
                  "workflow, release_at, run_id, status, owner_pid, owner_start, claimed_at")},
      {&release_take,
       "UPDATE releases SET status = 'WAIT', run_id = '', " +
           assignments("owner_pid, owner_start, claimed_at") + key},
      {&release_set_run, "UPDATE releases SET run_id = :run_id" + key},
      {&release_finish, "UPDATE releases SET status = :status" + key},
      {&run_status, "SELECT status FROM runs WHERE id = :id"},
      {&audit_insert, insert_sql("audit", kAuditFields)},
      {&audit_update, "UPDATE audit SET " + assignments(kAuditFields) + " WHERE id = :id"},
      {&tick_get, "SELECT last_minute FROM ticks WHERE workflow = :workflow"},
      {&tick_set,
       "INSERT INTO ticks (workflow, last_minute) VALUES (:workflow, :minute) "
       "ON CONFLICT (workflow) DO UPDATE SET last_minute = excluded.last_minute"},
  };
  for (const Cached& c : cached) {
    auto stmt = prepare(c.sql.c_str(), true);
    if (!stmt) return stmt.error();  // e.g. a file opened below schema version 2
    *c.slot = std::move(*stmt);
  }
  release_ready = true;
  return ok();
}

Result<ReleaseClaim> RunStore::claim_release(const std::string& workflow, TimeMs minute,
                                             bool force, int owner_pid,
                                             std::int64_t owner_start) {
  Impl& d = *impl_;
  if (auto r = d.prepare_release_statements(); !r) return r.error();
  const std::string what = "claim release " + workflow + " at " + std::to_string(minute);
  // BEGIN IMMEDIATE takes the write lock before reading, so the read and the write below
  // cannot interleave with another claimer's (in an open Transaction: that one's lock).
  Transaction tx(*this);
  if (auto e = d.blocked()) return *e;

  bool exists = false;
  Status status = Status::Wait;
  std::string run_id;
  std::int64_t pid = 0, start = 0;
  {
    Query q(d.release_get.get());
    q.text(":workflow", workflow).integer(":release_at", minute);
    int rc = q.step();
    if (rc == SQLITE_ROW) {
      Row row(q.get());
      status = row.status();
      run_id = row.text();
      pid = row.int64();
      start = row.int64();
      if (!row.problem().empty()) {
        return Error("cannot " + what + " in state file " + d.path + ": " + row.problem());
      }
      exists = true;
    } else if (rc != SQLITE_DONE) {
      return d.failure(what);
    }
  }

  bool take = !exists || force || finished_badly(status);
  if (!take && status == Status::Wait) {
    std::optional<Status> run;
    if (!run_id.empty()) {
      Query q(d.run_status.get());
      q.text(":id", run_id);
      int rc = q.step();
      if (rc == SQLITE_ROW) {
        Row row(q.get());
        run = row.status();
        if (!row.problem().empty()) {
          return Error("cannot " + what + " in state file " + d.path + ": " + row.problem());
        }
      } else if (rc != SQLITE_DONE) {
        return d.failure(what);
      }
    }
    if (run && finished_badly(*run)) {
      take = true;  // the run ended badly but its claimer did not record it
    } else if (run && (*run == Status::Success || *run == Status::Skip)) {
      status = *run;  // the run finished; only finish_release is missing: not run again
    } else {
      take = !owner_alive(pid, start);  // the claimer crashed
    }
  }
  if (!take) {
    if (auto r = tx.commit(); !r) return r.error();
    return ReleaseClaim{false, run_id, status};
  }

  Query q(exists ? d.release_take.get() : d.release_insert.get());
  q.text(":workflow", workflow)
      .integer(":release_at", minute)
      .integer(":owner_pid", owner_pid)
      .integer(":owner_start", owner_start)
      .integer(":claimed_at", now_ms());
  if (!exists) q.text(":run_id", "").status(":status", Status::Wait);
  if (auto w = d.write(q, what, true); !w) return w.error();
  if (auto r = tx.commit(); !r) return r.error();
  return ReleaseClaim{true, "", Status::Wait};
}

Result<std::optional<ReleaseClaim>> RunStore::find_release(const std::string& workflow, TimeMs minute) {
  Impl& d = *impl_;
  auto stmt = d.prepare("SELECT run_id, status FROM releases WHERE workflow = :workflow AND release_at = :release_at",
                        false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  q.text(":workflow", workflow).integer(":release_at", minute);
  auto rows = d.select<ReleaseClaim>(q, "read release " + workflow, [](Row& row) {
    ReleaseClaim c;
    c.run_id = row.text();
    c.status = row.status();
    return c;
  });
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<ReleaseClaim>();
  return std::optional<ReleaseClaim>(rows->front());
}

Result<void> RunStore::set_release_run(const std::string& workflow, TimeMs minute,
                                       const std::string& run_id) {
  Impl& d = *impl_;
  if (auto r = d.prepare_release_statements(); !r) return r;
  if (auto e = d.blocked()) return *e;
  Query q(d.release_set_run.get());
  q.text(":workflow", workflow).integer(":release_at", minute).text(":run_id", run_id);
  return d.write(q, "set the run of release " + workflow + " at " + std::to_string(minute),
                 true);
}

Result<void> RunStore::finish_release(const std::string& workflow, TimeMs minute,
                                      Status status) {
  Impl& d = *impl_;
  if (auto r = d.prepare_release_statements(); !r) return r;
  if (auto e = d.blocked()) return *e;
  Query q(d.release_finish.get());
  q.text(":workflow", workflow).integer(":release_at", minute).status(":status", status);
  return d.write(q, "finish release " + workflow + " at " + std::to_string(minute), true);
}

Result<std::int64_t> RunStore::insert_audit(const AuditRecord& a) {
  Impl& d = *impl_;
  if (auto r = d.prepare_release_statements(); !r) return r.error();
  if (auto e = d.blocked()) return *e;
  Query q(d.audit_insert.get());
  bind_audit(q, a);
  if (auto w = d.write(q, "insert audit record of " + a.workflow); !w) return w.error();
  return sqlite3_last_insert_rowid(d.db.get());
}

Result<void> RunStore::update_audit(const AuditRecord& a) {
  Impl& d = *impl_;
  if (auto r = d.prepare_release_statements(); !r) return r;
  if (auto e = d.blocked()) return *e;
  Query q(d.audit_update.get());
  q.integer(":id", a.id);
  bind_audit(q, a);
  return d.write(q, "update audit record " + std::to_string(a.id), true);
}

Result<std::vector<AuditRecord>> RunStore::list_audit(const AuditFilter& f) {
  Impl& d = *impl_;
  std::string sql = std::string("SELECT id, ") + kAuditFields + " FROM audit WHERE 1";
  if (f.workflow) sql += " AND workflow = :workflow";
  if (f.release_at) sql += " AND release_at = :release_at";
  sql += " ORDER BY release_at DESC, id DESC";
  if (f.limit > 0) sql += " LIMIT :limit";
  auto stmt = d.prepare(sql.c_str(), false);
  if (!stmt) return stmt.error();
  Query q(stmt->get());
  if (f.workflow) q.text(":workflow", *f.workflow);
  if (f.release_at) q.integer(":release_at", *f.release_at);
  if (f.limit > 0) q.integer(":limit", f.limit);
  return d.select<AuditRecord>(q, "list audit records", read_audit);
}

Result<std::optional<TimeMs>> RunStore::last_tick(const std::string& workflow) {
  Impl& d = *impl_;
  if (auto r = d.prepare_release_statements(); !r) return r.error();
  Query q(d.tick_get.get());
  q.text(":workflow", workflow);
  auto rows = d.select<TimeMs>(q, "read the last tick of " + workflow,
                               [](Row& row) { return row.int64(); });
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<TimeMs>();
  return std::optional<TimeMs>(rows->front());
}

Result<void> RunStore::set_last_tick(const std::string& workflow, TimeMs minute) {
  Impl& d = *impl_;
  if (auto r = d.prepare_release_statements(); !r) return r;
  if (auto e = d.blocked()) return *e;
  Query q(d.tick_set.get());
  q.text(":workflow", workflow).integer(":minute", minute);
  return d.write(q, "set the last tick of " + workflow);
}

}  // namespace wf
