// Private to the run store (src/run_store.cpp and src/run_store_release.cpp): the SQLite
// handles, the statement helpers and RunStore::Impl. Both files are the run store, so this
// header may include sqlite3.h; nothing else may include it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <algorithm>
#include <vector>

#include "wf/run_store.hpp"

namespace wf {
namespace store_detail {

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct FinalizeStmt {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbHandle = std::unique_ptr<sqlite3, CloseDb>;
using StmtHandle = std::unique_ptr<sqlite3_stmt, FinalizeStmt>;

inline std::string dump_json(const Json& j) {
  if (j.is_object() && j.empty()) return "{}";  // most outputs/matrix columns; what dump() gives
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The parameter indices a hot statement was bound with, in bind order: the k-th bind of a
// Query reuses entry k when it names the same parameter (the same string literal), instead
// of looking the name up in the statement again. One per cached statement.
using BindCache = std::vector<std::pair<const char*, int>>;

// One execution of a prepared statement: binds by parameter name, steps, and resets on scope
// exit, so a cached statement never holds a read snapshot or stale bindings.
class Query {
 public:
  explicit Query(sqlite3_stmt* s) : s_(s) {}
  Query(sqlite3_stmt* s, BindCache& cache) : s_(s), cache_(&cache) {}
  ~Query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& text(const char* name, std::string_view v) {
    // A null data pointer would bind NULL; the columns are NOT NULL strings.
    const char* data = v.data() != nullptr ? v.data() : "";
    note(sqlite3_bind_text64(s_, index(name), data, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
    return *this;
  }
  // The same without a copy: `v` must stay unchanged until the Query is destroyed (a field
  // of the record being written, not a temporary).
  Query& text_ref(const char* name, const std::string& v) {
    note(sqlite3_bind_text64(s_, index(name), v.c_str(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
    return *this;
  }
  Query& integer(const char* name, std::int64_t v) {
    note(sqlite3_bind_int64(s_, index(name), v));
    return *this;
  }
  Query& status(const char* name, Status v) { return text(name, to_string(v)); }
  Query& json(const char* name, const Json& v) { return text(name, dump_json(v)); }

  // SQLITE_ROW, SQLITE_DONE or an error code (a failed bind is reported here).
  int step() { return rc_ != SQLITE_OK ? rc_ : sqlite3_step(s_); }
  sqlite3_stmt* get() const { return s_; }

 private:
  int index(const char* name) {
    if (cache_ != nullptr && next_ < cache_->size() && (*cache_)[next_].first == name)
      return (*cache_)[next_++].second;
    int i = sqlite3_bind_parameter_index(s_, name);
    if (i == 0) note(SQLITE_RANGE);
    if (cache_ != nullptr && i != 0) {
      if (next_ < cache_->size()) (*cache_)[next_] = {name, i};
      else cache_->emplace_back(name, i);
      ++next_;
    }
    return i;
  }
  void note(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
  }

  sqlite3_stmt* s_;
  int rc_ = SQLITE_OK;
  BindCache* cache_ = nullptr;
  std::size_t next_ = 0;
};

// Reads the columns of the current row left to right, noting values that do not parse.
class Row {
 public:
  explicit Row(sqlite3_stmt* s) : s_(s) {}

  std::string text() {
    const unsigned char* p = sqlite3_column_text(s_, col_);
    int n = sqlite3_column_bytes(s_, col_++);
    return p != nullptr ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
  }
  std::int64_t int64() { return sqlite3_column_int64(s_, col_++); }
  int int32() { return static_cast<int>(int64()); }
  Status status() {
    std::string t = text();
    std::optional<Status> s = parse_status(t);
    if (!s) bad("status '" + t + "'");
    return s.value_or(Status::Wait);
  }
  Json json() {
    Json j = Json::parse(text(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      bad("JSON");
      return Json::object();
    }
    return j;
  }
  LogStream stream() {
    std::int64_t v = int64();
    if (v < 1 || v > 3) bad("log stream " + std::to_string(v));
    return v == 2 ? LogStream::Stderr : v == 3 ? LogStream::Wf : LogStream::Stdout;
  }
  const std::string& problem() const { return problem_; }

 private:
  void bad(const std::string& what) {
    if (problem_.empty()) problem_ = "unreadable " + what;
  }

  sqlite3_stmt* s_;
  int col_ = 0;
  std::string problem_;
};

// "INSERT INTO table (a, b) VALUES (:a, :b)" for a comma-separated column list.
inline std::string insert_sql(std::string_view table, std::string_view columns) {
  std::string values;
  for (std::size_t start = 0; start < columns.size();) {
    std::size_t end = std::min(columns.find(", ", start), columns.size());
    values += (values.empty() ? ":" : ", :") + std::string(columns.substr(start, end - start));
    start = end + 2;
  }
  return "INSERT INTO " + std::string(table) + " (" + std::string(columns) + ") VALUES (" +
         values + ")";
}

// "a = :a, b = :b" for a comma-separated column list; `source` replaces ":" in upserts.
inline std::string assignments(std::string_view columns, std::string_view source = ":") {
  std::string out;
  for (std::size_t start = 0; start < columns.size();) {
    std::size_t end = std::min(columns.find(", ", start), columns.size());
    std::string column(columns.substr(start, end - start));
    out += (out.empty() ? "" : ", ") + column + " = " + std::string(source) + column;
    start = end + 2;
  }
  return out;
}

}  // namespace store_detail

struct RunStore::Impl {
  using Query = store_detail::Query;
  using Row = store_detail::Row;
  using StmtHandle = store_detail::StmtHandle;

  std::string path;
  store_detail::DbHandle db;  // declared before the statements, so they are finalized first
  StmtHandle begin, commit, rollback;
  StmtHandle insert_run, update_run, upsert_attempt, update_snapshot, delete_run;
  StmtHandle insert_job, update_job, insert_stage, update_stage, append_log;
  // Parameter indices of the per-task writes (Query(stmt, cache)).
  store_detail::BindCache insert_job_binds, update_job_binds, insert_stage_binds, update_stage_binds,
      append_log_binds;
  // Schema version 2, prepared on first use (run_store_release.cpp).
  StmtHandle release_get, release_insert, release_take, release_set_run, release_finish,
      run_status, audit_insert, audit_update, tick_get, tick_set;
  bool release_ready = false;
  std::int64_t schema = 0;  // the file's schema version once connected
  bool in_tx = false;
  // The open transaction has not written yet, so its BEGIN IMMEDIATE (which takes the write
  // lock) has not run: it runs before the first write. A loop pass that spawns a stage
  // before it writes does not wait for the lock before the spawn.
  bool tx_pending = false;
  std::optional<Error> tx_error;  // BEGIN of the open transaction failed

  Error open_error(const std::string& why) const {
    return Error("cannot open state file " + path + ": " + why);
  }
  Error failure(const std::string& what) const {
    return Error("cannot " + what + " in state file " + path + ": " + sqlite3_errmsg(db.get()));
  }

  Result<void> connect(int target_version);
  Result<void> use_wal();
  Result<std::int64_t> identify();
  Result<void> migrate(int target_version);
  Result<void> prepare_statements(std::int64_t schema);
  Result<void> prepare_release_statements();  // once, on the first release/audit/tick call
  Result<StmtHandle> prepare(const char* sql, bool cached);
  Result<void> exec(const std::string& sql);

  // Why writes cannot go on: the transaction failed to begin, or SQLite rolled it back
  // after an error (disk full, I/O); writing on would autocommit pieces of it.
  std::optional<Error> blocked() {
    if (tx_pending) {
      tx_pending = false;
      Query q(begin.get());
      if (q.step() != SQLITE_DONE) tx_error = failure("begin a transaction");
    }
    if (tx_error) return tx_error;
    if (in_tx && sqlite3_get_autocommit(db.get()) != 0) {
      return Error("cannot write to state file " + path +
                   ": the transaction was rolled back after an earlier error");
    }
    return std::nullopt;
  }

  // Steps a write statement to completion; a missing row is an error when `must_change`.
  // `what` names the write in an error: a string, or a function making it (so that the
  // writes done per stage build no message unless one is needed).
  template <class What>
  Result<void> write(Query& q, const What& what, bool must_change = false) {
    if (q.step() != SQLITE_DONE) return failure(describe(what));
    if (must_change && sqlite3_changes(db.get()) == 0) {
      return Error("cannot " + describe(what) + " in state file " + path + ": no such record");
    }
    return ok();
  }
  static const std::string& describe(const std::string& what) { return what; }
  template <class F>
  static std::string describe(const F& make) {
    return make();
  }

  // Runs a query, reading each row with `read`.
  template <class T, class Read>
  Result<std::vector<T>> select(Query& q, const std::string& what, Read read) {
    std::vector<T> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      Row row(q.get());
      out.push_back(read(row));
      if (!row.problem().empty()) {
        return Error("cannot " + what + " in state file " + path + ": " + row.problem());
      }
    }
    if (rc != SQLITE_DONE) return failure(what);
    return out;
  }
};

}  // namespace wf
